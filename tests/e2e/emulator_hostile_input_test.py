"""azhub emulate: hostile input on any port never stops it (docs/protocol.md §11).

Deeply nested JSON in REST bodies is refused before it becomes a document (nlohmann::json
walks documents recursively), a PUBLISH announcing more than any message may carry is refused
at its fixed header, and a SIGTERM at any moment of start-up ends the process."""

import os
import signal
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Emulator, hub_error  # noqa: E402

EMU = None


def setUpModule():
    global EMU
    EMU = Emulator(devices=["dev1", "dev2"]).start()


def tearDownModule():
    EMU.stop()


def deep_arrays(n):
    return "[" * n + "]" * n


def deep_objects(n):
    return '{"a":' * n + "1" + "}" * n


class DeepJsonTest(unittest.TestCase):
    def rest_raw(self, method, path, body):
        return EMU.rest(method, path, raw=body.encode(), headers={"Content-Type": "application/json"})

    def assert_refused_as_too_deep(self, method, path, body):
        status, _, answer = self.rest_raw(method, path, body)
        self.assertEqual(status, 400, answer)
        err = hub_error(answer)
        self.assertTrue(err["name"] == "ArgumentInvalid" or err["errorCode"] == 400004, answer)
        self.assertIn("nested deeper than 64 levels", err["message"])

    def test_deep_bodies_are_refused_and_connected_devices_stay(self):
        device = EMU.connect_device("dev2")
        cases = [
            ("PATCH", "/twins/dev1", '{"properties":{"desired":{"a":' + deep_objects(100000) + "}}}"),
            ("PATCH", "/twins/dev1", '{"tags":{"a":' + deep_arrays(200000) + "}}"),
            ("PUT", "/twins/dev1", '{"tags":{"a":' + deep_arrays(200000) + "}}"),
            ("POST", "/twins/dev1/methods",
             '{"methodName":"m","responseTimeoutInSeconds":5,"payload":' + deep_arrays(200000) + "}"),
            ("PUT", "/devices/deep1", '{"deviceId":"deep1","x":' + deep_arrays(200000) + "}"),
        ]
        for method, path, body in cases:
            with self.subTest(method=method, path=path):
                self.assert_refused_as_too_deep(method, path, body)
        # The emulator and the device connected before are still there.
        self.assertEqual(device.ping().kind, "PINGRESP")
        status, _, twin = EMU.rest("GET", "/twins/dev1")
        self.assertEqual(status, 200, twin)
        device.disconnect()

    def test_64_levels_pass_the_json_bound_and_meet_the_twin_rule(self):
        # Within the JSON bound the twin's own depth rule (10) answers, with its own message.
        status, _, answer = self.rest_raw("PATCH", "/twins/dev1",
                                          '{"properties":{"desired":{"a":' + deep_objects(60) + "}}}")
        self.assertEqual(status, 400, answer)
        self.assertNotIn("nested deeper than 64", hub_error(answer)["message"])

    def test_deep_reported_patch_over_mqtt_is_refused(self):
        c = EMU.connect_device("dev1")
        c.subscribe([("$iothub/twin/res/#", 1)])
        # 5,000 levels (30 KB): small enough for a PUBLISH, far too deep to build.
        c.publish("$iothub/twin/PATCH/properties/reported/?$rid=7", deep_objects(5000).encode(), qos=0)
        res, _ = c.read_until(lambda p: p.kind == "PUBLISH" and p.topic.startswith("$iothub/twin/res/"))
        self.assertTrue(res.topic.startswith("$iothub/twin/res/400/"), res.topic)
        self.assertEqual(c.ping().kind, "PINGRESP")
        c.disconnect()


class OversizedPublishTest(unittest.TestCase):
    def test_publish_announcing_more_than_256_kb_is_refused_at_its_header(self):
        c = EMU.connect_device("dev1")
        topic = b"devices/dev1/messages/events/"
        payload_bytes = 400 * 1024
        remaining = 2 + len(topic) + 2 + payload_bytes
        length = b""
        n = remaining
        while True:
            byte, n = n % 128, n // 128
            length += bytes([byte | (0x80 if n else 0)])
            if not n:
                break
        # The fixed header, the topic and the packet id only: the body is never sent, so the
        # emulator can only close because of what the header announces.
        c.send_raw(b"\x32" + length + len(topic).to_bytes(2, "big") + topic + b"\x00\x01")
        c.expect_closed(timeout=10)
        # A message at the limit's edge on a new connection is still taken.
        d = EMU.connect_device("dev1")
        ack = d.publish("devices/dev1/messages/events/", b"x" * (256 * 1024 - 100), qos=1)
        self.assertEqual(ack.kind, "PUBACK")
        d.disconnect()


class EarlySignalTest(unittest.TestCase):
    def test_sigterm_at_any_moment_of_start_up_ends_the_emulator(self):
        # The delays are the input (when the signal lands), not a synchronisation: whatever the
        # moment, the process must end; before the ready line it must not print one.
        for delay in (0.0, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5):
            with self.subTest(delay=delay):
                emu = Emulator()
                proc = subprocess.Popen(emu.command(), stdin=subprocess.DEVNULL,
                                        stdout=subprocess.PIPE, stderr=subprocess.PIPE)
                time.sleep(delay)
                proc.send_signal(signal.SIGTERM)
                try:
                    out, err = proc.communicate(timeout=15)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    out, err = proc.communicate()
                    self.fail("still running 15 s after SIGTERM (delay %.2f); stdout %r" % (delay, out))
                lines = [line for line in out.decode().splitlines() if line.strip()]
                if proc.returncode == 0:
                    # It was ready when the signal came: the ready line, then a clean stop.
                    self.assertEqual(len(lines), 1, out)
                else:
                    self.assertIn(proc.returncode, (130, -signal.SIGTERM), err.decode())
                    self.assertEqual(lines, [], "a ready line after an early SIGTERM")


if __name__ == "__main__":
    unittest.main()
