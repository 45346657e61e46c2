"""Nothing acknowledged is lost when a streaming device command stops.

Paho acknowledges a QoS 1 PUBLISH as soon as it arrives, and the hub forgets a C2D message (or
considers a method call delivered) on that acknowledgement. So `listen` and `method serve`
(and `twin watch`, through the same DeviceClient::stop_receiving) print or answer every message
that had already arrived when --count is reached:
"at least --count". These tests queue more than --count at the hub before the command starts,
and check hub-side that each one was printed or answered exactly once.
"""

import json
import os
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import device_util as du  # noqa: E402


def wait_for_log_lines(emu, substring, count, timeout=20):
    """Waits until `count` lines of the emulator's log contain `substring` (the hub's event)."""
    deadline = time.monotonic() + timeout
    with emu._lines_cv:
        while sum(substring in line for line in emu._stderr_chunks) < count:
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError("%d x %r not in the log:\n%s" % (count, substring, emu.stderr))
            emu._lines_cv.wait(left)


def bodies(stdout):
    return [json.loads(line)["body"] for line in stdout.splitlines() if line.strip()]


class CountDoesNotLoseTest(du.EmulatorTestCase):
    def queue_depth(self, device_id):
        status, _, dev = self.emu.rest("GET", "/devices/" + device_id)
        self.assertEqual(status, 200)
        return dev["cloudToDeviceMessageCount"]

    def test_listen_count_prints_every_acknowledged_message_once(self):
        cs = du.create_device(self.emu, "count-c2d")
        sent = ["m%d" % i for i in range(1, 4)]
        for body in sent:
            status, _, _ = self.emu.c2d_send("count-c2d", body, message_id=body)
            self.assertEqual(status, 200)
        self.assertEqual(self.queue_depth("count-c2d"), 3)

        first = du.run(["-o", "json", "listen", "--count", "1", "--timeout", "20s"] + du.tls_args(self.emu, cs))
        self.assertEqual(first.returncode, 0, first.stderr)
        printed = bodies(first.stdout)
        self.assertGreaterEqual(len(printed), 1)
        self.assertEqual(printed[0], "m1")

        rest = []
        if len(printed) < 3:
            second = du.run(["-o", "json", "listen", "--count", str(3 - len(printed)), "--timeout", "20s"]
                            + du.tls_args(self.emu, cs))
            self.assertEqual(second.returncode, 0, second.stderr)
            rest = bodies(second.stdout)
        # Every message exactly once across the two runs, in order, and the hub's queue is empty.
        self.assertEqual(printed + rest, sent)
        self.assertEqual(self.queue_depth("count-c2d"), 0)

    def test_method_serve_count_answers_every_call_that_arrived(self):
        cs = du.create_device(self.emu, "count-methods")
        results = {}

        def call(name):
            results[name] = du.invoke(self.emu, "count-methods", name, {"n": name}, timeout_s=15,
                                      connect_timeout_s=30)

        # Both calls wait at the hub for the device to come online; it gets both on subscribing.
        threads = [threading.Thread(target=call, args=(name,)) for name in ("first", "second")]
        for t in threads:
            t.start()
        wait_for_log_lines(self.emu, "method: count-methods not online", 2)
        serve = du.run(["-o", "json", "method", "serve", "--count", "1", "--status", "200", "--payload",
                        '{"ok":true}', "--timeout", "20s"] + du.tls_args(self.emu, cs))
        for t in threads:
            t.join(timeout=40)
        self.assertEqual(serve.returncode, 0, serve.stderr)
        records = [json.loads(line) for line in serve.stdout.splitlines() if line.strip()]
        self.assertEqual(sorted(r["method"] for r in records), ["first", "second"])
        for name in ("first", "second"):
            status, _, body = results[name]
            self.assertEqual(status, 200, (name, body))
            self.assertEqual(body["status"], 200, (name, body))
            self.assertEqual(body["payload"], {"ok": True})


if __name__ == "__main__":
    unittest.main()
