"""azhub service invoke against azhub emulate, answered by a raw MQTT device."""

import json
import re
import subprocess
import unittest

from harness import Emulator, azhub_binary
from service_helpers import ServiceCli, wait_for_stderr_line

METHOD_TOPIC = re.compile(r"^\$iothub/methods/POST/([^/]+)/\?\$rid=(.+)$")


class ServiceInvokeTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator(devices=["dev1", "offline"]).start()
        cls.cli = ServiceCli(cls.emu)

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def setUp(self):
        self.device = self.emu.connect_device("dev1")
        self.device.subscribe([("$iothub/methods/POST/#", 0)])

    def tearDown(self):
        self.device.disconnect()

    def answer(self, status, payload, expect_method, expect_payload):
        request = self.device.read_publish(timeout=20)
        match = METHOD_TOPIC.match(request.topic)
        self.assertIsNotNone(match, request.topic)
        self.assertEqual(match.group(1), expect_method)
        self.assertEqual(json.loads(request.payload) if request.payload else None, expect_payload)
        if status is not None:
            self.device.publish("$iothub/methods/res/%d/?$rid=%s" % (status, match.group(2)),
                                payload)

    def test_device_answers_200(self):
        proc = self.cli.popen("invoke", "dev1", "reboot", '{"delay":5}', "--timeout", "10",
                              json_out=True)
        self.answer(200, b'{"result":"ok"}', "reboot", {"delay": 5})
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(json.loads(out), {"status": 200, "payload": {"result": "ok"}})

    def test_text_output_and_null_payload(self):
        proc = self.cli.popen("invoke", "dev1", "ping")
        self.answer(201, b"", "ping", None)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(json.loads(out), {"status": 201, "payload": None})

    def test_device_answers_error_status(self):
        proc = self.cli.popen("invoke", "dev1", "fail", "--timeout", "10", json_out=True)
        self.answer(500, b'{"error":"nope"}', "fail", None)
        out, err = proc.communicate(timeout=30)
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(json.loads(out), {"status": 500, "payload": {"error": "nope"}})
        self.assertIn("status 500", err)

    def test_device_does_not_answer(self):
        proc = self.cli.popen("invoke", "dev1", "slow", "--timeout", "5")
        self.answer(None, None, "slow", None)
        out, err = proc.communicate(timeout=60)
        self.assertEqual(proc.returncode, 4, err)
        self.assertEqual(out, "")
        self.assertIn("GatewayTimeout (504101)", err)

    def test_answered_by_azhub_method_serve(self):
        self.device.disconnect()  # the newest connection wins; let `method serve` be dev1
        serve = subprocess.Popen(
            [azhub_binary(), "-v", "-o", "json", "method", "serve",
             "-c", self.emu.device_connection_string("dev1"), "--port", str(self.emu.ports["mqtts"]),
             "--ca-file", self.emu.ca_file, "--status", "207", "--payload", '{"served":true}',
             "--count", "1", "--timeout", "60"],
            stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        try:
            wait_for_stderr_line(serve, "waiting for direct methods")
            doc = self.cli.json("invoke", "dev1", "hello", '{"a":1}')
            self.assertEqual(doc, {"status": 207, "payload": {"served": True}})
            out, err = serve.communicate(timeout=30)
            self.assertEqual(serve.returncode, 0, err)
            self.assertEqual(json.loads(out)["method"], "hello")
        finally:
            if serve.poll() is None:
                serve.kill()
                serve.wait()
        self.device = self.emu.connect_device("dev1")  # for tearDown

    def test_module_method(self):
        status, _, body = self.emu.rest("PUT", "/devices/dev1/modules/m1",
                                        {"deviceId": "dev1", "moduleId": "m1"})
        self.assertIn(status, (200, 409), body)
        if status == 409:
            status, _, body = self.emu.rest("GET", "/devices/dev1/modules/m1")
        key = body["authentication"]["symmetricKey"]["primaryKey"]
        module = self.emu.connect_device("dev1", module_id="m1", key=key)
        try:
            module.subscribe([("$iothub/methods/POST/#", 0)])
            proc = self.cli.popen("invoke", "dev1", "modcall", "--module-id", "m1", json_out=True)
            request = module.read_publish(timeout=20)
            match = METHOD_TOPIC.match(request.topic)
            self.assertEqual(match.group(1), "modcall")
            module.publish("$iothub/methods/res/200/?$rid=" + match.group(2), b'"from module"')
            out, err = proc.communicate(timeout=30)
        finally:
            module.disconnect()
        self.assertEqual(proc.returncode, 0, err)
        self.assertEqual(json.loads(out), {"status": 200, "payload": "from module"})

    def test_device_offline(self):
        proc = self.cli.run("invoke", "offline", "reboot")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("DeviceNotOnline (404103)", proc.stderr)

    def test_unknown_device(self):
        proc = self.cli.run("invoke", "nobody", "reboot")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("DeviceNotFound (404001)", proc.stderr)

    def test_usage_errors(self):
        for extra, needle in [(["m", "{bad"], "payload: invalid JSON"),
                              (["m", "--timeout", "2"], "5 to 300"),
                              (["m", "--connect-timeout", "301"], "0 to 300"),
                              (["m", "--timeout", "1500ms"], "whole seconds"),
                              (["bad/name"], "method")]:
            with self.subTest(extra=extra):
                proc = self.cli.run("invoke", "dev1", *extra)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(needle, proc.stderr)


if __name__ == "__main__":
    unittest.main()
