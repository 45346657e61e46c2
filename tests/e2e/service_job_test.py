"""azhub service job schedule-twin|schedule-method|show|cancel|list against azhub emulate: IoT
Hub's jobs v2 (docs/protocol.md §17). Every outcome is checked at the hub too (twins over REST,
each device's part with `azhub service query ... FROM devices.jobs`), devices answer methods
over raw MQTT, and the durable-state class kills the emulator with SIGKILL mid-job.

Every wait is on an event (a process exit, a packet, a job status read with a deadline)."""

import base64
import datetime
import json
import os
import pty
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Emulator, free_state_dir  # noqa: E402
from service_helpers import ServiceCli  # noqa: E402

METHOD_TOPIC = re.compile(r"^\$iothub/methods/POST/([^/]+)/\?\$rid=(.+)$")
METHODS = "$iothub/methods/POST/#"
KEY = base64.b64encode(bytes(range(32))).decode()
FINISHED = ("completed", "failed", "cancelled")
# Method calls a method job keeps outstanding at once (emulator/hub_jobs.cpp, §17).
METHOD_PARALLEL = 100


def iso(epoch_s):
    return datetime.datetime.fromtimestamp(epoch_s, datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text):
    return datetime.datetime.strptime(text, "%Y-%m-%dT%H:%M:%S.%fZ").replace(
        tzinfo=datetime.timezone.utc).timestamp()


def ndjson(text):
    rows = [json.loads(line) for line in text.splitlines()]
    for row in rows:
        assert isinstance(row, dict), row
    return rows


def stats(job):
    return job["deviceJobStatistics"]


