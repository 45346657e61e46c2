"""REST service API end to end: device and module identities, authorization, the common
headers and the error shape (emulator/README.md, docs/protocol.md §12)."""

import base64
import http.client
import json
import os
import sys
import time
import unittest
import urllib.parse

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import (Emulator, hub_error, client_ssl_context, device_sas_token,  # noqa: E402
                     mqtt_username, parse_connection_string, sas_token)

EMU = None
KEY = base64.b64encode(bytes(range(32))).decode()
KEY2 = base64.b64encode(bytes(range(32, 64))).decode()
THUMB = "0123456789ABCDEF0123456789ABCDEF01234567"


def setUpModule():
    global EMU
    EMU = Emulator(devices=["dev1"]).start()


def tearDownModule():
    EMU.stop()


def inner_error(body):
    """The error of a body in either of IoT Hub's forms (harness.hub_error)."""
    return hub_error(body)


def raw_request(method, target, headers=None, body=None):
    """A request with exactly these headers (no token added)."""
    conn = http.client.HTTPSConnection("localhost", EMU.ports["https"], timeout=10,
                                       context=client_ssl_context(EMU.ca_file))
    try:
        conn.request(method, target, body=body, headers=headers or {})
        resp = conn.getresponse()
        raw = resp.read()
        hdrs = {k.lower(): v for k, v in resp.getheaders()}
    finally:
        conn.close()
    parsed = json.loads(raw) if raw and "json" in hdrs.get("content-type", "") else raw
    return resp.status, hdrs, parsed


