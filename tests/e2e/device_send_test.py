"""azhub send against azhub emulate: what reaches the hub (properties, ids, bodies), QoS, the
refusals that happen before anything is sent, and authentication failures."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import device_util as du  # noqa: E402


class DeviceSendTest(du.EmulatorTestCase):
    def device(self, name):
        return du.create_device(self.emu, "send-" + name)

    def test_properties_and_ids_reach_the_hub(self):
        cs = self.device("props")
        r = du.run(["send"] + du.tls_args(self.emu, cs) +
                   ["--prop", "alert=true", "--prop", "zone=a b", "--content-type", "application/json",
                    "--content-encoding", "utf-8", "--message-id", "m-{{seq}}", "--correlation-id", "c1",
                    "--count", "3", '{"n":{{seq}}}'])
        self.assertEqual(r.returncode, 0, r.stderr)
        msgs = du.d2c_messages(self.emu, "send-props", want=3)
        self.assertEqual([m["body"] for m in msgs], ['{"n":1}', '{"n":2}', '{"n":3}'])
        self.assertEqual([m["systemProperties"]["messageId"] for m in msgs], ["m-1", "m-2", "m-3"])
        for m in msgs:
            self.assertEqual(m["properties"], {"alert": "true", "zone": "a b"})
            self.assertEqual(m["systemProperties"]["contentType"], "application/json")
            self.assertEqual(m["systemProperties"]["contentEncoding"], "utf-8")
            self.assertEqual(m["systemProperties"]["correlationId"], "c1")

    def test_json_output_one_line_per_acknowledged_message_with_generated_uuids(self):
        cs = self.device("json")
        r = du.run(["-o", "json", "send"] + du.tls_args(self.emu, cs) + ["--count", "5", "x"])
        self.assertEqual(r.returncode, 0, r.stderr)
        acks = [json.loads(l) for l in r.stdout.splitlines()]
        self.assertEqual(sorted(a["seq"] for a in acks), [1, 2, 3, 4, 5])
        for a in acks:
            self.assertRegex(a["messageId"], r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
            self.assertGreaterEqual(a["latencyMs"], 0)
        self.assertEqual(len({a["messageId"] for a in acks}), 5)
        hub_ids = [m["systemProperties"]["messageId"] for m in du.d2c_messages(self.emu, "send-json", want=5)]
        self.assertEqual(sorted(hub_ids), sorted(a["messageId"] for a in acks))

    def test_lines_from_stdin_and_file_body(self):
        cs = self.device("lines")
        r = du.run(["send", "--lines"] + du.tls_args(self.emu, cs), input="one\ntwo\nthree\n")
        self.assertEqual(r.returncode, 0, r.stderr)
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write('{"from":"file"}')
        try:
            r = du.run(["send", "--file", f.name, "--qos", "0"] + du.tls_args(self.emu, cs))
        finally:
            os.unlink(f.name)
        self.assertEqual(r.returncode, 0, r.stderr)
        bodies = [m["body"] for m in du.d2c_messages(self.emu, "send-lines", want=4)]
        self.assertEqual(bodies, ["one", "two", "three", '{"from":"file"}'])

    def test_an_oversized_stdin_line_is_named_and_ends_the_run(self):
        cs = self.device("big-line")
        r = du.run(["send", "--lines"] + du.tls_args(self.emu, cs),
                   input="first\n" + "x" * (256 * 1024 + 1) + "\nnever\n")
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("stdin line 2 is 262181 bytes (body and properties); IoT Hub accepts at most 262144", r.stderr)
        # What came before the bad line was sent and acknowledged; nothing after it.
        self.assertEqual([m["body"] for m in du.d2c_messages(self.emu, "send-big-line", want=1)], ["first"])

    def test_websockets_transport(self):
        cs = self.device("ws")
        r = du.run(["send", "-c", cs, "--transport", "ws", "--port", str(self.emu.ports["https"]),
                    "--ca-file", self.emu.ca_file, "over websockets"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(du.d2c_messages(self.emu, "send-ws", want=1)[0]["body"], "over websockets")

    def test_plain_tcp_with_no_tls(self):
        cs = self.device("tcp")
        r = du.run(["send", "-c", cs, "--no-tls", "--port", str(self.emu.ports["mqtt"]), "plain"])
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(du.d2c_messages(self.emu, "send-tcp", want=1)[0]["body"], "plain")

    def test_bad_input_is_refused_before_connecting(self):
        cs = self.device("refused")
        with tempfile.NamedTemporaryFile("w", delete=False) as f:
            f.write("x" * (256 * 1024 + 1))
        self.big_file = f.name
        self.addCleanup(os.unlink, f.name)
        cases = [
            (["--qos", "2", "x"], "QoS 2 is not supported by IoT Hub; use 0 or 1"),
            (["--prop", "bad name=1", "x"], "--prop: property name 'bad name'"),
            (["--prop", "novalue", "x"], "--prop 'novalue': expected NAME=VALUE"),
            (["--file", self.big_file], "IoT Hub accepts at most 262144"),
            ([], "no message body"),
            (["--interval", "1s", "--rate", "5/s", "x"], "--interval and --rate cannot be combined"),
            (["--count", "0", "x"], "--count 0: must be at least 1"),
            (["--count", "-1", "x"], "--count -1: must be at least 1"),
            (["--file", os.path.dirname(os.path.abspath(__file__))], "it is a directory"),
            (["--file", "/nonexistent/body"], "--file: cannot read '/nonexistent/body': No such file"),
            (["--interval", "soon", "x"], "--interval"),
        ]
        for extra, message in cases:
            with self.subTest(extra=extra[:3]):
                r = du.run(["send"] + du.tls_args(self.emu, cs) + extra)
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(message, r.stderr)
                self.assertEqual(len(r.stderr.strip().splitlines()), 1, r.stderr)
        status, _, body = self.emu.rest("GET", "/_emulator/messages/events?device=send-refused")
        self.assertEqual(body["messages"], [])

    def test_wrong_key_is_not_authorized_exit_3(self):
        self.device("auth")
        bad = "HostName=localhost;DeviceId=send-auth;SharedAccessKey=" + "A" * 43 + "="
        r = du.run(["send"] + du.tls_args(self.emu, bad) + ["x"])
        self.assertEqual(r.returncode, 3, r.stderr)
        self.assertIn("not authorized", r.stderr)
        self.assertNotIn("AAAAAAAA", r.stderr)

    def test_unreachable_port_is_exit_3(self):
        cs = self.device("unreachable")
        import socket
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
        s.close()
        r = du.run(["send"] + du.tls_args(self.emu, cs, port=port) + ["x"])
        self.assertEqual(r.returncode, 3, r.stderr)

    def test_untrusted_server_certificate_is_exit_3(self):
        cs = self.device("untrusted")
        r = du.run(["send", "-c", cs, "--port", str(self.emu.ports["mqtts"]), "x"])
        self.assertEqual(r.returncode, 3, r.stderr)

    def test_many_messages_pipelined_at_qos1(self):
        cs = self.device("many")
        r = du.run(["send"] + du.tls_args(self.emu, cs) + ["--count", "500", "m{{seq}}"], timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        bodies = [m["body"] for m in du.d2c_messages(self.emu, "send-many", want=500)]
        self.assertEqual(bodies, ["m%d" % i for i in range(1, 501)])

    def test_token_command_and_model_id(self):
        cs = self.device("tokcmd")
        key = harness.parse_connection_string(cs)["SharedAccessKey"]
        token = harness.device_sas_token("localhost", "send-tokcmd", key)
        r = du.run(["send", "--hub", "localhost", "--device-id", "send-tokcmd",
                    "--token-command", "printf '%s' \"$TOK\"", "--model-id", "dtmi:com:example:Thermostat;1",
                    "--port", str(self.emu.ports["mqtts"]), "--ca-file", self.emu.ca_file, "-v", "tok"],
                   env={"TOK": token})
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertNotIn(token, r.stderr)
        self.assertEqual(du.d2c_messages(self.emu, "send-tokcmd", want=1)[0]["body"], "tok")


if __name__ == "__main__":
    unittest.main()
