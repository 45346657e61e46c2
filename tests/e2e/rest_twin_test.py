"""REST twins end to end: the service view, PATCH/PUT with If-Match, desired notifications to a
raw MQTT device, limits, module twins (emulator/README.md, docs/protocol.md §8, §12)."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Emulator, hub_error  # noqa: E402

EMU = None
DESIRED = "$iothub/twin/PATCH/properties/desired/#"


def setUpModule():
    global EMU
    EMU = Emulator(devices=["dev1", "dev2", "dev3"]).start()


def tearDownModule():
    EMU.stop()


def error_code(body):
    """The error name of a twin path's error body (the registry form, harness.hub_error)."""
    error = hub_error(body)
    assert error["form"] == "registry", body
    return error["name"]


class Twins(unittest.TestCase):
    def test_service_view_shape(self):
        status, headers, twin = EMU.rest("GET", "/twins/dev1")
        self.assertEqual(status, 200, twin)
        self.assertEqual(headers["etag"], '"%s"' % twin["etag"])
        self.assertIn("x-ms-request-id", headers)
        for key in ("deviceId", "etag", "deviceEtag", "status", "statusUpdateTime",
                    "connectionState", "lastActivityTime", "cloudToDeviceMessageCount",
                    "authenticationType", "x509Thumbprint", "modelId", "version",
                    "capabilities", "tags", "properties"):
            self.assertIn(key, twin)
        self.assertEqual(twin["deviceId"], "dev1")
        self.assertNotIn("moduleId", twin)
        self.assertEqual(twin["authenticationType"], "sas")
        self.assertEqual(twin["statusUpdateTime"], "0001-01-01T00:00:00Z")
        for section in ("desired", "reported"):
            sec = twin["properties"][section]
            self.assertIsInstance(sec["$version"], int)
            self.assertTrue(sec["$metadata"]["$lastUpdated"].endswith("Z"))
        self.assertEqual(twin["tags"], {})
        status, _, dev = EMU.rest("GET", "/devices/dev1")
        self.assertEqual(twin["deviceEtag"], dev["etag"])

    def test_patch_with_if_match_and_desired_notification(self):
        c = EMU.connect_device("dev2")
        c.subscribe([(DESIRED, 0)])
        status, _, before = EMU.rest("GET", "/twins/dev2")
        dv = before["properties"]["desired"]["$version"]

        # Stale etag → 412, nothing changes, nothing is sent.
        status, headers, body = EMU.rest("PATCH", "/twins/dev2",
                                         {"properties": {"desired": {"x": 1}}},
                                         headers={"If-Match": '"AAAAAAAAAAA="'})
        self.assertEqual(status, 412, body)
        self.assertEqual(headers["iothub-errorcode"], "PreconditionFailed")
        self.assertEqual(error_code(body), "PreconditionFailed")

        patch = {"tags": {"floor": "2"},
                 "properties": {"desired": {"telemetry": {"interval": 5}, "mode": "eco"}}}
        status, headers, after = EMU.rest("PATCH", "/twins/dev2", patch,
                                          headers={"If-Match": '"%s"' % before["etag"]})
        self.assertEqual(status, 200, after)
        self.assertEqual(after["tags"], {"floor": "2"})
        desired = after["properties"]["desired"]
        self.assertEqual(desired["telemetry"], {"interval": 5})
        self.assertEqual(desired["mode"], "eco")
        self.assertEqual(desired["$version"], dv + 1)
        self.assertIn("$lastUpdated", desired["$metadata"]["telemetry"]["interval"])
        self.assertNotEqual(after["etag"], before["etag"])
        self.assertEqual(headers["etag"], '"%s"' % after["etag"])
        self.assertGreater(after["version"], before["version"])

        p = c.read_publish()
        self.assertEqual(p.topic, "$iothub/twin/PATCH/properties/desired/?$version=%d" % (dv + 1))
        self.assertEqual(json.loads(p.payload),
                         {"telemetry": {"interval": 5}, "mode": "eco", "$version": dv + 1})

        # null deletes; the notification carries the null.
        status, _, after2 = EMU.rest("PATCH", "/twins/dev2",
                                     {"properties": {"desired": {"mode": None}}},
                                     headers={"If-Match": "*"})
        self.assertEqual(status, 200, after2)
        self.assertNotIn("mode", after2["properties"]["desired"])
        p = c.read_publish()
        self.assertEqual(json.loads(p.payload), {"mode": None, "$version": dv + 2})

        # A tags-only patch sends no desired notification.
        status, _, _ = EMU.rest("PATCH", "/twins/dev2", {"tags": {"room": "a"}})
        self.assertEqual(status, 200)
        c.expect_no_packet(0.3)

        # The old etag is stale now.
        status, _, body = EMU.rest("PATCH", "/twins/dev2", {"tags": {"k": 1}},
                                   headers={"If-Match": before["etag"]})
        self.assertEqual(status, 412, body)
        c.disconnect()

    def test_put_replaces_and_ignores_read_only_members(self):
        c = EMU.connect_device("dev3")
        c.subscribe([(DESIRED, 0)])
        EMU.rest("PATCH", "/twins/dev3", {"tags": {"old": 1}, "properties": {"desired": {"a": 1}}})
        c.read_publish()
        # The device reports something; a PUT must not touch it.
        c.subscribe([("$iothub/twin/res/#", 0)])
        c.publish("$iothub/twin/PATCH/properties/reported/?$rid=1", json.dumps({"fw": "1.0"}))
        res, _ = c.read_until(lambda p: p.kind == "PUBLISH" and p.topic.startswith("$iothub/twin/res/"))
        self.assertTrue(res.topic.startswith("$iothub/twin/res/204/"), res.topic)

        status, _, twin = EMU.rest("GET", "/twins/dev3")
        twin["tags"] = {"new": True}
        twin["properties"]["desired"]["b"] = 2
        del twin["properties"]["desired"]["a"]
        twin["properties"]["reported"]["fw"] = "hacked"
        status, headers, after = EMU.rest("PUT", "/twins/dev3", twin,
                                          headers={"If-Match": '"%s"' % twin["etag"]})
        self.assertEqual(status, 200, after)
        self.assertEqual(after["tags"], {"new": True})
        self.assertEqual({k: v for k, v in after["properties"]["desired"].items()
                          if not k.startswith("$")}, {"b": 2})
        self.assertEqual(after["properties"]["reported"]["fw"], "1.0")
        p = c.read_publish()
        note = json.loads(p.payload)
        self.assertEqual(note["b"], 2)
        self.assertEqual(note["$version"], after["properties"]["desired"]["$version"])

        status, _, body = EMU.rest("PUT", "/twins/dev3", {"tags": {}},
                                   headers={"If-Match": '"%s"' % twin["etag"]})
        self.assertEqual(status, 412, body)
        self.assertEqual(error_code(body), "PreconditionFailed")
        c.disconnect()

    def test_invalid_writes(self):
        rows = [
            ({"properties": {"reported": {"x": 1}}}, "reported"),
            ({"properties": {"desired": {"bad.key": 1}}}, "bad.key"),
            ({"properties": {"desired": {"$bad": 1}}}, "$bad"),
            ({"tags": {"s": "x" * 5000}}, "s"),
            ({"properties": {"desired": {"big": "y" * 4000, "big2": "y" * 4000,
                                         "big3": "y" * 4000, "big4": "y" * 4000,
                                         "big5": "y" * 4000, "big6": "y" * 4000,
                                         "big7": "y" * 4000, "big8": "y" * 4000,
                                         "big9": "y" * 4000}}}, "desired"),
            ({"tags": "flat"}, "tags"),
            ([1, 2], "object"),
        ]
        deep = {}
        node = deep
        for i in range(12):
            node["l%d" % i] = {}
            node = node["l%d" % i]
        rows.append(({"properties": {"desired": deep}}, "l"))
        for body, fragment in rows:
            with self.subTest(fragment=fragment):
                status, headers, resp = EMU.rest("PATCH", "/twins/dev1", body)
                self.assertEqual(status, 400, resp)
                self.assertEqual(headers["iothub-errorcode"], "ArgumentInvalid")
                inner = hub_error(resp)
                self.assertEqual(inner["name"], "ArgumentInvalid")
                self.assertIn(fragment, inner["message"])
        status, _, resp = EMU.rest("PATCH", "/twins/dev1", raw="{not json")
        self.assertEqual(status, 400, resp)
        self.assertEqual(error_code(resp), "ArgumentInvalid")

    def test_unknown_twins(self):
        for method in ("GET", "PATCH", "PUT"):
            status, headers, body = EMU.rest(method, "/twins/nope",
                                             None if method == "GET" else {"tags": {}})
            self.assertEqual(status, 404, body)
            self.assertEqual(headers["iothub-errorcode"], "DeviceNotFound")
            self.assertEqual(error_code(body), "DeviceNotFound")
        status, _, body = EMU.rest("GET", "/twins/dev1/modules/nope")
        self.assertEqual(status, 404, body)
        self.assertEqual(error_code(body), "ModuleNotFound")

    def test_module_twin(self):
        status, _, mod = EMU.rest("PUT", "/devices/dev1/modules/tm", {})
        self.assertEqual(status, 200, mod)
        key = mod["authentication"]["symmetricKey"]["primaryKey"]
        c = EMU.connect_device("dev1", module_id="tm", key=key)
        c.subscribe([(DESIRED, 0)])
        status, _, twin = EMU.rest("GET", "/twins/dev1/modules/tm")
        self.assertEqual(status, 200, twin)
        self.assertEqual(twin["deviceId"], "dev1")
        self.assertEqual(twin["moduleId"], "tm")
        status, _, after = EMU.rest("PATCH", "/twins/dev1/modules/tm",
                                    {"properties": {"desired": {"m": 1}}},
                                    headers={"If-Match": '"%s"' % twin["etag"]})
        self.assertEqual(status, 200, after)
        p = c.read_publish()
        self.assertEqual(json.loads(p.payload)["m"], 1)
        status, _, replaced = EMU.rest("PUT", "/twins/dev1/modules/tm", {"tags": {"t": 1}})
        self.assertEqual(status, 200, replaced)
        self.assertEqual(replaced["tags"], {"t": 1})
        c.disconnect()


if __name__ == "__main__":
    unittest.main(verbosity=2)
