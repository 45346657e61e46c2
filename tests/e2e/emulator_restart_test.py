"""azhub emulate with --state-dir: everything acknowledged survives kill -9 (registry, twins,
queued C2D, persistent MQTT sessions, keys, the CA), and a clean restart reuses it."""

import json
import os
import shutil
import subprocess
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Emulator, azhub_binary, device_sas_token, encode_publish, free_state_dir  # noqa: E402
from service_helpers import ServiceCli  # noqa: E402


class RestartTest(unittest.TestCase):
    def setUp(self):
        self.dir = free_state_dir()

    def tearDown(self):
        shutil.rmtree(self.dir, ignore_errors=True)

    def start(self, commit_delay_ms=None):
        extra = ["--commit-delay", str(commit_delay_ms)] if commit_delay_ms is not None else []
        return Emulator(devices=["dev1"], in_memory=False, state_dir=self.dir, extra_args=extra).start()

    def test_kill_9_loses_nothing_acknowledged(self):
        emu = self.start()
        try:
            self.assertEqual(emu.ready["stateDir"], os.path.abspath(self.dir))
            ca = open(emu.ca_file).read()
            key = emu.device_key("dev1")
            service = emu.service_connection_string
            # Acknowledged writes: registry (HTTP 200), twin desired (200), reported (204 over
            # MQTT), C2D (200), a persistent session with a C2D subscription (SUBACK).
            dev2_key = emu.create_device("dev2")["authentication"]["symmetricKey"]["primaryKey"]
            status, _, _ = emu.rest("PATCH", "/twins/dev1", {"tags": {"t": 1}, "properties": {"desired": {"d": 2}}})
            self.assertEqual(status, 200)
            c = emu.connect_device("dev1", clean_session=False)
            c.subscribe([("$iothub/twin/res/#", 0), ("devices/dev1/messages/devicebound/#", 1)])
            c.publish("$iothub/twin/PATCH/properties/reported/?$rid=1", b'{"r":3}')
            self.assertEqual(c.read_publish().topic, "$iothub/twin/res/204/?$rid=1&$version=2")
            # A delivered but unacknowledged message and a queued one.
            self.assertEqual(emu.c2d_send("dev1", b"first", message_id="c1")[0], 200)
            self.assertEqual(c.read_publish().payload, b"first")
            c.close()
            self.assertEqual(emu.c2d_send("dev1", b"second", message_id="c2")[0], 200)
            c = emu.connect_device("dev2", key=dev2_key)
            c.publish("devices/dev2/messages/events/", b"telemetry", qos=1)
        finally:
            emu.kill()

        emu = self.start()
        try:
            self.assertEqual(open(emu.ca_file).read(), ca)
            self.assertEqual(emu.device_key("dev1"), key)
            self.assertEqual(emu.service_connection_string, service)
            status, _, twin = emu.rest("GET", "/twins/dev1")
            self.assertEqual(status, 200, twin)
            self.assertEqual(twin["tags"], {"t": 1})
            self.assertEqual(twin["properties"]["desired"]["d"], 2)
            self.assertEqual(twin["properties"]["reported"]["r"], 3)
            status, _, dev2 = emu.rest("GET", "/devices/dev2")
            self.assertEqual(status, 200, dev2)
            self.assertEqual([m["body"] for m in emu.events(0, "dev2")], ["telemetry"])
            # The persistent session resumes: both messages arrive without a SUBSCRIBE.
            c = emu.connect_device("dev1", clean_session=False)
            self.assertTrue(c.connack.session_present)
            got = [c.read_publish(), c.read_publish()]
            self.assertEqual([p.payload for p in got], [b"first", b"second"])
            self.assertTrue(got[0].dup)
            for p in got:
                c.puback(p.packet_id)
            c.ping()
            c.disconnect()
        finally:
            emu.stop()

        # A clean stop, then a start: the completions were durable too.
        emu = self.start()
        try:
            status, _, dev = emu.rest("GET", "/devices/dev1")
            self.assertEqual(dev["cloudToDeviceMessageCount"], 0, json.dumps(dev))
        finally:
            emu.stop()

    def test_kill_9_loses_nothing_acknowledged_over_https(self):
        # The device-facing HTTPS API (docs/protocol.md §6.2): telemetry answered 204, a C2D
        # message completed (204) and one rejected with iothub-ack=full (their feedback
        # records), and one received but not settled when the emulator is killed.
        emu = self.start()
        try:
            token = device_sas_token(emu.host_name, "dev1", emu.device_key("dev1"))

            def device(method, path, raw=None):
                return emu.rest(method, path, raw=raw, token=token, api_version="2020-09-30")

            for i in range(5):
                self.assertEqual(device("POST", "/devices/dev1/messages/events", raw=b"h%d" % i)[0], 204)
            for mid in ("done", "nope", "held"):
                self.assertEqual(emu.c2d_send("dev1", mid.encode(), message_id=mid, ack="full")[0], 200)
            locks = [device("GET", "/devices/dev1/messages/deviceBound")[1]["etag"].strip('"') for _ in range(3)]
            self.assertEqual(device("DELETE", "/devices/dev1/messages/deviceBound/" + locks[0])[0], 204)
            self.assertEqual(device("DELETE", "/devices/dev1/messages/deviceBound/%s?reject" % locks[1])[0], 204)
        finally:
            emu.kill()

        emu = self.start()
        try:
            self.assertEqual([m["body"] for m in emu.events(0, "dev1")], ["h0", "h1", "h2", "h3", "h4"])
            token = device_sas_token(emu.host_name, "dev1", emu.device_key("dev1"))
            # The held message is still queued (its lock did not survive), and only it.
            status, headers, body = emu.rest("GET", "/devices/dev1/messages/deviceBound", token=token,
                                             api_version="2020-09-30")
            self.assertEqual((status, headers["iothub-messageid"], body), (200, "held", b"held"))
            self.assertEqual(emu.rest("GET", "/devices/dev1/messages/deviceBound", token=token,
                                      api_version="2020-09-30")[0], 204)
            status, _, records = emu.rest("GET", "/messages/serviceBound/feedback", api_version="2020-09-30")
            self.assertEqual(status, 200)
            self.assertEqual(sorted((r["originalMessageId"], r["statusCode"]) for r in records),
                             [("done", "Success"), ("nope", "Rejected")])
        finally:
            emu.stop()

    def test_acknowledgements_wait_for_the_group_commit(self):
        # Group commit (docs/conventions.md §6) with a long window: a PUBACK and an HTTP 200
        # leave only once what they acknowledge is committed, so killing the emulator right
        # after them loses nothing; a message whose PUBACK is still held is not acknowledged,
        # and a kill then may lose it (the device sends it again).
        emu = self.start(commit_delay_ms=4000)
        try:
            status, _, _ = emu.rest("PATCH", "/twins/dev1", {"tags": {"kept": True}}, timeout=30)
            self.assertEqual(status, 200)
            c = emu.connect_device("dev1", clean_session=True)
            puback = c.publish("devices/dev1/messages/events/", b"acknowledged", qos=1, timeout=30)
            self.assertEqual(puback.kind, "PUBACK")
            c.send_raw(encode_publish("devices/dev1/messages/events/", b"held", qos=1, packet_id=77))
            # Its PUBACK waits for the commit, 4 s after the capture (bounded negative check).
            c.expect_no_packet(timeout=1.0)
        finally:
            emu.kill()

        emu = self.start()
        try:
            self.assertEqual(emu.rest("GET", "/twins/dev1")[2]["tags"], {"kept": True})
            self.assertEqual([m["body"] for m in emu.events(0, "dev1")], ["acknowledged"])
        finally:
            emu.stop()

    def test_an_amqp_disposition_waits_for_the_group_commit(self):
        # `service c2d send` exits 0 once the hub's disposition accepted the message; with a
        # 4 s commit window that is after the commit, so a kill right then loses nothing.
        emu = self.start(commit_delay_ms=4000)
        try:
            sent = ServiceCli(emu).run("c2d", "send", "dev1", "queued", "--message-id", "q1")
            self.assertEqual(sent.returncode, 0, sent.stderr)
        finally:
            emu.kill()

        emu = self.start()
        try:
            c = emu.connect_device("dev1", clean_session=True)
            c.subscribe([("devices/dev1/messages/devicebound/#", 1)])
            self.assertEqual(c.read_publish().payload, b"queued")
            c.disconnect()
        finally:
            emu.stop()

    def test_commit_delay_needs_a_state_directory(self):
        r = subprocess.run([azhub_binary(), "emulate", "--in-memory", "--commit-delay", "5"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--commit-delay applies to a state directory", r.stderr)
        r = subprocess.run([azhub_binary(), "emulate", "--state-dir", self.dir, "--commit-delay", "20000"],
                           capture_output=True, text=True, timeout=30)
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("--commit-delay", r.stderr)

    def test_in_memory_leaves_nothing_behind(self):
        emu = Emulator(devices=["dev1"]).start()
        ca_dir = os.path.dirname(emu.ca_file)
        self.assertIsNone(emu.ready["stateDir"])
        self.assertTrue(os.path.exists(emu.ca_file))
        emu.stop()
        self.assertFalse(os.path.exists(ca_dir))


if __name__ == "__main__":
    unittest.main()
