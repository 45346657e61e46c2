"""examples/*.sh and scripts/tour.sh run against the built azhub.

The examples run against this file's one emulator (AZHUB_EMULATOR_READY, their "use a running
emulator" mode); the tour always starts its own (that is what it shows), with AZHUB_BIN set so it
skips the build. Every script must exit 0 and print the results it claims; the failure tests
check that a broken setup or an interruption ends non-zero and leaves no process behind.
"""

import json
import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Emulator, azhub_binary  # noqa: E402

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
EXAMPLES = os.path.join(ROOT, "examples")
SCRIPT_TIMEOUT = 120


def script_env(**extra):
    """The environment a user would have: azhub first on PATH, no stray azhub settings."""
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("AZHUB_", "IOTHUB_")) and k != "NO_COLOR"}
    binary = os.path.abspath(azhub_binary())
    env["PATH"] = os.path.dirname(binary) + os.pathsep + env.get("PATH", "")
    env.update(extra)
    return env


def session_processes(sid):
    """PIDs still alive in session `sid` (the script ran as its leader)."""
    out = subprocess.run(["ps", "-e", "-o", "pid=,sid="], capture_output=True, text=True).stdout
    return [int(p) for p, s in (line.split() for line in out.splitlines()) if int(s) == sid]


class ScriptRunner:
    def run_script(self, argv, env, stdin=subprocess.DEVNULL, expect_code=0):
        """Runs a script in its own session; asserts its exit code and that it left no process
        behind; returns (stdout, stderr)."""
        proc = subprocess.Popen(argv, cwd=ROOT, env=env, stdin=stdin, stdout=subprocess.PIPE,
                                stderr=subprocess.PIPE, text=True, start_new_session=True)
        try:
            out, err = proc.communicate(timeout=SCRIPT_TIMEOUT)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            out, err = proc.communicate()
            self.fail("%s still running after %ds\nstdout:\n%s\nstderr:\n%s"
                      % (argv, SCRIPT_TIMEOUT, out, err))
        self.assertEqual(proc.returncode, expect_code,
                         "%s exited %s\nstdout:\n%s\nstderr:\n%s" % (argv, proc.returncode, out, err))
        self.assertNoLeftovers(proc.pid)
        return out, err

    def assertNoLeftovers(self, sid):
        deadline = time.monotonic() + 5
        while session_processes(sid) and time.monotonic() < deadline:
            time.sleep(0.1)  # a killed child may take a moment to be reaped; not synchronisation
        left = session_processes(sid)
        if left:
            for pid in left:
                os.kill(pid, signal.SIGKILL)
            self.fail("processes left behind: %s" % left)


class ExamplesTest(ScriptRunner, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator().start()
        cls.ready = json.dumps(cls.emu.ready)

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def run_example(self, name, *args, expect_code=0, **env):
        env.setdefault("AZHUB_EMULATOR_READY", self.ready)
        return self.run_script(["bash", os.path.join(EXAMPLES, name), *args], script_env(**env),
                               expect_code=expect_code)

    def test_ci_smoke_test(self):
        out, _ = self.run_example("ci-smoke-test.sh")
        for check in ("sas token accepted by the hub", "telemetry with properties", "c2d message",
                      "twin get and reported patch", "desired update reached the device",
                      "direct method"):
            self.assertIn(check, out)
        self.assertIn('"telemetryInterval":5', out)
        self.assertTrue(out.rstrip().endswith("all 7 checks passed"), out)

    def test_ci_smoke_test_refuses_a_bad_ready_line(self):
        _, err = self.run_example("ci-smoke-test.sh", expect_code=1,
                                  AZHUB_EMULATOR_READY='{"event":"stopped"}')
        self.assertIn("ci-smoke-test: error: AZHUB_EMULATOR_READY: expected the line printed by", err)

    def test_ci_smoke_test_from_a_ready_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".json") as f:
            f.write(self.ready + "\n")
            f.flush()
            out, _ = self.run_example("ci-smoke-test.sh", AZHUB_EMULATOR_READY=f.name)
        self.assertIn("all 7 checks passed", out)

    def test_ci_smoke_test_fails_on_a_wrong_result(self):
        # An azhub whose `listen` garbles the C2D body: the smoke test must notice and say so.
        with tempfile.TemporaryDirectory() as wrapper_dir:
            wrapper = os.path.join(wrapper_dir, "azhub")
            with open(wrapper, "w") as f:
                f.write('#!/bin/bash\nif [[ $1 == listen ]]; then\n'
                        '  "$REAL_AZHUB" "$@" | sed "s/led on/led off/"; exit "${PIPESTATUS[0]}"\n'
                        'fi\nexec "$REAL_AZHUB" "$@"\n')
            os.chmod(wrapper, 0o755)
            env = script_env(AZHUB_EMULATOR_READY=self.ready,
                             REAL_AZHUB=os.path.abspath(azhub_binary()))
            env["PATH"] = wrapper_dir + os.pathsep + env["PATH"]
            out, err = self.run_script(["bash", os.path.join(EXAMPLES, "ci-smoke-test.sh")], env,
                                       expect_code=1)
        self.assertIn("ok 3 - telemetry with properties", out)
        self.assertNotIn("c2d message", out)
        self.assertIn("ci-smoke-test: error: c2d body: expected to find\n    led on\n  in\n    led off", err)

    def test_method_handler_demo(self):
        out, err = self.run_example("method-handler.sh")
        self.assertIn('"state": "running"', out)
        self.assertIn('"scheduled": true', out)
        self.assertIn('"error": "reboot: delaySeconds must be a whole number of seconds"', out)
        self.assertIn("(exit status 1: the handler refused the call)", out)
        self.assertIn("500 handler failed (exit 1)", out)
        self.assertIn("the device answered method reboot with status 500", err)

    def handler(self, method, payload, expect_code=0):
        proc = subprocess.run(["bash", os.path.join(EXAMPLES, "method-handler.sh")], input=payload,
                              capture_output=True, text=True, timeout=30,
                              env=script_env(AZHUB_METHOD_NAME=method, AZHUB_REQUEST_ID="7"))
        self.assertEqual(proc.returncode, expect_code, proc.stderr)
        return proc.stdout, proc.stderr

    def test_method_handler_as_azhub_runs_it(self):
        out, _ = self.handler("reboot", '{"delaySeconds": 12}')
        self.assertEqual(json.loads(out), {"scheduled": True, "delaySeconds": 12})
        self.assertEqual(json.loads(self.handler("reboot", "null")[0])["delaySeconds"], 0)
        self.assertEqual(json.loads(self.handler("echo", '{"a":[1,2]}')[0]), {"a": [1, 2]})
        status = json.loads(self.handler("getStatus", "null")[0])
        self.assertEqual((status["state"], status["requestId"]), ("running", "7"))
        _, err = self.handler("reboot", '{"delaySeconds":"soon"}', expect_code=1)
        self.assertEqual(err, "reboot: delaySeconds must be a whole number of seconds\n")
        _, err = self.handler("selfDestruct", "null", expect_code=1)
        self.assertEqual(err, "unknown method 'selfDestruct'\n")

    def test_stream_sensor_file(self):
        out, _ = self.run_example("stream-sensor-file.sh")
        self.assertIn("sent 20 messages, every one acknowledged", out)
        self.assertIn("the hub received all 20 lines", out)
        self.assertIn('"properties":{"line":"20","source":"sensor-file"}', out)

    def test_stream_sensor_file_given_a_file(self):
        with tempfile.NamedTemporaryFile("w", suffix=".txt") as f:
            f.write("first reading\nsecond reading\nthird, no newline")
            f.flush()
            out, _ = self.run_example("stream-sensor-file.sh", f.name)
        self.assertIn("sent 3 messages", out)
        self.assertIn('"body":"third, no newline"', out)

    def test_watch_desired_reconfigure(self):
        out, _ = self.run_example("watch-desired-reconfigure.sh")
        self.assertIn("[agent] agent: applied logLevel=info", out)
        self.assertIn("[agent] agent: applied logLevel=debug", out)
        self.assertIn("the twin reports logLevel=debug, acknowledged with ac=200", out)

    def device_ids(self):
        status, _, devices = self.emu.rest("GET", "/devices")
        self.assertEqual(status, 200)
        return sorted(d["deviceId"] for d in devices)

    def test_examples_delete_their_devices(self):
        before = self.device_ids()
        out, _ = self.run_example("ci-smoke-test.sh")
        self.assertIn("ok 1 - device create ci-smoke-", out)
        self.assertEqual(self.device_ids(), before)


