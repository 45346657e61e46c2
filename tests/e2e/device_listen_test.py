"""azhub listen against azhub emulate: C2D messages with their properties, --count, --timeout."""

import base64
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import device_util as du  # noqa: E402
from service_helpers import ServiceCli  # noqa: E402


class DeviceListenTest(du.EmulatorTestCase):
    def test_json_records_carry_body_and_properties(self):
        cs = du.create_device(self.emu, "listen-json")
        listener = du.Running(["-v", "-o", "json", "listen", "--count", "2", "--timeout", "30s"]
                              + du.tls_args(self.emu, cs))
        try:
            listener.wait_stderr("connected to")
            status, _, _ = self.emu.c2d_send("listen-json", '{"led":"on"}', properties={"color": "red"},
                                             message_id="m1", correlation_id="c1",
                                             content_type="application/json")
            self.assertEqual(status, 200)
            status, _, _ = self.emu.c2d_send("listen-json", "second", message_id="m2")
            self.assertEqual(status, 200)
            first = listener.next_json()
            second = listener.next_json()
            self.assertEqual(listener.wait(), 0, listener.stderr)
        finally:
            listener.stop()
        self.assertEqual(first["body"], '{"led":"on"}')
        self.assertEqual(first["bodyEncoding"], "utf-8")
        self.assertEqual(first["properties"], {"color": "red"})
        self.assertEqual(first["systemProperties"]["messageId"], "m1")
        self.assertEqual(first["systemProperties"]["correlationId"], "c1")
        self.assertEqual(first["systemProperties"]["contentType"], "application/json")
        self.assertEqual(first["systemProperties"]["to"], "/devices/listen-json/messages/deviceBound")
        self.assertEqual(second["body"], "second")
        self.assertEqual(second["systemProperties"]["messageId"], "m2")
        self.assertNotIn("correlationId", second["systemProperties"])  # absent ones are left out

    def test_c2d_record_has_the_member_names_of_a_monitor_d2c_record(self):
        # The same message both ways: what `azhub listen` prints of a C2D message and what
        # `azhub service monitor` prints of a D2C message share their members, names and types.
        cs = du.create_device(self.emu, "listen-shape")
        r = du.run(["send", "--message-id", "m1", "--correlation-id", "c1", "--content-type",
                    "application/json", "--prop", "color=red", '{"led":"on"}']
                   + du.tls_args(self.emu, cs))
        self.assertEqual(r.returncode, 0, r.stderr)
        d2c = ServiceCli(self.emu).json("monitor", "--device-id", "listen-shape", "--since-start",
                                        "--count", "1", "--timeout", "20s")
        self.emu.c2d_send("listen-shape", '{"led":"on"}', properties={"color": "red"},
                          message_id="m1", correlation_id="c1", content_type="application/json")
        self.emu.c2d_send("listen-shape", b"\x00\xffbinary")
        r = du.run(["-o", "json", "listen", "--count", "2", "--timeout", "20s"] + du.tls_args(self.emu, cs))
        self.assertEqual(r.returncode, 0, r.stderr)
        c2d, binary = [json.loads(line) for line in r.stdout.splitlines()]
        self.assertEqual(set(c2d), {"body", "bodyEncoding", "systemProperties", "properties"})
        # Read from the Event Hubs-compatible endpoint, the D2C record adds where it sits there
        # and the hub's annotations.
        self.assertEqual(set(d2c) - set(c2d), {"sequenceNumber", "partition", "offset", "enqueuedTime", "deviceId",
                                               "moduleId", "annotations"})
        for name in ("body", "bodyEncoding", "properties"):
            self.assertEqual(c2d[name], d2c[name], name)
        for name in ("messageId", "correlationId", "contentType"):
            self.assertEqual(c2d["systemProperties"][name], d2c["systemProperties"][name], name)
        self.assertEqual(binary["bodyEncoding"], "base64")
        self.assertEqual(base64.b64decode(binary["body"]), b"\x00\xffbinary")

    def test_messages_queued_while_offline_are_delivered_then_text_output(self):
        cs = du.create_device(self.emu, "listen-queued")
        for i in range(3):
            self.emu.c2d_send("listen-queued", "queued %d" % i, properties={"i": str(i)})
        r = du.run(["listen", "--count", "3", "--timeout", "20s"] + du.tls_args(self.emu, cs))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("queued 0\n", r.stdout)
        self.assertIn("  i=2\n", r.stdout)
        self.assertLess(r.stdout.index("queued 0"), r.stdout.index("queued 1"))
        self.assertLess(r.stdout.index("queued 1"), r.stdout.index("queued 2"))
        # Acknowledged: nothing is left for the next session.
        r = du.run(["listen", "--timeout", "1s"] + du.tls_args(self.emu, cs))
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertEqual(r.stdout, "")

    def test_timeout_before_count_is_exit_4(self):
        cs = du.create_device(self.emu, "listen-timeout")
        self.emu.c2d_send("listen-timeout", "only one")
        r = du.run(["-o", "json", "listen", "--count", "2", "--timeout", "2s"] + du.tls_args(self.emu, cs))
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("only 1 of 2 messages before --timeout 2s", r.stderr)
        self.assertEqual(len(r.stdout.splitlines()), 1)

    def test_bad_flags_are_exit_2(self):
        cs = du.create_device(self.emu, "listen-bad")
        for extra, message in [(["--timeout", "later"], "--timeout"),
                               (["--count", "0"], "--count 0: must be at least 1"),
                               (["--count", "-1"], "--count -1: must be at least 1"),
                               (["--transport", "amqp"], "--transport")]:
            with self.subTest(extra=extra):
                r = du.run(["listen"] + du.tls_args(self.emu, cs) + extra)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(message, r.stderr)


if __name__ == "__main__":
    unittest.main()
