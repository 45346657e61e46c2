"""azhub emulate: device twins (docs/protocol.md §7, §8), direct methods (§9) and modules
(§10) over raw MQTT, with the service side through the REST API."""

import json
import os
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Emulator, encode_publish  # noqa: E402

EMU = None
TWIN_RES = "$iothub/twin/res/#"
DESIRED = "$iothub/twin/PATCH/properties/desired/#"
METHODS = "$iothub/methods/POST/#"


def setUpModule():
    global EMU
    EMU = Emulator(devices=["dev1", "dev2", "dev3"]).start()


def tearDownModule():
    EMU.stop()


def twin_request(c, topic, payload=b""):
    c.publish(topic, payload)
    return c.read_publish()


class TwinTest(unittest.TestCase):
    def test_get_and_reported_patch(self):
        c = EMU.connect_device("dev1", clean_session=True)
        c.subscribe([(TWIN_RES, 0)])
        r = twin_request(c, "$iothub/twin/GET/?$rid=1", b"{}")
        self.assertEqual(r.topic, "$iothub/twin/res/200/?$rid=1")
        self.assertEqual(json.loads(r.payload), {"desired": {"$version": 1}, "reported": {"$version": 1}})

        r = twin_request(c, "$iothub/twin/PATCH/properties/reported/?$rid=a-b",
                         b'{"fw":"1.0","net":{"ip":"10.0.0.2","mask":8}}')
        self.assertEqual(r.topic, "$iothub/twin/res/204/?$rid=a-b&$version=2")
        self.assertEqual(r.payload, b"")
        r = twin_request(c, "$iothub/twin/PATCH/properties/reported/?$rid=2", b'{"net":{"mask":null}}')
        self.assertEqual(r.topic, "$iothub/twin/res/204/?$rid=2&$version=3")
        r = twin_request(c, "$iothub/twin/GET/?$rid=3")
        self.assertEqual(json.loads(r.payload)["reported"],
                         {"fw": "1.0", "net": {"ip": "10.0.0.2"}, "$version": 3})

        status, _, twin = EMU.rest("GET", "/twins/dev1")
        self.assertEqual(status, 200, twin)
        self.assertEqual(twin["properties"]["reported"]["fw"], "1.0")
        self.assertEqual(twin["properties"]["reported"]["$version"], 3)
        self.assertIn("$lastUpdated", twin["properties"]["reported"]["$metadata"]["fw"])
        c.disconnect()

    def test_invalid_reported_patch_gets_400(self):
        c = EMU.connect_device("dev1", clean_session=True)
        c.subscribe([(TWIN_RES, 0)])
        for rid, body in (("bad1", b"not json"), ("bad2", b'{"$bad":1}'), ("bad3", b'{"a.b":1}'),
                          ("bad4", b"[1,2]"), ("bad5", json.dumps({"s": "x" * 5000}).encode())):
            r = twin_request(c, "$iothub/twin/PATCH/properties/reported/?$rid=" + rid, body)
            self.assertEqual(r.topic, "$iothub/twin/res/400/?$rid=" + rid)
            self.assertEqual(json.loads(r.payload)["errorCode"], 400004)
        c.ping()  # still connected
        c.disconnect()

    def test_responses_need_the_subscription(self):
        c = EMU.connect_device("dev3", clean_session=True)
        c.publish("$iothub/twin/GET/?$rid=nosub")
        c.expect_no_packet(0.5)
        c.disconnect()

    def test_desired_notification_from_service_patch(self):
        c = EMU.connect_device("dev2", clean_session=True)
        c.subscribe([(TWIN_RES, 0), (DESIRED, 1)])
        status, headers, twin = EMU.rest("GET", "/twins/dev2")
        etag = twin["etag"]
        status, _, out = EMU.rest("PATCH", "/twins/dev2",
                                  {"tags": {"site": "a"}, "properties": {"desired": {"rate": 5, "mode": "eco"}}},
                                  headers={"If-Match": '"%s"' % etag})
        self.assertEqual(status, 200, out)
        n = c.read_publish()
        self.assertEqual(n.topic, "$iothub/twin/PATCH/properties/desired/?$version=2")
        self.assertEqual(json.loads(n.payload), {"rate": 5, "mode": "eco", "$version": 2})
        self.assertEqual(n.qos, 0)
        # Stale etag: 412, no notification.
        status, headers, out = EMU.rest("PATCH", "/twins/dev2", {"properties": {"desired": {"rate": 6}}},
                                        headers={"If-Match": '"%s"' % etag})
        self.assertEqual(status, 412, out)
        status, _, out = EMU.rest("PATCH", "/twins/dev2", {"properties": {"desired": {"mode": None}}})
        self.assertEqual(status, 200, out)
        n = c.read_publish()
        self.assertEqual(json.loads(n.payload), {"mode": None, "$version": 3})
        r = twin_request(c, "$iothub/twin/GET/?$rid=g")
        self.assertEqual(json.loads(r.payload)["desired"], {"rate": 5, "$version": 3})
        c.disconnect()