class Registry(unittest.TestCase):
    def expect_error(self, result, status, code, name):
        got_status, headers, body = result
        self.assertEqual(got_status, status, body)
        self.assertEqual(headers.get("iothub-errorcode"), name)
        inner = inner_error(body)
        if inner["form"] == "registry":
            # Registry paths answer in the "ErrorCode:{Name};" form the Node service SDK maps
            # (DeviceNotFoundError, ...); the tracking id is the request id without dashes.
            self.assertEqual(inner["name"], name)
            self.assertEqual(inner["trackingId"], headers["x-ms-request-id"].replace("-", ""))
        else:
            self.assertEqual(inner["errorCode"], code)
            self.assertEqual(inner["trackingId"], headers["x-ms-request-id"])
            self.assertTrue(inner["timestampUtc"].endswith("Z"))
        return inner

    def test_device_lifecycle_with_generated_keys(self):
        status, headers, dev = EMU.rest("PUT", "/devices/life1", {"deviceId": "life1"})
        self.assertEqual(status, 200, dev)
        self.assertIn("x-ms-request-id", headers)
        self.assertEqual(headers["etag"], '"%s"' % dev["etag"])
        self.assertEqual(dev["deviceId"], "life1")
        self.assertEqual(dev["status"], "enabled")
        self.assertIsNone(dev["statusReason"])
        self.assertEqual(dev["statusUpdatedTime"], "0001-01-01T00:00:00")
        self.assertEqual(dev["connectionState"], "Disconnected")
        self.assertEqual(dev["cloudToDeviceMessageCount"], 0)
        self.assertEqual(dev["capabilities"], {"iotEdge": False})
        self.assertIsNone(dev["deviceScope"])
        self.assertEqual(dev["parentScopes"], [])
        auth = dev["authentication"]
        self.assertEqual(auth["type"], "sas")
        for k in ("primaryKey", "secondaryKey"):
            self.assertEqual(len(base64.b64decode(auth["symmetricKey"][k])), 32)
        self.assertNotEqual(auth["symmetricKey"]["primaryKey"], auth["symmetricKey"]["secondaryKey"])
        self.assertEqual(auth["x509Thumbprint"],
                         {"primaryThumbprint": None, "secondaryThumbprint": None})

        status, _, got = EMU.rest("GET", "/devices/life1")
        self.assertEqual(status, 200)
        self.assertEqual(got["etag"], dev["etag"])
        self.assertEqual(got["authentication"], dev["authentication"])

        # The generated key works for MQTT.
        c = EMU.connect_device("life1", key=auth["symmetricKey"]["primaryKey"])
        status, _, got = EMU.rest("GET", "/devices/life1")
        self.assertEqual(got["connectionState"], "Connected")
        c.disconnect()

        status, headers, body = EMU.rest("DELETE", "/devices/life1")
        self.assertEqual(status, 204, body)
        self.assertIn("x-ms-request-id", headers)
        self.expect_error(EMU.rest("GET", "/devices/life1"), 404, 404001, "DeviceNotFound")
        self.expect_error(EMU.rest("DELETE", "/devices/life1"), 404, 404001, "DeviceNotFound")

    def test_create_over_existing_and_if_match(self):
        status, _, dev = EMU.rest("PUT", "/devices/im1", {
            "deviceId": "im1", "authentication": {"type": "sas", "symmetricKey": {
                "primaryKey": KEY, "secondaryKey": KEY2}}})
        self.assertEqual(status, 200, dev)
        self.assertEqual(dev["authentication"]["symmetricKey"],
                         {"primaryKey": KEY, "secondaryKey": KEY2})
        inner = self.expect_error(EMU.rest("PUT", "/devices/im1", {"deviceId": "im1"}),
                                  409, 409001, "DeviceAlreadyExists")
        self.assertIn("im1", inner["message"])

        # Stale etag → 412; the current one (quoted or bare) or * → update.
        self.expect_error(EMU.rest("PUT", "/devices/im1", {"status": "disabled"},
                                   headers={"If-Match": '"bogus"'}),
                          412, 412001, "PreconditionFailed")
        status, headers, upd = EMU.rest("PUT", "/devices/im1",
                                        {"status": "disabled", "statusReason": "maintenance"},
                                        headers={"If-Match": '"%s"' % dev["etag"]})
        self.assertEqual(status, 200, upd)
        self.assertEqual(upd["status"], "disabled")
        self.assertEqual(upd["statusReason"], "maintenance")
        self.assertNotEqual(upd["statusUpdatedTime"], "0001-01-01T00:00:00")
        self.assertNotEqual(upd["etag"], dev["etag"])
        self.assertEqual(upd["authentication"]["symmetricKey"]["primaryKey"], KEY)  # kept

        # The old etag is now stale for both update and delete.
        self.expect_error(EMU.rest("PUT", "/devices/im1", {"status": "enabled"},
                                   headers={"If-Match": dev["etag"]}), 412, 412001,
                          "PreconditionFailed")
        self.expect_error(EMU.rest("DELETE", "/devices/im1", headers={"If-Match": dev["etag"]}),
                          412, 412001, "PreconditionFailed")
        status, _, upd2 = EMU.rest("PUT", "/devices/im1", {"status": "enabled"},
                                   headers={"If-Match": "*"})
        self.assertEqual(status, 200, upd2)
        self.assertEqual(upd2["status"], "enabled")
        status, _, _ = EMU.rest("DELETE", "/devices/im1", headers={"If-Match": '"%s"' % upd2["etag"]})
        self.assertEqual(status, 204)
        # Update of a missing device: 404001.
        self.expect_error(EMU.rest("PUT", "/devices/im1", {"status": "enabled"},
                                   headers={"If-Match": "*"}), 404, 404001, "DeviceNotFound")

    def test_disable_and_delete_close_the_live_connection(self):
        status, _, dev = EMU.rest("PUT", "/devices/dis1", {})
        self.assertEqual(status, 200, dev)
        key = dev["authentication"]["symmetricKey"]["primaryKey"]
        c = EMU.connect_device("dis1", key=key)
        status, _, dev = EMU.rest("PUT", "/devices/dis1", {"status": "disabled"},
                                  headers={"If-Match": "*"})
        self.assertEqual(status, 200, dev)
        c.expect_closed()
        EMU.connect_device("dis1", key=key, expect_code=5).close()
        EMU.rest("PUT", "/devices/dis1", {"status": "enabled"}, headers={"If-Match": "*"})
        c = EMU.connect_device("dis1", key=key)
        self.assertEqual(EMU.rest("DELETE", "/devices/dis1")[0], 204)
        c.expect_closed()
        EMU.connect_device("dis1", key=key, expect_code=5).close()

    def test_x509_devices(self):
        status, _, dev = EMU.rest("PUT", "/devices/x1", {"authentication": {
            "type": "selfSigned", "x509Thumbprint": {"primaryThumbprint": THUMB}}})
        self.assertEqual(status, 200, dev)
        self.assertEqual(dev["authentication"]["type"], "selfSigned")
        self.assertEqual(dev["authentication"]["x509Thumbprint"]["primaryThumbprint"].lower(),
                         THUMB.lower())
        self.assertEqual(dev["authentication"]["symmetricKey"],
                         {"primaryKey": None, "secondaryKey": None})
        status, _, dev = EMU.rest("PUT", "/devices/ca1",
                                  {"authentication": {"type": "certificateAuthority"}})
        self.assertEqual(status, 200, dev)
        self.assertEqual(dev["authentication"]["type"], "certificateAuthority")
        inner = self.expect_error(
            EMU.rest("PUT", "/devices/x2", {"authentication": {"type": "selfSigned"}}),
            400, 400004, "ArgumentInvalid")
        self.assertIn("primaryThumbprint", inner["message"])

    def test_bad_bodies(self):
        rows = [
            ("not json", "the body: invalid JSON"),
            ({"deviceId": "other"}, "deviceId"),
            ({"status": "sleeping"}, "status"),
            ({"authentication": {"type": "sas", "symmetricKey": {"primaryKey": "abc"}}},
             "primaryKey"),
            ({"authentication": {"type": "magic"}}, "authentication.type"),
        ]
        for body, fragment in rows:
            with self.subTest(body=body):
                call = (EMU.rest("PUT", "/devices/bad1", raw=body) if isinstance(body, str)
                        else EMU.rest("PUT", "/devices/bad1", body))
                inner = self.expect_error(call, 400, 400004, "ArgumentInvalid")
                self.assertIn(fragment, inner["message"])
        self.expect_error(EMU.rest("GET", "/devices/bad1"), 404, 404001, "DeviceNotFound")
        # An id outside IoT Hub's charset (space) is refused.
        self.expect_error(EMU.rest("PUT", "/devices/bad%20id", {}), 400, 400004,
                          "ArgumentInvalid")

    def test_percent_encoded_ids(self):
        dev_id = "a#b?c:d+e"
        path = "/devices/" + urllib.parse.quote(dev_id, safe="")
        status, _, dev = EMU.rest("PUT", path, {"deviceId": dev_id})
        self.assertEqual(status, 200, dev)
        self.assertEqual(dev["deviceId"], dev_id)
        status, _, got = EMU.rest("GET", path)
        self.assertEqual(got["deviceId"], dev_id)
        status, _, twin = EMU.rest("GET", "/twins/" + urllib.parse.quote(dev_id, safe=""))
        self.assertEqual(status, 200, twin)
        self.assertEqual(twin["deviceId"], dev_id)
        self.assertEqual(EMU.rest("DELETE", path)[0], 204)

    def test_list_devices_and_top(self):
        for i in range(3):
            self.assertEqual(EMU.rest("PUT", "/devices/list%d" % i, {})[0], 200)
        status, _, devices = EMU.rest("GET", "/devices")
        self.assertEqual(status, 200)
        ids = [d["deviceId"] for d in devices]
        for want in ("dev1", "list0", "list1", "list2"):
            self.assertIn(want, ids)
        status, _, top = EMU.rest("GET", "/devices?top=2")
        self.assertEqual(status, 200)
        self.assertEqual(len(top), 2)
        self.expect_error(EMU.rest("GET", "/devices?top=0"), 400, 400004, "ArgumentInvalid")
        self.expect_error(EMU.rest("GET", "/devices?top=x"), 400, 400004, "ArgumentInvalid")

    def test_modules(self):
        self.assertEqual(EMU.rest("PUT", "/devices/mdev", {})[0], 200)
        status, headers, mod = EMU.rest("PUT", "/devices/mdev/modules/m1",
                                        {"moduleId": "m1", "managedBy": "me"})
        self.assertEqual(status, 200, mod)
        self.assertEqual(headers["etag"], '"%s"' % mod["etag"])
        for k in ("moduleId", "managedBy", "deviceId", "generationId", "etag", "connectionState",
                  "connectionStateUpdatedTime", "lastActivityTime", "cloudToDeviceMessageCount",
                  "authentication"):
            self.assertIn(k, mod)
        self.assertEqual(mod["moduleId"], "m1")
        self.assertEqual(mod["deviceId"], "mdev")
        self.assertEqual(mod["managedBy"], "me")
        self.assertEqual(len(base64.b64decode(mod["authentication"]["symmetricKey"]["primaryKey"])), 32)
        self.expect_error(EMU.rest("PUT", "/devices/mdev/modules/m1", {}), 409, 409301,
                          "ModuleAlreadyExistsOnDevice")
        self.assertEqual(EMU.rest("PUT", "/devices/mdev/modules/m2", {})[0], 200)
        status, _, mods = EMU.rest("GET", "/devices/mdev/modules")
        self.assertEqual(status, 200)
        self.assertEqual(sorted(m["moduleId"] for m in mods), ["m1", "m2"])

        # The module key connects as the module.
        c = EMU.connect_device("mdev", module_id="m1",
                               key=mod["authentication"]["symmetricKey"]["primaryKey"])
        c.disconnect()

        self.expect_error(EMU.rest("GET", "/devices/mdev/modules/nope"), 404, 404010,
                          "ModuleNotFound")
        self.expect_error(EMU.rest("PUT", "/devices/nodev/modules/m1", {}), 404, 404001,
                          "DeviceNotFound")
        self.expect_error(EMU.rest("GET", "/devices/nodev/modules"), 404, 404001,
                          "DeviceNotFound")
        self.expect_error(EMU.rest("DELETE", "/devices/mdev/modules/m1",
                                   headers={"If-Match": '"stale"'}), 412, 412001,
                          "PreconditionFailed")
        self.assertEqual(EMU.rest("DELETE", "/devices/mdev/modules/m1")[0], 204)
        self.expect_error(EMU.rest("GET", "/devices/mdev/modules/m1"), 404, 404010,
                          "ModuleNotFound")
        # Deleting the device takes its modules with it.
        self.assertEqual(EMU.rest("DELETE", "/devices/mdev")[0], 204)
        self.expect_error(EMU.rest("GET", "/devices/mdev/modules/m2"), 404, 404001,
                          "DeviceNotFound")


