"""azhub method serve against azhub emulate: handler and fixed answers as the service sees them."""

import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import device_util as du  # noqa: E402

HANDLER = r'''
payload=$(cat)
case "$AZHUB_METHOD_NAME" in
  echo) printf '{"got":%s,"rid":"%s"}' "$payload" "$AZHUB_REQUEST_ID" ;;
  empty) ;;
  fail) echo "disk full" >&2; exit 3 ;;
  slow) sleep 30 ;;
  notjson) echo "hello" ;;
esac
'''


class DeviceMethodTest(du.EmulatorTestCase):
    def serve(self, device_id, extra):
        cs = du.create_device(self.emu, device_id)
        server = du.Running(["-v", "-o", "json", "method", "serve", "--timeout", "60s"] + extra
                            + du.tls_args(self.emu, cs))
        self.addCleanup(server.stop)
        server.wait_stderr("waiting for direct methods")
        return server

    def test_handler_answers(self):
        server = self.serve("method-handler", ["--handler", HANDLER, "--handler-timeout", "2s",
                                               "--method", "echo", "--method", "empty",
                                               "--method", "fail", "--method", "slow",
                                               "--method", "notjson", "--count", "6"])
        cases = [
            ("echo", {"a": 1}, 200, lambda p, rid: p["got"] == {"a": 1} and p["rid"] != ""),
            ("empty", None, 200, lambda p, rid: p is None),
            ("fail", None, 500, lambda p, rid: p == {"error": "disk full"}),
            ("slow", None, 504, lambda p, rid: "timed out" in p["error"]),
            ("notjson", None, 500, lambda p, rid: "not JSON" in p["error"]),
            ("other", None, 404, lambda p, rid: "not handled" in p["error"]),
        ]
        for name, payload, status, check in cases:
            with self.subTest(method=name):
                code, _, body = du.invoke(self.emu, "method-handler", name, payload)
                self.assertEqual(code, 200, body)
                self.assertEqual(body["status"], status, body)
                self.assertTrue(check(body["payload"], None), body)
                record = server.next_json()
                self.assertEqual(set(record), {"method", "rid", "status", "durationMs", "outcome"})
                self.assertEqual(record["method"], name)
                self.assertEqual(record["status"], status)
                self.assertGreaterEqual(record["durationMs"], 0)
        self.assertEqual(server.wait(), 0, server.stderr)

    def test_fixed_answer_and_count(self):
        server = self.serve("method-fixed", ["--status", "201", "--payload", '{"ok":true}', "--count", "2"])
        for _ in range(2):
            code, _, body = du.invoke(self.emu, "method-fixed", "anything", {"x": 1})
            self.assertEqual(code, 200, body)
            self.assertEqual(body, {"status": 201, "payload": {"ok": True}})
        self.assertEqual(server.wait(), 0, server.stderr)

    def test_text_mode_logs_each_call_on_stderr(self):
        cs = du.create_device(self.emu, "method-text")
        server = du.Running(["-v", "method", "serve", "--status", "200", "--count", "1",
                             "--timeout", "30s"] + du.tls_args(self.emu, cs))
        self.addCleanup(server.stop)
        server.wait_stderr("waiting for direct methods")
        code, _, body = du.invoke(self.emu, "method-text", "reboot")
        self.assertEqual(body["status"], 200)
        self.assertEqual(server.wait(), 0)
        self.assertIn("method reboot (rid", server.stderr)
        self.assertEqual(server.proc.stdout.read() if not server.proc.stdout.closed else "", "")

    def test_usage_errors(self):
        cs = du.create_device(self.emu, "method-usage")
        for extra, message in [([], "say how to answer"),
                               (["--handler", "true", "--status", "200"], "cannot be combined"),
                               (["--status", "200", "--payload", "{bad"], "--payload: invalid JSON"),
                               (["--status", "200", "--method", "a b"], "--method")]:
            with self.subTest(extra=extra):
                r = du.run(["method", "serve"] + extra + du.tls_args(self.emu, cs))
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(message, r.stderr)

    def test_timeout_without_calls_is_exit_4(self):
        cs = du.create_device(self.emu, "method-timeout")
        r = du.run(["method", "serve", "--status", "200", "--count", "1", "--timeout", "1s"]
                   + du.tls_args(self.emu, cs))
        self.assertEqual(r.returncode, 4, r.stderr)


if __name__ == "__main__":
    unittest.main()
