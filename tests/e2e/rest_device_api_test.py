"""The device-facing HTTPS API of azhub emulate (docs/protocol.md §6.2) and C2D feedback over REST
(§6.1), with raw HTTPS requests: what a device's telemetry POST stores, the C2D receive's headers
and lock token, complete / reject / abandon and their feedback records, the refusals (401002 for
another device's or no token, 412002 for a lost lock, 413001 for too large) and that a batch is
taken whole or not at all."""

import base64
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Emulator, device_sas_token  # noqa: E402

FEEDBACK = "/messages/serviceBound/feedback"


class DeviceHttpsApiTest(unittest.TestCase):
    def setUp(self):
        self.emu = Emulator(devices=["dev1", "dev2"]).start()
        self.addCleanup(self.emu.stop)

    def token(self, device="dev1"):
        return device_sas_token(self.emu.host_name, device, self.emu.device_key(device))

    def device(self, method, path, raw=None, headers=None, device="dev1", token=None):
        return self.emu.rest(method, path, raw=raw, headers=headers, token=token if token is not None else self.token(device),
                             api_version="2020-09-30")

    def events(self):
        status, _, body = self.emu.rest("GET", "/_emulator/messages/events?device=dev1")
        self.assertEqual(status, 200)
        return body["messages"]

    def feedback_records(self):
        """Takes and completes every feedback batch over REST; returns the records."""
        out = []
        while True:
            status, headers, body = self.emu.rest("GET", FEEDBACK, api_version="2020-09-30")
            if status == 204:
                return out
            self.assertEqual(status, 200)
            self.assertEqual(headers["content-type"], "application/vnd.microsoft.iothub.feedback.json")
            out += body  # the harness parses JSON content types (this one ends in +json's ".json")
            lock = headers["etag"].strip('"')
            self.assertEqual(self.emu.rest("DELETE", FEEDBACK + "/" + lock, api_version="2020-09-30")[0], 204)

    def test_telemetry_with_properties(self):
        status, headers, _ = self.device("POST", "/devices/dev1/messages/events", raw=b'{"t":1}', headers={
            "iothub-messageid": "m1", "iothub-correlationid": "c1", "iothub-contenttype": "application/json",
            "iothub-contentencoding": "utf-8", "iothub-app-room": "a&b=c", "IoTHub-App-Floor": "2"})
        self.assertEqual(status, 204)
        self.assertIn("x-ms-request-id", headers)
        [m] = self.events()
        self.assertEqual(m["body"], '{"t":1}')
        self.assertEqual(m["systemProperties"]["messageId"], "m1")
        self.assertEqual(m["systemProperties"]["correlationId"], "c1")
        self.assertEqual(m["systemProperties"]["contentType"], "application/json")
        self.assertEqual(m["systemProperties"]["contentEncoding"], "utf-8")
        self.assertEqual(m["properties"], {"room": "a&b=c", "Floor": "2"})

    def test_module_telemetry(self):
        key = self.emu.create_device("dev1", "m1")["authentication"]["symmetricKey"]["primaryKey"]
        token = device_sas_token(self.emu.host_name, "dev1", key, module_id="m1")
        status, _, _ = self.device("POST", "/devices/dev1/modules/m1/messages/events", raw=b"from m1",
                                   headers={"iothub-app-k": "v"}, token=token)
        self.assertEqual(status, 204)
        [m] = self.events()
        self.assertEqual((m["body"], m["moduleId"], m["properties"]), ("from m1", "m1", {"k": "v"}))
        # The device's own token does not speak for its module.
        self.assertEqual(self.device("POST", "/devices/dev1/modules/m1/messages/events", raw=b"x")[0], 401)
        # Nor is there a C2D queue for modules.
        self.assertEqual(self.device("GET", "/devices/dev1/modules/m1/messages/deviceBound", token=token)[0], 404)

    def test_a_batch_is_taken_whole_or_not_at_all(self):
        batch = [{"body": base64.b64encode(b"one").decode(), "properties": {"iothub-app-n": "1"}},
                 {"body": base64.b64encode(b"two").decode()}]
        headers = {"Content-Type": "application/vnd.microsoft.iothub.json"}
        self.assertEqual(self.device("POST", "/devices/dev1/messages/events", raw=json.dumps(batch), headers=headers)[0], 204)
        self.assertEqual([(m["body"], m["properties"]) for m in self.events()], [("one", {"n": "1"}), ("two", {})])
        bad = batch + [{"body": "not base64!"}]
        status, headers_out, body = self.device("POST", "/devices/dev1/messages/events", raw=json.dumps(bad), headers=headers)
        self.assertEqual(status, 400)
        self.assertEqual(headers_out["iothub-errorcode"], "ArgumentInvalid")
        self.assertEqual(len(self.events()), 2)

    def test_refusals(self):
        # dev2's token does not speak for dev1; no token; a device that does not exist.
        for path in ("/devices/dev1/messages/events", "/devices/dev1/messages/deviceBound"):
            method = "POST" if path.endswith("events") else "GET"
            status, headers, _ = self.device(method, path, raw=b"x", device="dev2")
            self.assertEqual(status, 401, path)
            self.assertEqual(headers["iothub-errorcode"], "IotHubUnauthorizedAccess")
            self.assertEqual(self.device(method, path, raw=b"x", token="")[0], 401)
        self.assertEqual(self.device("POST", "/devices/nobody/messages/events", raw=b"x", device="dev1")[0], 401)
        # An expired device token (a policy without DeviceConnect is refused too: unit-tested).
        expired = device_sas_token(self.emu.host_name, "dev1", self.emu.device_key("dev1"), expiry=1000)
        status, _, body = self.device("POST", "/devices/dev1/messages/events", raw=b"x", token=expired)
        self.assertEqual(status, 401)
        self.assertIn("expired", json.dumps(body))
        status, headers, _ = self.device("POST", "/devices/dev1/messages/events", raw=b"x" * (257 * 1024))
        self.assertEqual(status, 413)
        self.assertEqual(headers["iothub-errorcode"], "MessageTooLarge")
        self.assertEqual(self.device("PUT", "/devices/dev1/messages/events", raw=b"x")[0], 405)
        self.assertEqual(self.events(), [])

    def test_c2d_receive_complete_reject_abandon(self):
        self.assertEqual(self.device("GET", "/devices/dev1/messages/devicebound")[0], 204)  # empty queue
        for mid in ("k1", "k2", "k3"):
            status, _, _ = self.emu.c2d_send("dev1", "body " + mid, properties={"color": "red"}, message_id=mid, ack="full",
                                             correlation_id="corr-" + mid, content_type="text/plain")
            self.assertEqual(status, 200)
        status, headers, body = self.device("GET", "/devices/dev1/messages/deviceBound")
        self.assertEqual(status, 200)
        self.assertEqual(body, b"body k1")
        self.assertRegex(headers["etag"], r'^"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}"$')
        self.assertEqual(headers["iothub-messageid"], "k1")
        self.assertEqual(headers["iothub-correlationid"], "corr-k1")
        self.assertEqual(headers["iothub-to"], "/devices/dev1/messages/deviceBound")
        self.assertEqual(headers["iothub-app-color"], "red")
        self.assertEqual(headers["content-type"], "text/plain")
        self.assertEqual(headers["iothub-deliverycount"], "0")
        self.assertIn("iothub-enqueuedtime", headers)
        self.assertIn("iothub-expiry", headers)
        lock1 = headers["etag"].strip('"')
        # k1 is locked: the next receive is k2, then k3, then nothing.
        _, h2, _ = self.device("GET", "/devices/dev1/messages/deviceBound")
        _, h3, _ = self.device("GET", "/devices/dev1/messages/deviceBound")
        self.assertEqual((h2["iothub-messageid"], h3["iothub-messageid"]), ("k2", "k3"))
        self.assertEqual(self.device("GET", "/devices/dev1/messages/deviceBound")[0], 204)
        lock2, lock3 = h2["etag"].strip('"'), h3["etag"].strip('"')

        # complete (If-Match as the SDKs send it), reject, abandon
        self.assertEqual(self.device("DELETE", "/devices/dev1/messages/deviceBound/" + lock1,
                                     headers={"If-Match": '"%s"' % lock1})[0], 204)
        self.assertEqual(self.device("DELETE", "/devices/dev1/messages/deviceBound/%s?reject" % lock2)[0], 204)
        self.assertEqual(self.device("POST", "/devices/dev1/messages/deviceBound/%s/abandon" % lock3)[0], 204)
        # Settled locks are lost; another device cannot use a lock.
        status, headers, body = self.device("DELETE", "/devices/dev1/messages/deviceBound/" + lock1)
        self.assertEqual(status, 412)
        self.assertEqual(headers["iothub-errorcode"], "DeviceMessageLockLost")
        self.assertEqual(self.device("DELETE", "/devices/dev1/messages/deviceBound/not-a-lock")[0], 412)
        # The abandoned k3 comes back, its delivery counted, and is then completed.
        status, headers, body = self.device("GET", "/devices/dev1/messages/deviceBound")
        self.assertEqual((status, headers["iothub-messageid"], headers["iothub-deliverycount"]), (200, "k3", "1"))
        self.assertEqual(self.device("DELETE", "/devices/dev1/messages/deviceBound/" + headers["etag"].strip('"'))[0], 204)
        _, identity_headers, identity = self.emu.rest("GET", "/devices/dev1")
        self.assertEqual(identity["cloudToDeviceMessageCount"], 0)

        records = self.feedback_records()
        self.assertEqual(sorted((r["originalMessageId"], r["statusCode"]) for r in records),
                         [("k1", "Success"), ("k2", "Rejected"), ("k3", "Success")])
        self.assertEqual(self.feedback_records(), [])

    def test_feedback_over_rest_abandon_and_lost_locks(self):
        self.emu.c2d_send("dev1", "x", message_id="f1", ack="full")
        _, headers, _ = self.device("GET", "/devices/dev1/messages/deviceBound")
        self.device("DELETE", "/devices/dev1/messages/deviceBound/" + headers["etag"].strip('"'))
        status, headers, body = self.emu.rest("GET", FEEDBACK, api_version="2020-09-30")
        self.assertEqual(status, 200)
        lock = headers["etag"].strip('"')
        # Locked: a second reader sees nothing until it is abandoned.
        self.assertEqual(self.emu.rest("GET", FEEDBACK, api_version="2020-09-30")[0], 204)
        self.assertEqual(self.emu.rest("POST", "%s/%s/abandon" % (FEEDBACK, lock), api_version="2020-09-30")[0], 204)
        status, headers, body = self.emu.rest("DELETE", "%s/%s" % (FEEDBACK, lock), api_version="2020-09-30")
        self.assertEqual(status, 412)
        self.assertEqual(headers["iothub-errorcode"], "DeviceMessageLockLost")
        self.assertEqual([r["originalMessageId"] for r in self.feedback_records()], ["f1"])
        # Reading feedback needs ServiceConnect; a device token is refused.
        self.assertEqual(self.emu.rest("GET", FEEDBACK, token=self.token(), api_version="2020-09-30")[0], 401)


if __name__ == "__main__":
    unittest.main()