class Protocol(unittest.TestCase):
    def expect_error(self, result, status, code, name):
        return Registry.expect_error(self, result, status, code, name)

    def test_api_version_required(self):
        inner = self.expect_error(EMU.rest("GET", "/devices/dev1", api_version=None), 400, 400004,
                                  "ArgumentInvalid")
        self.assertIn("api-version", inner["message"])
        # Any value is accepted.
        self.assertEqual(EMU.rest("GET", "/devices/dev1", api_version="2018-06-30")[0], 200)

    def test_unknown_path_and_method(self):
        self.expect_error(EMU.rest("GET", "/nothing/here"), 404, 404000, "NotFound")
        status, headers, _ = EMU.rest("PATCH", "/devices/dev1", {})
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "GET, PUT, DELETE")
        self.assertIn("x-ms-request-id", headers)

    def test_health_needs_no_token(self):
        status, headers, body = raw_request("GET", "/_emulator/health")
        self.assertEqual(status, 200)
        self.assertEqual(body["status"], "ok")
        self.assertEqual(body["hostName"], EMU.host_name)
        self.assertIn("x-ms-request-id", headers)

    def test_request_ids_are_unique(self):
        ids = {EMU.rest("GET", "/devices/dev1")[1]["x-ms-request-id"] for _ in range(5)}
        self.assertEqual(len(ids), 5)

    def test_keep_alive_connection_serves_several_requests(self):
        conn = http.client.HTTPSConnection("localhost", EMU.ports["https"], timeout=10,
                                           context=client_ssl_context(EMU.ca_file))
        try:
            for _ in range(3):
                conn.request("GET", "/devices/dev1?api-version=1",
                             headers={"Authorization": EMU.service_token()})
                resp = conn.getresponse()
                self.assertEqual(resp.status, 200)
                self.assertEqual(json.loads(resp.read())["deviceId"], "dev1")
        finally:
            conn.close()


