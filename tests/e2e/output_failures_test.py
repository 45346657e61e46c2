"""Failed output is never silent: a closed stdout, a full disk (/dev/full) or a pipe whose reader
has gone stops the command with exit 1 and one line naming the problem; a closed stdin does not
disturb a command that does not read it."""

import os
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import device_util as du  # noqa: E402
from service_helpers import ServiceCli  # noqa: E402

KEY = "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA="
SAS = [du.azhub(), "sas", "--hub", "h.example", "--device-id", "d1", "--key", KEY]


def run_shell(script, timeout=60):
    """Runs `script` under sh (for >&- and <&-), returning the CompletedProcess."""
    return subprocess.run(["sh", "-c", script], capture_output=True, text=True, timeout=timeout)


def quote(args):
    return " ".join("'%s'" % a.replace("'", "'\\''") for a in args)


class StdoutFailureTest(unittest.TestCase):
    def test_sas_with_stdout_closed_fails(self):
        r = run_shell(quote(SAS) + " >&-")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr.strip(), "azhub: error: writing to stdout: stdout is closed")

    def test_sas_to_a_full_disk_fails(self):
        r = run_shell(quote(SAS) + " >/dev/full")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr.strip(), "azhub: error: writing to stdout: No space left on device")

    def test_help_to_a_full_disk_fails(self):
        r = run_shell(quote([du.azhub(), "--help"]) + " >/dev/full")
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertIn("No space left on device", r.stderr)

    def test_sas_key_never_in_the_error(self):
        r = run_shell(quote(SAS) + " >/dev/full")
        self.assertNotIn(KEY, r.stderr)


class WithEmulatorTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = harness.Emulator()
        cls.emu.start()
        cls.cs = du.create_device(cls.emu, "out1")
        cls.cli = ServiceCli(cls.emu)

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def test_service_twin_show_to_a_full_disk_fails(self):
        argv = self.cli.argv(["twin", "show", "out1"])
        r = subprocess.run(["sh", "-c", quote(argv) + " >/dev/full"], capture_output=True, text=True,
                           timeout=60, env=self.cli.env())
        self.assertEqual(r.returncode, 1, r.stderr)
        self.assertEqual(r.stderr.strip(), "azhub: error: writing to stdout: No space left on device")

    def test_monitor_into_head_stops_when_head_exits(self):
        # One message waits at the hub; `monitor | head -1` must end once head has its line,
        # without --timeout and without another message (whose write would fail) arriving.
        r = du.run(["send", "m0"] + du.tls_args(self.emu, self.cs))
        self.assertEqual(r.returncode, 0, r.stderr)
        argv = self.cli.argv(["monitor", "--device-id", "out1", "--since-start"], json_out=True)
        started = time.monotonic()
        r = subprocess.run(["bash", "-c", "set -o pipefail; " + quote(argv) + " | head -1"],
                           capture_output=True, text=True, timeout=30, env=self.cli.env())
        elapsed = time.monotonic() - started
        self.assertEqual(len(r.stdout.splitlines()), 1, r.stdout)
        self.assertIn('"body":"m0"', r.stdout)
        self.assertEqual(r.returncode, 1, r.stderr)  # azhub's status, through pipefail
        self.assertIn("writing to stdout: the reader closed the pipe", r.stderr)
        self.assertLess(elapsed, 20)  # bounded by the subprocess timeout, not a figure

    def test_send_with_stdin_closed(self):
        # A closed stdin used to become Paho's socket 0, and the connect then timed out.
        r = subprocess.run(["sh", "-c", quote([du.azhub(), "send", "x"] + du.tls_args(self.emu, self.cs))
                            + " <&-"], capture_output=True, text=True, timeout=60)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stderr, "")


if __name__ == "__main__":
    unittest.main()