class JobTestMixin:
    """Helpers over self.emu / self.cli."""

    def get_job(self, job_id):
        status, _, body = self.emu.rest("GET", "/jobs/v2/" + job_id)
        self.assertEqual(status, 200, body)
        return body

    def wait_job(self, job_id, predicate, timeout=30.0, what="the job"):
        """Reads the job at the hub until predicate(job) holds; returns it."""
        deadline = time.monotonic() + timeout
        while True:
            job = self.get_job(job_id)
            if predicate(job):
                return job
            if time.monotonic() > deadline:
                raise AssertionError("%s: condition not reached within %.0fs: %s" % (what, timeout, json.dumps(job)))
            time.sleep(0.1)  # polling interval of the job read

    def wait_finished(self, job_id, timeout=30.0):
        return self.wait_job(job_id, lambda j: j["status"] in FINISHED, timeout)

    def device_jobs(self, job_id):
        """Each device's part of the job, by device id, through `azhub service query`."""
        proc = self.cli.run("query", "SELECT * FROM devices.jobs WHERE devices.jobs.jobId = '%s'" % job_id,
                            json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = ndjson(proc.stdout)
        by_device = {}
        for row in rows:
            self.assertEqual(row["jobId"], job_id, row)
            self.assertNotIn(row["deviceId"], by_device, "device listed twice: %r" % rows)
            by_device[row["deviceId"]] = row
        return by_device

    def twin(self, device_id):
        status, _, body = self.emu.rest("GET", "/twins/" + device_id)
        self.assertEqual(status, 200, body)
        return body

    def set_tags(self, device_id, tags):
        status, _, body = self.emu.rest("PATCH", "/twins/" + device_id, {"tags": tags})
        self.assertEqual(status, 200, body)

    def create_devices(self, ids, tags):
        """Bulk-creates devices with the known KEY and the given tags (100 per request)."""
        ids = list(ids)
        for i in range(0, len(ids), 100):
            batch = [{"id": d, "importMode": "create", "tags": tags,
                      "authentication": {"type": "sas", "symmetricKey": {"primaryKey": KEY, "secondaryKey": KEY}}}
                     for d in ids[i:i + 100]]
            status, _, result = self.emu.rest("POST", "/devices", batch)
            self.assertEqual((status, result.get("isSuccessful")), (200, True), result)

    def new_device(self, device_id):
        """Creates a device; its key is kept for method_device()."""
        identity = self.emu.create_device(device_id)
        self.keys[device_id] = identity["authentication"]["symmetricKey"]["primaryKey"]

    def method_device(self, device_id, key=None):
        """Connects as the device (raw MQTT) and subscribes to method requests."""
        if key is None:
            key = self.keys.get(device_id)
        c = self.emu.connect_device(device_id, key=key, clean_session=True)
        self.addCleanup(c.close)
        c.subscribe([(METHODS, 0)])
        return c

    def read_request(self, device, method, timeout=20.0):
        """The next method request on `device`: (rid, payload as JSON or None)."""
        request = device.read_publish(timeout=timeout)
        match = METHOD_TOPIC.match(request.topic)
        self.assertIsNotNone(match, request.topic)
        self.assertEqual(match.group(1), method)
        return match.group(2), (json.loads(request.payload) if request.payload else None)

    def answer(self, device, rid, status, payload):
        device.publish("$iothub/methods/res/%d/?$rid=%s" % (status, rid), json.dumps(payload).encode())


class ServiceJobTest(JobTestMixin, unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator().start()
        cls.cli = ServiceCli(cls.emu)
        cls.keys = {}

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    # -- 1. a twin job ----------------------------------------------------------------------------
    def test_schedule_twin_wait_updates_the_selected_devices_only(self):
        for d in ("tw-a", "tw-b", "tw-c", "tw-d"):
            self.emu.create_device(d)
        self.set_tags("tw-a", {"floor": 2, "room": "x"})
        self.set_tags("tw-b", {"floor": 2})
        self.set_tags("tw-c", {"floor": 3})
        before = {d: self.twin(d) for d in ("tw-a", "tw-b", "tw-c", "tw-d")}

        proc = self.cli.run("job", "schedule-twin", "--job-id", "twin-floor2", "--where", "tags.floor = 2",
                            "--desired", '{"fw":"2.0","cfg":{"rate":5}}', "--tags", '{"updated":true}',
                            "--wait", json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertEqual(len(lines), 1, proc.stdout)
        job = json.loads(lines[0])
        self.assertEqual(job["jobId"], "twin-floor2")
        self.assertEqual(job["type"], "scheduleUpdateTwin")
        self.assertEqual(job["status"], "completed")
        self.assertEqual(job["queryCondition"], "tags.floor = 2")
        self.assertEqual(stats(job), {"deviceCount": 2, "failedCount": 0, "succeededCount": 2,
                                      "runningCount": 0, "pendingCount": 0})
        self.assertIn("endTime", job)
        self.assertLessEqual(parse_time(job["startTime"]), parse_time(job["endTime"]))

        for d in ("tw-a", "tw-b"):
            twin = self.twin(d)
            self.assertEqual(twin["properties"]["desired"]["fw"], "2.0", twin)
            self.assertEqual(twin["properties"]["desired"]["cfg"], {"rate": 5}, twin)
            self.assertTrue(twin["tags"]["updated"], twin)
            self.assertEqual(twin["tags"]["floor"], 2, twin)  # merged, not replaced
            self.assertEqual(twin["properties"]["desired"]["$version"],
                             before[d]["properties"]["desired"]["$version"] + 1, twin)
        self.assertEqual(self.twin("tw-a")["tags"]["room"], "x")
        for d in ("tw-c", "tw-d"):
            twin = self.twin(d)
            self.assertEqual(twin["properties"]["desired"], before[d]["properties"]["desired"], twin)
            self.assertEqual(twin.get("tags"), before[d].get("tags"), twin)

        rows = self.device_jobs("twin-floor2")
        self.assertEqual(sorted(rows), ["tw-a", "tw-b"])
        for row in rows.values():
            self.assertEqual(row["status"], "completed", row)
            self.assertEqual(row["jobType"], "scheduleUpdateTwin", row)
            self.assertNotIn("error", row)

    # -- 2. a method job: one device answers, one is offline ------------------------------------------
    def test_schedule_method_wait_with_an_offline_device(self):
        for d in ("mj-on", "mj-off", "mj-other"):
            self.new_device(d)
        self.set_tags("mj-on", {"team": "meth"})
        self.set_tags("mj-off", {"team": "meth"})
        self.set_tags("mj-other", {"team": "other"})
        online = self.method_device("mj-on")
        bystander = self.method_device("mj-other")

        proc = self.cli.popen("job", "schedule-method", "--job-id", "meth-1", "--where", "tags.team = 'meth'",
                              "--method", "reboot", "--payload", '{"delay":5,"why":"job"}', "--timeout", "10s",
                              "--wait", json_out=True)
        try:
            rid, payload = self.read_request(online, "reboot")
            self.assertEqual(payload, {"delay": 5, "why": "job"})
            self.answer(online, rid, 200, {"rebooted": True, "n": 1})
            out, err = proc.communicate(timeout=60)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.communicate()
        self.assertEqual(proc.returncode, 1, err)
        self.assertIn("1 of 2 device(s) failed", err)
        job = json.loads(out)
        self.assertEqual(job["status"], "completed")
        self.assertEqual(stats(job), {"deviceCount": 2, "failedCount": 1, "succeededCount": 1,
                                      "runningCount": 0, "pendingCount": 0})
        self.assertEqual(job["cloudToDeviceMethod"]["methodName"], "reboot")
        self.assertEqual(job["cloudToDeviceMethod"]["payload"], {"delay": 5, "why": "job"})

        rows = self.device_jobs("meth-1")
        self.assertEqual(sorted(rows), ["mj-off", "mj-on"])
        self.assertEqual(rows["mj-on"]["status"], "completed", rows)
        self.assertEqual(rows["mj-on"]["jobType"], "scheduleDeviceMethod", rows)
        self.assertEqual(rows["mj-on"]["outcome"]["deviceMethodResponse"],
                         {"status": 200, "payload": {"rebooted": True, "n": 1}}, rows)
        self.assertNotIn("error", rows["mj-on"])
        self.assertEqual(rows["mj-off"]["status"], "failed", rows)
        self.assertEqual(rows["mj-off"]["error"]["code"], "DeviceNotOnline", rows)

        # Exactly once: the job has ended, so any second request would already be on its way.
        online.expect_no_packet(1.0)
        bystander.expect_no_packet(0.2)

    # -- 3. a scheduled job: queued, cancelled, listed ------------------------------------------------
    def test_future_job_queued_cancel_and_list(self):
        start = iso(time.time() + 3600)
        proc = self.cli.run("job", "schedule-twin", "--job-id", "later-1", "--where", "*",
                            "--desired", '{"later":1}', "--start", start, json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(json.loads(proc.stdout)["status"], "queued")

        proc = self.cli.run("job", "show", "later-1")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        job = json.loads(proc.stdout)  # text output is indented JSON
        self.assertEqual((job["jobId"], job["status"]), ("later-1", "queued"))
        self.assertEqual(parse_time(job["startTime"]), parse_time(start.replace("Z", ".000Z")))

        proc = self.cli.run("job", "cancel", "later-1", json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(json.loads(proc.stdout)["status"], "cancelled")
        self.assertEqual(self.get_job("later-1")["status"], "cancelled")

        proc = self.cli.run("job", "show", "later-1", "--wait", json_out=True, timeout=30)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("was cancelled", proc.stderr)
        self.assertEqual(json.loads(proc.stdout)["status"], "cancelled")

        # Cancelling a job that has ended prints it unchanged.
        proc = self.cli.run("job", "cancel", "later-1", json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(json.loads(proc.stdout)["status"], "cancelled")

        # Two more queued jobs: at least three in the hub.
        for job_id in ("later-2", "later-3"):
            proc = self.cli.run("job", "schedule-method", "--job-id", job_id, "--where", "*", "--method", "m",
                                "--start", start, json_out=True)
            self.assertEqual(proc.returncode, 0, proc.stderr)

        proc = self.cli.run("job", "list", "--status", "cancelled")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        cancelled = ndjson(proc.stdout)
        self.assertIn("later-1", [j["jobId"] for j in cancelled])
        self.assertTrue(all(j["status"] == "cancelled" for j in cancelled), cancelled)

        proc = self.cli.run("job", "list", "--type", "scheduleDeviceMethod", "--status", "queued")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        queued = [j["jobId"] for j in ndjson(proc.stdout)]
        self.assertIn("later-2", queued)
        self.assertIn("later-3", queued)
        self.assertNotIn("later-1", queued)

        proc = self.cli.run("job", "list")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        everything = [j["jobId"] for j in ndjson(proc.stdout)]
        self.assertGreaterEqual(len(everything), 3)
        proc = self.cli.run("job", "list", "--page-size", "1")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        paged_rows = ndjson(proc.stdout)
        paged = [j["jobId"] for j in paged_rows]
        self.assertEqual(len(paged), len(set(paged)), paged)  # each job exactly once
        self.assertEqual(paged, everything)
        for job_id in ("later-1", "later-2", "later-3"):
            self.assertIn(job_id, paged)
        created = [parse_time(j["createdTime"]) for j in paged_rows]
        self.assertEqual(created, sorted(created))  # oldest first
        # The hub did page: one job and a continuation token per request.
        status, headers, body = self.emu.rest("GET", "/jobs/v2/query", headers={"x-ms-max-item-count": "1"})
        self.assertEqual((status, len(body)), (200, 1), body)
        self.assertTrue(headers.get("x-ms-continuation"), headers)

    # -- 4. refusals ----------------------------------------------------------------------------------
    def assert_no_job(self, job_id):
        self.assertEqual(self.get_job(job_id), {"jobId": job_id, "type": "unknown", "status": "unknown"})

    def test_bad_where_names_the_position(self):
        proc = self.cli.run("job", "schedule-twin", "--job-id", "bad-where", "--where", "tags.floor = = 2",
                            "--desired", '{"a":1}')
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("ArgumentInvalid (400004)", proc.stderr)
        self.assertIn("column 14", proc.stderr)  # counted from the condition's start
        self.assertIn("'='", proc.stderr)
        self.assert_no_job("bad-where")

        proc = self.cli.run("job", "schedule-method", "--job-id", "bad-where2", "--where", "tags.floor 2",
                            "--method", "m")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("column 12", proc.stderr)
        self.assertIn("'2'", proc.stderr)
        self.assert_no_job("bad-where2")

    def test_bad_job_id_is_a_usage_error_before_connecting(self):
        # BUG (azhub CLI): a job id the hub would refuse exits 1, not 2. E.g.
        #   azhub service job show 'a b' --port 1
        # prints "azhub: error: job id 'a b': only ASCII letters, digits and '-' are allowed" (it
        # does not connect) but exits 1: build_{get,cancel,schedule}_job_request call
        # core::jobs::validate_job_id, which throws HubError(400004) (core/jobs.cpp refuse()),
        # and the CLI exits 1 for that as for a hub refusal. Expected exit 2 (usage error, as
        # the command's help says). Kept strict: this test fails until that is fixed.
        # Port 1 has no listener: a command that tried to connect would exit 3.
        no_hub = ["--port", "1", "--ca-file", self.emu.ca_file]
        for bad in ("a b", "x" * 65):
            for args in (["job", "show", bad],
                         ["job", "cancel", bad],
                         ["job", "schedule-twin", "--job-id", bad, "--where", "*", "--tags", '{"a":1}'],
                         ["job", "schedule-method", "--job-id", bad, "--where", "*", "--method", "m"]):
                with self.subTest(id=bad[:8], command=args[1]):
                    proc = self.cli.run(*(args + no_hub), connection=False)
                    self.assertEqual(proc.returncode, 2, proc.stderr)
                    self.assertIn("job id", proc.stderr)
        # 64 characters is the longest id the hub takes.
        longest = "y" * 64
        proc = self.cli.run("job", "schedule-twin", "--job-id", longest, "--where", "tags.none = 1",
                            "--tags", '{"a":1}', json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(json.loads(proc.stdout)["jobId"], longest)

    def test_usage_errors_before_connecting(self):
        no_hub = ["--port", "1", "--ca-file", self.emu.ca_file]
        for args, needle in [
                (["job", "schedule-twin", "--job-id", "u1", "--where", "*"], "--desired and/or --tags"),
                (["job", "schedule-twin", "--job-id", "u1", "--where", "*", "--desired", "{bad"], "--desired"),
                (["job", "schedule-twin", "--job-id", "u1", "--where", "*", "--tags", "[1]"], "--tags"),
                (["job", "schedule-twin", "--job-id", "u1", "--where", " ", "--tags", '{"a":1}'], "--where"),
                (["job", "schedule-twin", "--job-id", "u1", "--tags", '{"a":1}'], "--where"),
                (["job", "schedule-twin", "--job-id", "u1", "--where", "*", "--tags", '{"a":1}',
                  "--start", "tomorrow"], "--start"),
                (["job", "schedule-twin", "--job-id", "u1", "--where", "*", "--tags", '{"a":1}',
                  "--max-time", "1500ms"], "--max-time"),
                (["job", "schedule-method", "--job-id", "u1", "--where", "*"], "--method"),
                (["job", "schedule-method", "--job-id", "u1", "--where", "*", "--method", "m",
                  "--payload", "{bad"], "--payload"),
                (["job", "list", "--status", "bogus"], "--status"),
                (["job", "list", "--type", "bogus"], "--type")]:
            with self.subTest(args=args):
                proc = self.cli.run(*(args + no_hub), connection=False)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(needle, proc.stderr)
        self.assert_no_job("u1")

    def test_unknown_job(self):
        self.assert_no_job("nobody-job")  # GET answers 200 with unknown type and status
        proc = self.cli.run("job", "show", "nobody-job")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("job nobody-job does not exist", proc.stderr)
        self.assertEqual(proc.stdout, "")
        proc = self.cli.run("job", "show", "nobody-job", "--wait")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("does not exist", proc.stderr)
        proc = self.cli.run("job", "cancel", "nobody-job")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("JobNotFound (404002)", proc.stderr)
        self.assert_no_job("nobody-job")

    def test_existing_job_id_is_refused(self):
        proc = self.cli.run("job", "schedule-twin", "--job-id", "dup-1", "--where", "tags.none = 1",
                            "--tags", '{"first":1}', json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        first = self.wait_finished("dup-1")
        proc = self.cli.run("job", "schedule-method", "--job-id", "dup-1", "--where", "*", "--method", "m")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("JobAlreadyExists (409104)", proc.stderr)
        self.assertEqual(self.get_job("dup-1"), first)  # unchanged

    # -- 6. Ctrl-C during --wait ----------------------------------------------------------------------
    def test_sigint_during_show_wait_leaves_the_job_running(self):
        self.emu.create_device("sig-off")
        self.set_tags("sig-off", {"team": "sigint"})
        proc = self.cli.run("job", "schedule-method", "--job-id", "sig-1", "--where", "tags.team = 'sigint'",
                            "--method", "m", "--connect-timeout", "60s", json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.addCleanup(lambda: self.emu.rest("POST", "/jobs/v2/sig-1/cancel"))
        self.wait_job("sig-1", lambda j: j["status"] == "running" and stats(j)["runningCount"] == 1)

        # stderr on a terminal: `--wait` draws its progress line there once it is following the
        # job, the event this test waits for before the SIGINT.
        master, slave = pty.openpty()
        env = self.cli.env()
        env["TERM"] = "xterm"
        show = subprocess.Popen(self.cli.argv(["job", "show", "sig-1", "--wait"]), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=slave, text=True, env=env)
        os.close(slave)
        seen = bytearray()
        progress = threading.Event()

        def reader():
            while True:
                try:
                    chunk = os.read(master, 4096)
                except OSError:  # EIO: the terminal's last writer is gone
                    return
                if not chunk:
                    return
                seen.extend(chunk)
                if b"job sig-1: running" in seen:
                    progress.set()

        thread = threading.Thread(target=reader, daemon=True)
        thread.start()
        try:
            self.assertTrue(progress.wait(20), "no progress line; terminal got %r" % bytes(seen))
            started = time.monotonic()
            show.send_signal(signal.SIGINT)
            code = show.wait(timeout=10)
            elapsed = time.monotonic() - started
        finally:
            if show.poll() is None:
                show.kill()
                show.wait()
            show.stdout.close()
            thread.join(5)
            os.close(master)
        self.assertEqual(code, 130, bytes(seen))
        self.assertLess(elapsed, 5.0)
        self.assertIn(b"goes on in the hub", bytes(seen))
        job = self.get_job("sig-1")
        self.assertEqual(job["status"], "running", job)
        self.assertEqual(stats(job)["runningCount"], 1, job)


class JobDurabilityTest(JobTestMixin, unittest.TestCase):
    """`azhub emulate --state-dir`: jobs and their devices' parts survive kill -9."""

    def setUp(self):
        self.dir = free_state_dir()
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.emu = None

    def start(self):
        self.emu = Emulator(devices=["dur-1", "dur-2", "dur-3"], in_memory=False, state_dir=self.dir).start()
        self.cli = ServiceCli(self.emu)
        return self.emu

    def tearDown(self):
        if self.emu is not None:
            try:
                self.emu.stop()  # SIGTERM: a clean exit, jobs still outstanding or not
            finally:
                self.emu.kill()

    def restart_after_kill(self):
        self.emu.kill()
        self.assertEqual(self.emu.proc.returncode, -signal.SIGKILL)
        self.emu.stop(expect_code=None)  # closes its pipes
        return self.start()

    def test_completed_twin_job_survives_kill_9(self):
        self.start()
        self.set_tags("dur-1", {"floor": 2})
        self.set_tags("dur-2", {"floor": 2})
        proc = self.cli.run("job", "schedule-twin", "--job-id", "dur-twin", "--where", "tags.floor = 2",
                            "--desired", '{"fw":"9"}', "--wait", json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        job = json.loads(proc.stdout)
        self.assertEqual(job["status"], "completed")
        rows = self.device_jobs("dur-twin")
        self.assertEqual(sorted(rows), ["dur-1", "dur-2"])

        self.restart_after_kill()
        proc = self.cli.run("job", "show", "dur-twin", json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(json.loads(proc.stdout), job)
        self.assertEqual(self.device_jobs("dur-twin"), rows)
        self.assertEqual(self.twin("dur-1")["properties"]["desired"]["fw"], "9")
        self.assertNotIn("fw", self.twin("dur-3")["properties"]["desired"])
        proc = self.cli.run("job", "show", "dur-twin", "--wait", json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_scheduled_job_survives_kill_9_and_runs_at_its_start(self):
        self.start()
        self.set_tags("dur-3", {"floor": 7})
        start = int(time.time()) + 15  # room for a kill -9 and restart under a sanitizer build
        proc = self.cli.run("job", "schedule-twin", "--job-id", "dur-later", "--where", "tags.floor = 7",
                            "--tags", '{"ran":true}', "--start", iso(start), json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        accepted = json.loads(proc.stdout)
        self.assertEqual(accepted["status"], "queued")

        self.restart_after_kill()
        self.assertLess(time.time(), start, "the restart took too long for this test")
        job = self.get_job("dur-later")
        self.assertEqual(job["status"], "queued", job)
        self.assertEqual(job["startTime"], accepted["startTime"])
        self.assertEqual(job["createdTime"], accepted["createdTime"])
        self.assertNotIn("ran", self.twin("dur-3").get("tags", {}))

        job = self.wait_finished("dur-later", timeout=start - time.time() + 20)
        self.assertEqual(job["status"], "completed", job)
        self.assertEqual(stats(job)["deviceCount"], 1, job)
        self.assertEqual(stats(job)["succeededCount"], 1, job)
        self.assertGreaterEqual(parse_time(job["endTime"]), start)  # not before its start time
        self.assertGreaterEqual(time.time(), start)
        self.assertTrue(self.twin("dur-3")["tags"]["ran"])
        self.assertEqual(self.device_jobs("dur-later")["dur-3"]["status"], "completed")

    def test_method_call_in_flight_at_kill_9_is_failed_not_sent_again(self):
        # 1 connected device that never answers + 103 offline ones waiting to connect: the job
        # keeps METHOD_PARALLEL (100) calls outstanding, so at the kill 100 parts are running
        # and 4 are still pending.
        self.start()
        offline = ["b-%03d" % i for i in range(METHOD_PARALLEL + 3)]
        self.create_devices(["a-live"] + offline, {"team": "inflight"})
        live = self.method_device("a-live", key=KEY)
        proc = self.cli.run("job", "schedule-method", "--job-id", "dur-meth", "--where", "tags.team = 'inflight'",
                            "--method", "apply", "--payload", '{"v":1}', "--timeout", "60s",
                            "--connect-timeout", "60s", json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rid, payload = self.read_request(live, "apply")
        self.assertEqual(payload, {"v": 1})
        self.wait_job("dur-meth", lambda j: stats(j)["runningCount"] == METHOD_PARALLEL
                      and stats(j)["pendingCount"] == 4, what="100 calls outstanding")
        before = self.device_jobs("dur-meth")
        self.assertEqual(len(before), len(offline) + 1)
        self.assertEqual(before["a-live"]["status"], "running", before["a-live"])
        in_flight = sorted(d for d, row in before.items() if row["status"] == "running")
        pending = sorted(d for d, row in before.items() if row["status"] == "pending")
        self.assertEqual((len(in_flight), len(pending)), (METHOD_PARALLEL, 4))
        live.close()

        self.restart_after_kill()
        # The calls in flight at the kill are failed at the restart, before any is resent.
        after = self.device_jobs("dur-meth")
        for d in in_flight:
            self.assertEqual(after[d]["status"], "failed", after[d])
            self.assertEqual(after[d]["error"]["code"], "ServerError", after[d])
        live = self.method_device("a-live", key=KEY)

        # The pending devices still get their call: they connect now and answer.
        devices = {d: self.method_device(d, key=KEY) for d in pending}
        for d, c in devices.items():
            rid, payload = self.read_request(c, "apply")
            self.assertEqual(payload, {"v": 1})
            self.answer(c, rid, 200, {"device": d})
        job = self.wait_finished("dur-meth")
        self.assertEqual(job["status"], "completed", job)
        self.assertEqual(stats(job), {"deviceCount": len(offline) + 1, "failedCount": METHOD_PARALLEL,
                                      "succeededCount": 4, "runningCount": 0, "pendingCount": 0})
        rows = self.device_jobs("dur-meth")
        for d in pending:
            self.assertEqual(rows[d]["status"], "completed", rows[d])
            self.assertEqual(rows[d]["outcome"]["deviceMethodResponse"], {"status": 200, "payload": {"device": d}})
        self.assertEqual(rows["a-live"]["status"], "failed")
        self.assertEqual(rows["a-live"]["error"]["code"], "ServerError")
        # The job has ended: a second request to a-live would already have been sent.
        live.expect_no_packet(1.0)
        proc = self.cli.run("job", "show", "dur-meth", "--wait", json_out=True)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("100 of 104 device(s) failed", proc.stderr)


if __name__ == "__main__":
    unittest.main()