class TourTest(ScriptRunner, unittest.TestCase):
    def tour_argv(self):
        return ["bash", os.path.join(ROOT, "scripts", "tour.sh")]

    def test_tour(self):
        out, err = self.run_script(self.tour_argv(), script_env(AZHUB_BIN=azhub_binary()))
        steps = ["1. Start the emulator", "2. Register a device", "3. A SAS token",
                 "4. Telemetry with properties", "5. Reported properties", "6. Desired properties",
                 "7. A direct method", "8. A cloud-to-device message", "9. Stop the emulator"]
        positions = [out.find(s) for s in steps]
        self.assertNotIn(-1, positions, out)
        self.assertEqual(positions, sorted(positions))
        for expected in ("$ azhub service device create thermostat-01 $SVC",
                         "HostName=localhost;DeviceId=thermostat-01;SharedAccessKey=",
                         "SharedAccessSignature sr=localhost%2Fdevices%2Fthermostat-01&sig=",
                         "[monitor] ", "properties: reading=2 unit=celsius",
                         '"firmware": "1.4.2"',
                         '[watch] {"desired":{"$version":2,"telemetryInterval":5}',
                         '"scheduled": true', "method getStatus (rid 2): 200 handled",
                         "[listen] led on", "[listen]   color=green", "Tour complete"):
            self.assertIn(expected, out)
        self.assertNotIn("\x1b[", out, "colour on a pipe")
        self.assertNotIn("SharedAccessKeyName=iothubowner", out + err)

    def test_tour_fails_loudly_without_a_binary(self):
        _, err = self.run_script(self.tour_argv(), script_env(AZHUB_BIN="/nonexistent/azhub"),
                                 expect_code=1)
        self.assertIn("tour: error: no azhub binary at /nonexistent/azhub", err)

    def test_tour_interrupted_stops_everything(self):
        proc = subprocess.Popen(self.tour_argv(), cwd=ROOT, env=script_env(AZHUB_BIN=azhub_binary()),
                                stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                stderr=subprocess.DEVNULL, text=True, start_new_session=True)
        try:
            seen = []
            for line in proc.stdout:  # wait until a device command runs against the emulator
                seen.append(line)
                if line.startswith("4. Telemetry"):
                    break
            self.assertTrue(seen and seen[-1].startswith("4. Telemetry"), "".join(seen))
            proc.send_signal(signal.SIGINT)
            proc.stdout.read()
            self.assertEqual(proc.wait(timeout=30), 130)
        finally:
            if proc.poll() is None:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()
            proc.stdout.close()
        self.assertNoLeftovers(proc.pid)


if __name__ == "__main__":
    unittest.main()
