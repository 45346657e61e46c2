"""azhub service c2d send and azhub service feedback over AMQP (docs/protocol.md §15) against
azhub emulate: both transports, the hub's refusals as exit codes, and the feedback contract —
a feedback message is acknowledged only after its records are printed, so a failed write, a
killed reader or a killed emulator (--state-dir) loses nothing."""

import json
import os
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Emulator, azhub_binary, free_state_dir  # noqa: E402
from service_helpers import ServiceCli, wait_for_stderr_line  # noqa: E402


def listen(emu, device_id, count):
    """Receives and completes `count` C2D messages as an MQTT device (azhub listen)."""
    cs = next(d["connectionString"] for d in emu.ready["devices"] if d["deviceId"] == device_id)
    proc = subprocess.run([azhub_binary(), "-o", "json", "listen", "-c", cs, "--port", str(emu.ports["mqtts"]),
                           "--ca-file", emu.ca_file, "--count", str(count), "--timeout", "20s"],
                          capture_output=True, text=True, timeout=60)
    if proc.returncode != 0:
        raise AssertionError("listen exit %d: %s" % (proc.returncode, proc.stderr))
    return [json.loads(line) for line in proc.stdout.splitlines()]


def records(text):
    return [json.loads(line) for line in text.splitlines() if line.strip()]