class MethodTest(unittest.TestCase):
    def invoke(self, device, body, module=None):
        path = "/twins/%s%s/methods" % (device, "/modules/" + module if module else "")
        result = {}

        def call():
            result["r"] = EMU.rest("POST", path, body, timeout=60)

        t = threading.Thread(target=call)
        t.start()
        return t, result

    def test_method_answered(self):
        c = EMU.connect_device("dev3", clean_session=True)
        c.subscribe([(METHODS, 0)])
        t, result = self.invoke("dev3", {"methodName": "reboot", "payload": {"delay": 5},
                                         "responseTimeoutInSeconds": 30})
        req = c.read_publish()
        self.assertTrue(req.topic.startswith("$iothub/methods/POST/reboot/?$rid="), req.topic)
        self.assertEqual(json.loads(req.payload), {"delay": 5})
        self.assertEqual(req.qos, 0)
        rid = req.topic.split("$rid=", 1)[1]
        c.publish("$iothub/methods/res/201/?$rid=" + rid, b'{"done":true}')
        t.join(30)
        status, _, body = result["r"]
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"status": 201, "payload": {"done": True}})
        c.disconnect()

    def test_device_offline_404103(self):
        status, headers, body = EMU.rest("POST", "/twins/dev1/methods",
                                         {"methodName": "m", "responseTimeoutInSeconds": 5})
        self.assertEqual(status, 404, body)
        self.assertEqual(headers.get("iothub-errorcode"), "DeviceNotOnline")
        self.assertEqual(json.loads(body["Message"])["errorCode"], 404103)

    def test_not_answered_504101(self):
        c = EMU.connect_device("dev1", clean_session=True)
        c.subscribe([(METHODS, 0)])
        t, result = self.invoke("dev1", {"methodName": "slow", "responseTimeoutInSeconds": 5})
        req = c.read_publish()
        t.join(30)
        status, headers, body = result["r"]
        self.assertEqual(status, 504, body)
        self.assertEqual(json.loads(body["Message"])["errorCode"], 504101)
        # A late answer is dropped, the connection stays.
        c.publish("$iothub/methods/res/200/?$rid=" + req.topic.split("$rid=", 1)[1], b"{}")
        c.ping()
        c.disconnect()

    def test_connect_timeout_waits_for_the_device(self):
        t, result = self.invoke("dev2", {"methodName": "late", "responseTimeoutInSeconds": 10,
                                         "connectTimeoutInSeconds": 20})
        EMU.wait_for_log("method: dev2 not online, waiting 20 s")
        c = EMU.connect_device("dev2", clean_session=True)
        c.subscribe([(METHODS, 1)])
        req = c.read_publish()
        c.publish("$iothub/methods/res/200/?$rid=" + req.topic.split("$rid=", 1)[1], b"")
        t.join(30)
        status, _, body = result["r"]
        self.assertEqual(status, 200, body)
        self.assertEqual(body, {"status": 200, "payload": None})
        c.disconnect()

    def test_timeout_out_of_range_400(self):
        status, _, body = EMU.rest("POST", "/twins/dev1/methods",
                                   {"methodName": "m", "responseTimeoutInSeconds": 301})
        self.assertEqual(status, 400, body)


class ModuleTest(unittest.TestCase):
    def test_module_connects_and_uses_module_topics(self):
        mod = EMU.create_device("dev3", "edge")
        key = mod["authentication"]["symmetricKey"]["primaryKey"]
        c = EMU.connect_device("dev3", module_id="edge", key=key, clean_session=True)
        # Module telemetry topic; the device topic is someone else's.
        c.publish("devices/dev3/modules/edge/messages/events/k=v", b"from module", qos=1)
        got = EMU.events(0, "dev3")
        self.assertEqual(got[-1]["moduleId"], "edge")
        self.assertEqual(got[-1]["body"], "from module")
        c.subscribe([(TWIN_RES, 0), (DESIRED, 0), (METHODS, 0)])
        r = twin_request(c, "$iothub/twin/PATCH/properties/reported/?$rid=m1", b'{"m":1}')
        self.assertEqual(r.topic, "$iothub/twin/res/204/?$rid=m1&$version=2")
        status, _, twin = EMU.rest("GET", "/twins/dev3/modules/edge")
        self.assertEqual(status, 200, twin)
        self.assertEqual(twin["moduleId"], "edge")
        self.assertEqual(twin["properties"]["reported"]["m"], 1)
        status, _, devtwin = EMU.rest("GET", "/twins/dev3")
        self.assertNotIn("m", devtwin["properties"]["reported"])

        status, _, out = EMU.rest("PATCH", "/twins/dev3/modules/edge", {"properties": {"desired": {"x": 1}}})
        self.assertEqual(status, 200, out)
        self.assertEqual(json.loads(c.read_publish().payload), {"x": 1, "$version": 2})

        t, result = MethodTest.invoke(self, "dev3", {"methodName": "ping", "responseTimeoutInSeconds": 10},
                                      module="edge")
        req = c.read_publish()
        c.publish("$iothub/methods/res/200/?$rid=" + req.topic.split("$rid=", 1)[1], b'"pong"')
        t.join(30)
        self.assertEqual(result["r"][2], {"status": 200, "payload": "pong"})

        c.send_raw(encode_publish("devices/dev3/messages/events/", b"x"))  # the device's topic
        self.assertEqual(c.expect_closed(), [])

    def test_device_token_does_not_open_a_module(self):
        EMU.create_device("dev2", "m2")
        EMU.connect_device("dev2", module_id="m2", key=EMU.device_key("dev2"), expect_code=5)


if __name__ == "__main__":
    unittest.main()