class Authorization(unittest.TestCase):
    def expect_401(self, token, path="/devices/dev1", method="GET", body=None):
        headers = {} if token is None else {"Authorization": token}
        status, hdrs, resp = raw_request(method, path + "?api-version=2021-04-12", headers,
                                         None if body is None else json.dumps(body))
        self.assertEqual(status, 401, resp)
        self.assertEqual(hdrs["iothub-errorcode"], "IotHubUnauthorizedAccess")
        self.assertIn("x-ms-request-id", hdrs)
        inner = inner_error(resp)
        self.assertIn(inner["errorCode"], (401002, None))
        self.assertIn(inner["name"], ("IotHubUnauthorizedAccess", None))
        return inner

    def owner_key(self):
        return parse_connection_string(EMU.service_connection_string)["SharedAccessKey"]

    def test_refusals(self):
        host = EMU.host_name
        now = int(time.time())
        self.expect_401(None)
        self.expect_401("Bearer xyz")
        self.expect_401(sas_token(host, KEY, now + 600, "iothubowner"))          # wrong key
        self.expect_401(sas_token(host, self.owner_key(), now - 1, "iothubowner"))  # expired
        self.expect_401(sas_token(host, self.owner_key(), now + 600, "nosuch"))   # no policy
        self.expect_401(sas_token(host, self.owner_key(), now + 600))            # no skn
        self.expect_401(sas_token("otherhost", self.owner_key(), now + 600, "iothubowner"))
        # sr must be a segment prefix of the request: /devices does not cover /twins.
        self.expect_401(sas_token(host + "/devices", self.owner_key(), now + 600, "iothubowner"),
                        path="/twins/dev1")
        self.expect_401(sas_token(host + "/devices/dev", self.owner_key(), now + 600,
                                  "iothubowner"), path="/devices/dev1")
        # A device's own token is not a service token.
        self.expect_401(device_sas_token(host, "dev1", EMU.device_key("dev1")))
        # The inner message never echoes the signature.
        token = sas_token(host, KEY, now + 600, "iothubowner")
        inner = self.expect_401(token)
        sig = urllib.parse.unquote(token.split("sig=")[1].split("&")[0])
        self.assertNotIn(sig, json.dumps(inner))

    def test_scoped_tokens_granted(self):
        host = EMU.host_name
        now = int(time.time())
        for resource, path in ((host, "/devices/dev1"), (host + "/devices", "/devices/dev1"),
                               (host + "/devices/dev1", "/devices/dev1"),
                               (host.upper(), "/devices/dev1"),
                               (host + "/twins/dev1", "/twins/dev1")):
            with self.subTest(resource=resource):
                token = sas_token(resource, self.owner_key(), now + 600, "iothubowner")
                status, _, body = EMU.rest("GET", path, token=token)
                self.assertEqual(status, 200, body)


if __name__ == "__main__":
    unittest.main(verbosity=2)