class C2dOverAmqpTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator(devices=["dev1", "dev2", "full"]).start()
        cls.cli = ServiceCli(cls.emu)

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def test_both_transports_reach_the_device(self):
        for transport in ("amqp", "amqp-ws"):
            with self.subTest(transport=transport):
                mid = "t-" + transport
                doc = self.cli.json("c2d", "send", "dev2", "over " + transport, "--transport", transport,
                                    "--message-id", mid, "--prop", "k=v", "--expiry", "10m")
                self.assertEqual(doc["deviceId"], "dev2")
                self.assertEqual(doc["messageId"], mid)
                self.assertIn("expiryTimeUtc", doc)
                got = listen(self.emu, "dev2", 1)[0]
                self.assertEqual(got["body"], "over " + transport)
                self.assertEqual(got["systemProperties"]["messageId"], mid)
                self.assertEqual(got["properties"]["k"], "v")
                self.assertIn("expiryTimeUtc", got["systemProperties"])

    def test_a_message_id_is_chosen_when_none_is_given(self):
        doc = self.cli.json("c2d", "send", "dev2", "no id")
        self.assertRegex(doc["messageId"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
        got = listen(self.emu, "dev2", 1)[0]
        self.assertEqual(got["systemProperties"]["messageId"], doc["messageId"])

    def test_refusals_are_the_hubs_errors(self):
        proc = self.cli.run("c2d", "send", "nobody", "x")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("DeviceNotFound (404001)", proc.stderr)
        self.assertIn("amqp:not-found", proc.stderr)
        self.assertEqual(len(proc.stderr.strip().splitlines()), 1, proc.stderr)

        for i in range(50):
            self.assertEqual(self.cli.run("c2d", "send", "full", "m%d" % i).returncode, 0)
        proc = self.cli.run("c2d", "send", "full", "one too many")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("DeviceMaximumQueueDepthExceeded (403004)", proc.stderr)
        self.assertEqual(self.emu.rest("GET", "/twins/full")[2]["cloudToDeviceMessageCount"], 50)

    def test_a_wrong_key_or_a_policy_without_service_connect_is_refused(self):
        parts = dict(p.split("=", 1) for p in self.emu.service_connection_string.split(";"))
        wrong = "HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s" % (parts["HostName"], "B" * 43 + "=")
        proc = self.cli.run("c2d", "send", "dev1", "x", connection_string=wrong)
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("IotHubUnauthorizedAccess (401002)", proc.stderr)
        self.assertIn("refused the token", proc.stderr)
        self.assertNotIn(parts["SharedAccessKey"], proc.stderr)

    def test_no_amqp_listener_is_a_connect_error(self):
        argv = self.cli.argv(["c2d", "send", "dev1", "x"])
        argv[argv.index("--amqp-port") + 1] = str(self.emu.ports["mqtt"])  # plain MQTT, not AMQP
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.cli.env(), timeout=60)
        self.assertEqual(proc.returncode, 3, proc.stderr)


class FeedbackTest(unittest.TestCase):
    def setUp(self):
        self.emu = Emulator(devices=["dev1"]).start()
        self.cli = ServiceCli(self.emu)

    def tearDown(self):
        self.emu.stop()

    def send_and_complete(self, ids, ack="full"):
        for mid in ids:
            self.assertEqual(self.cli.run("c2d", "send", "dev1", "b-" + mid, "--message-id", mid, "--ack", ack).returncode, 0)
        got = listen(self.emu, "dev1", len(ids))
        self.assertEqual([m["systemProperties"]["messageId"] for m in got], list(ids))

    def test_records_for_completed_messages_at_least_count_then_none(self):
        self.send_and_complete(["f1", "f2", "f3"])
        # The three records travel in one feedback message: --count 1 prints all of them.
        proc = self.cli.run("feedback", "--count", "1", "--timeout", "20s", json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        got = records(proc.stdout)
        self.assertEqual(sorted(r["originalMessageId"] for r in got), ["f1", "f2", "f3"])
        first = got[0]
        self.assertEqual(list(first), ["originalMessageId", "enqueuedTimeUtc", "statusCode", "description",
                                       "deviceId", "deviceGenerationId"])
        self.assertEqual(first["statusCode"], "Success")
        self.assertEqual(first["deviceId"], "dev1")
        # Accepted: a second reader gets nothing.
        proc = self.cli.run("feedback", "--timeout", "2s")
        self.assertEqual(proc.returncode, 4, proc.stderr)
        self.assertEqual(proc.stdout, "")
        self.assertIn("no feedback record before --timeout 2s", proc.stderr)

    def test_ack_positive_none_and_text_output(self):
        self.send_and_complete(["p1"], ack="positive")
        self.send_and_complete(["n1"], ack="none")
        self.send_and_complete(["g1"], ack="negative")  # completed: no feedback for negative
        proc = self.cli.run("feedback", "--count", "1", "--timeout", "20s", "--transport", "amqp-ws")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        lines = proc.stdout.splitlines()
        self.assertEqual(len(lines), 1, proc.stdout)
        self.assertRegex(lines[0], r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z Success dev1 message p1$")
        self.assertEqual(self.cli.run("feedback", "--timeout", "2s").returncode, 4)

    def test_purged_messages_report_purged(self):
        for mid in ("q1", "q2"):
            self.assertEqual(self.cli.run("c2d", "send", "dev1", "x", "--message-id", mid, "--ack", "negative").returncode, 0)
        status, _, _ = self.emu.rest("DELETE", "/devices/dev1/commands")
        self.assertIn(status, (200, 204))
        got = records(self.cli.run("feedback", "--count", "2", "--timeout", "20s", json_out=True).stdout)
        self.assertEqual({(r["originalMessageId"], r["statusCode"]) for r in got}, {("q1", "Purged"), ("q2", "Purged")})

    def test_a_failed_write_acknowledges_nothing(self):
        self.send_and_complete(["w1"])
        with open("/dev/full", "w") as full:
            proc = subprocess.run(self.cli.argv(["feedback", "--count", "1", "--timeout", "20s"]), stdout=full,
                                  stderr=subprocess.PIPE, text=True, env=self.cli.env(), timeout=60)
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("No space left on device", proc.stderr)
        got = records(self.cli.run("feedback", "--count", "1", "--timeout", "20s", json_out=True).stdout)
        self.assertEqual([r["originalMessageId"] for r in got], ["w1"])

    def test_a_renewed_token_keeps_the_stream_past_its_first_lifetime(self):
        # With --token-ttl 4s the first token expires 3-4 s after it is put (whole seconds), and
        # the emulator then closes the feedback link (amqp:unauthorized-access: exit 1). The
        # fresh token feedback puts at 2 s keeps it open; the second record, made after the
        # first token's expiry, is read on the same link.
        self.send_and_complete(["t1"])
        proc = self.cli.popen("feedback", "--count", "2", "--timeout", "30s", "--token-ttl", "4s", json_out=True)
        try:
            first = json.loads(proc.stdout.readline())
            self.assertEqual(first["originalMessageId"], "t1")
            time.sleep(5)  # past the first token's expiry: the behaviour under test is time-driven
            self.send_and_complete(["t2"])
            out, err = proc.communicate(timeout=30)
            self.assertEqual(proc.returncode, 0, err)
            self.assertEqual([r["originalMessageId"] for r in records(out)], ["t2"])
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    def test_token_ttl_is_checked(self):
        for bad, why in (("3s", "--token-ttl must be at least 4s"), ("soon", "--token-ttl")):
            proc = self.cli.run("feedback", "--token-ttl", bad, "--timeout", "2s")
            self.assertEqual(proc.returncode, 2, proc.stderr)
            self.assertIn(why, proc.stderr)

    def test_ctrl_c_ends_the_stream_promptly(self):
        proc = self.cli.popen("feedback", verbose=1)
        try:
            wait_for_stderr_line(proc, "amqp: connected to")
            started = time.monotonic()
            proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)
            self.assertLess(time.monotonic() - started, 2.0)
            self.assertEqual(proc.returncode, 130)
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait()


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class FixedPortEmulator(Emulator):
    """An emulator on fixed ports and a state directory, so that a restart keeps both."""

    def __init__(self, state_dir, ports):
        super().__init__(devices=["dev1", "dev2"], in_memory=False, state_dir=state_dir)
        self.fixed = ports

    def command(self):
        cmd = super().command()
        for flag, port in self.fixed.items():
            cmd[cmd.index(flag) + 1] = str(port)
        return cmd


class MonitorOverAmqpTest(unittest.TestCase):
    def test_a_dropped_connection_resumes_without_printing_anything_twice(self):
        state = free_state_dir()
        self.addCleanup(shutil.rmtree, state, True)
        ports = {"--mqtt-port": free_port(), "--https-port": free_port(), "--amqp-port": free_port()}
        emu = FixedPortEmulator(state, ports).start()
        cli = ServiceCli(emu)
        monitor = cli.popen("monitor", "--count", "4", "--timeout", "60s", json_out=True, verbose=1)
        try:
            wait_for_stderr_line(monitor, "monitor: reading")
            d1, d2 = emu.connect_device("dev1"), emu.connect_device("dev2")
            d1.publish("devices/dev1/messages/events/", b"one", qos=1)
            d2.publish("devices/dev2/messages/events/", b"two", qos=1)
            d1.disconnect()
            d2.disconnect()
            # Both printed before the hub goes away (the JSON lines arrive on stdout).
            lines = [monitor.stdout.readline(), monitor.stdout.readline()]
            emu.kill()
            emu = FixedPortEmulator(state, ports).start()
            wait_for_stderr_line(monitor, "monitor: reading", timeout=40)  # reconnected
            d1, d2 = emu.connect_device("dev1"), emu.connect_device("dev2")
            d1.publish("devices/dev1/messages/events/", b"three", qos=1)
            d2.publish("devices/dev2/messages/events/", b"four", qos=1)
            d1.disconnect()
            d2.disconnect()
            out, err = monitor.communicate(timeout=40)
            self.assertEqual(monitor.returncode, 0, err)
            bodies = [json.loads(line)["body"] for line in lines + out.splitlines()]
            self.assertEqual(sorted(bodies), ["four", "one", "three", "two"])
        finally:
            if monitor.poll() is None:
                monitor.kill()
                monitor.wait()
            emu.stop(expect_code=None)

    def test_a_renewed_token_keeps_the_links_past_its_first_lifetime(self):
        # As for feedback: the consumer links would close when the first 4 s token expires; the
        # token put again at 2 s keeps them, so monitor never reconnects.
        emu = Emulator(devices=["dev1"]).start()
        self.addCleanup(emu.stop)
        monitor = ServiceCli(emu).popen("monitor", "--count", "2", "--timeout", "30s", "--token-ttl", "4s",
                                        json_out=True, verbose=1)
        try:
            wait_for_stderr_line(monitor, "monitor: reading")
            d1 = emu.connect_device("dev1")
            d1.publish("devices/dev1/messages/events/", b"before", qos=1)
            first = json.loads(monitor.stdout.readline())
            self.assertEqual(first["body"], "before")
            time.sleep(5)  # past the first token's expiry: the behaviour under test is time-driven
            d1.publish("devices/dev1/messages/events/", b"after", qos=1)
            d1.disconnect()
            out, err = monitor.communicate(timeout=30)
            self.assertEqual(monitor.returncode, 0, err)
            self.assertEqual([json.loads(line)["body"] for line in out.splitlines()], ["after"])
            self.assertNotIn("reconnecting", err)
        finally:
            if monitor.poll() is None:
                monitor.kill()
                monitor.wait()

    def test_start_positions_and_device_filter(self):
        emu = Emulator(devices=["dev1", "dev2"]).start()
        self.addCleanup(emu.stop)
        cli = ServiceCli(emu)
        for device, body in (("dev1", b"a"), ("dev2", b"b"), ("dev1", b"c")):
            c = emu.connect_device(device)
            c.publish("devices/%s/messages/events/" % device, body, qos=1)
            c.disconnect()
        got = records(cli.run("monitor", "--since-start", "--count", "3", "--timeout", "20s", json_out=True).stdout)
        self.assertEqual(sorted(r["body"] for r in got), ["a", "b", "c"])
        dev1 = [r for r in got if r["deviceId"] == "dev1"]
        self.assertEqual([r["sequenceNumber"] for r in dev1], [0, 1])
        self.assertEqual(dev1[0]["partition"], dev1[1]["partition"])
        self.assertEqual(dev1[0]["annotations"]["iothub-message-source"], "Telemetry")
        only = records(cli.run("monitor", "--since-start", "--device-id", "dev2", "--count", "1", "--timeout", "20s",
                               json_out=True).stdout)
        self.assertEqual([r["body"] for r in only], ["b"])
        after = dev1[0]["enqueuedTime"]
        later = records(cli.run("monitor", "--enqueued-after", after, "--device-id", "dev1", "--count", "1",
                                "--timeout", "20s", json_out=True).stdout)
        self.assertEqual([r["body"] for r in later], ["c"])
        proc = cli.run("monitor", "--partition", "9", "--timeout", "5s")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("Partition '9' does not exist", proc.stderr)
        proc = cli.run("monitor", "--partition", "9", "--since-start", "--timeout", "5s")
        self.assertEqual(proc.returncode, 1, proc.stderr)
        self.assertIn("amqp:not-found", proc.stderr)


class FeedbackDurabilityTest(unittest.TestCase):
    def test_records_survive_kill_9_of_the_emulator(self):
        state = free_state_dir()
        try:
            emu = Emulator(devices=["dev1"], in_memory=False, state_dir=state).start()
            cli = ServiceCli(emu)
            try:
                self.assertEqual(cli.run("c2d", "send", "dev1", "x", "--message-id", "k1", "--ack", "full").returncode, 0)
                listen(emu, "dev1", 1)
            finally:
                emu.kill()
            db = sqlite3.connect(os.path.join(state, "emulator.db"))
            try:
                self.assertEqual(db.execute("SELECT COUNT(*) FROM feedback").fetchone()[0], 1)
            finally:
                db.close()
            emu = Emulator(in_memory=False, state_dir=state).start()
            try:
                got = records(ServiceCli(emu).run("feedback", "--count", "1", "--timeout", "20s", json_out=True).stdout)
                self.assertEqual([(r["originalMessageId"], r["statusCode"]) for r in got], [("k1", "Success")])
            finally:
                emu.stop()
        finally:
            shutil.rmtree(state, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
