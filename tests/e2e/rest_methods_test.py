"""Direct methods through the REST API, answered by a raw MQTT device: success, module methods,
404103 offline, 504101 timeout, connect timeout, argument errors, and the emulator serving other
requests while an invocation is pending (emulator/README.md, docs/protocol.md §9)."""

import json
import os
import queue
import re
import sys
import threading
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Emulator  # noqa: E402

EMU = None
METHODS = "$iothub/methods/POST/#"
REQUEST = re.compile(r"^\$iothub/methods/POST/([^/]+)/\?\$rid=(.+)$")


def setUpModule():
    global EMU
    EMU = Emulator(devices=["dev1", "dev2", "off1", "slow1", "late1"]).start()


def tearDownModule():
    EMU.stop()


def invoke(device, body, module=None, timeout=60):
    path = "/twins/%s" % device + ("/modules/%s" % module if module else "") + "/methods"
    if isinstance(body, str):
        return EMU.rest("POST", path, raw=body, timeout=timeout)
    return EMU.rest("POST", path, body, timeout=timeout)


def invoke_async(device, body, module=None):
    """Runs invoke() on a thread; the result arrives on the returned queue."""
    out = queue.Queue()
    threading.Thread(target=lambda: out.put(invoke(device, body, module)), daemon=True).start()
    return out


def error_of(result):
    status, headers, body = result
    inner = json.loads(body["Message"])
    return status, headers["iothub-errorcode"], inner["errorCode"], inner


def answer_next(client, status=200, payload=b'{"result":"ok"}'):
    """Reads the next method request and answers it; returns (name, body)."""
    p = client.read_publish(timeout=30)
    m = REQUEST.match(p.topic)
    assert m, p.topic
    client.publish("$iothub/methods/res/%d/?$rid=%s" % (status, m.group(2)), payload)
    return m.group(1), p.payload


class Methods(unittest.TestCase):
    def test_invoke_answered_by_device(self):
        c = EMU.connect_device("dev1")
        c.subscribe([(METHODS, 0)])
        pending = invoke_async("dev1", {"methodName": "reboot", "payload": {"delay": 5},
                                        "responseTimeoutInSeconds": 30})
        name, body = answer_next(c, 201, b'{"result":"ok","n":[1,2]}')
        self.assertEqual(name, "reboot")
        self.assertEqual(json.loads(body), {"delay": 5})
        status, headers, resp = pending.get(timeout=30)
        self.assertEqual(status, 200, resp)
        self.assertIn("x-ms-request-id", headers)
        self.assertEqual(resp, {"status": 201, "payload": {"result": "ok", "n": [1, 2]}})

        # No payload in, no payload out.
        pending = invoke_async("dev1", {"methodName": "ping"})
        name, body = answer_next(c, 200, b"")
        self.assertEqual((name, body), ("ping", b""))
        status, _, resp = pending.get(timeout=30)
        self.assertEqual(resp, {"status": 200, "payload": None})
        c.disconnect()

    def test_module_method(self):
        status, _, mod = EMU.rest("PUT", "/devices/dev2/modules/mm", {})
        self.assertEqual(status, 200, mod)
        c = EMU.connect_device("dev2", module_id="mm",
                               key=mod["authentication"]["symmetricKey"]["primaryKey"])
        c.subscribe([(METHODS, 0)])
        pending = invoke_async("dev2", {"methodName": "calibrate", "payload": 7}, module="mm")
        name, body = answer_next(c, 200, b'"done"')
        self.assertEqual((name, json.loads(body)), ("calibrate", 7))
        status, _, resp = pending.get(timeout=30)
        self.assertEqual((status, resp), (200, {"status": 200, "payload": "done"}))
        c.disconnect()
        status, code, num, _ = error_of(invoke("dev2", {"methodName": "x"}, module="nomod"))
        self.assertEqual((status, code, num), (404, "ModuleNotFound", 404010))

    def test_device_offline(self):
        status, code, num, inner = error_of(invoke("off1", {"methodName": "x"}))
        self.assertEqual((status, code, num), (404, "DeviceNotOnline", 404103))
        self.assertEqual(inner["info"], {"timeout": "00:00:00"})
        # Connected but not subscribed to methods counts as offline too.
        c = EMU.connect_device("off1")
        status, code, num, _ = error_of(invoke("off1", {"methodName": "x"}))
        self.assertEqual((status, code, num), (404, "DeviceNotOnline", 404103))
        c.disconnect()

    def test_timeout_and_other_requests_meanwhile(self):
        c = EMU.connect_device("slow1")
        c.subscribe([(METHODS, 0)])
        pending = invoke_async("slow1", {"methodName": "hang", "responseTimeoutInSeconds": 5})
        p = c.read_publish(timeout=30)   # the request reached the device; it never answers
        self.assertTrue(p.topic.startswith("$iothub/methods/POST/hang/"))
        # The emulator keeps serving while the invocation waits.
        status, _, dev = EMU.rest("GET", "/devices/slow1", timeout=4)
        self.assertEqual(status, 200, dev)
        status, code, num, _ = error_of(pending.get(timeout=30))
        self.assertEqual((status, code, num), (504, "GatewayTimeout", 504101))
        # A late answer after the timeout is ignored and harms nothing.
        m = REQUEST.match(p.topic)
        c.publish("$iothub/methods/res/200/?$rid=%s" % m.group(2), b"{}")
        c.ping()
        c.disconnect()

    def test_connect_timeout_waits_for_the_device(self):
        pending = invoke_async("late1", {"methodName": "wake", "connectTimeoutInSeconds": 60,
                                         "responseTimeoutInSeconds": 30})
        # Whether the device comes online before or after the call arrives, it gets it.
        c = EMU.connect_device("late1")
        c.subscribe([(METHODS, 0)])
        name, _ = answer_next(c, 200, b'{"awake":true}')
        self.assertEqual(name, "wake")
        status, _, resp = pending.get(timeout=60)
        self.assertEqual((status, resp), (200, {"status": 200, "payload": {"awake": True}}))
        c.disconnect()

    def test_argument_errors(self):
        rows = [
            ({}, "methodName"),
            ({"methodName": ""}, "methodName"),
            ({"methodName": "m", "responseTimeoutInSeconds": 4}, "responseTimeoutInSeconds"),
            ({"methodName": "m", "responseTimeoutInSeconds": 301}, "responseTimeoutInSeconds"),
            ({"methodName": "m", "connectTimeoutInSeconds": 301}, "connectTimeoutInSeconds"),
            ({"methodName": "m", "connectTimeoutInSeconds": -1}, "connectTimeoutInSeconds"),
            ({"methodName": "bad name"}, "name"),
            ("not json", "JSON"),
        ]
        for body, fragment in rows:
            with self.subTest(body=body):
                status, code, num, inner = error_of(invoke("dev1", body))
                self.assertEqual((status, code, num), (400, "ArgumentInvalid", 400004))
                self.assertIn(fragment, inner["message"])
        status, code, num, _ = error_of(invoke("nodev", {"methodName": "m"}))
        self.assertEqual((status, code, num), (404, "DeviceNotFound", 404001))
        status, headers, _ = EMU.rest("GET", "/twins/dev1/methods")
        self.assertEqual(status, 405)
        self.assertEqual(headers["allow"], "POST")


if __name__ == "__main__":
    unittest.main(verbosity=2)
