"""azhub service c2d send and monitor against azhub emulate, and their refusal on a host that
is not the emulator."""

import http.server
import json
import os
import shutil
import ssl
import subprocess
import tempfile
import threading
import unittest
import urllib.parse

from harness import Emulator, parse_connection_string
from service_helpers import ServiceCli, wait_for_stderr_line


def parse_bag(topic):
    bag = topic.split("/messages/devicebound/", 1)[1]
    out = {}
    for part in filter(None, bag.split("&")):
        k, _, v = part.partition("=")
        out[urllib.parse.unquote(k)] = urllib.parse.unquote(v)
    return out


class ServiceMessagesTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator(devices=["dev1", "dev2", "dev3", "dev4"]).start()
        cls.cli = ServiceCli(cls.emu)

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    # -- c2d send -------------------------------------------------------------------------------
    def test_c2d_send_with_properties_reaches_the_device(self):
        device = self.emu.connect_device("dev1")
        try:
            device.subscribe([("devices/dev1/messages/devicebound/#", 1)])
            proc = self.cli.run("c2d", "send", "dev1", "hello there", "--prop", "k=v w",
                                "--prop", "flag=", "--message-id", "m1", "--correlation-id", "c1",
                                "--content-type", "text/plain", "--content-encoding", "utf-8",
                                "--ack", "full", "--expiry", "10m")
            self.assertEqual(proc.returncode, 0, proc.stderr)
            self.assertIn("queued for dev1 (message id m1)", proc.stdout)
            msg = device.read_publish(timeout=10)
            device.puback(msg.packet_id)
            self.assertEqual(msg.payload, b"hello there")
            bag = parse_bag(msg.topic)
            self.assertEqual(bag["$.mid"], "m1")
            self.assertEqual(bag["$.cid"], "c1")
            self.assertEqual(bag["$.ct"], "text/plain")
            self.assertEqual(bag["$.ce"], "utf-8")
            self.assertEqual(bag["iothub-ack"], "full")
            self.assertEqual(bag["k"], "v w")
            self.assertEqual(bag["flag"], "")
            self.assertIn("$.exp", bag)
        finally:
            device.disconnect()

    def test_c2d_send_json_and_file(self):
        with tempfile.NamedTemporaryFile("wb", delete=False) as f:
            f.write(b"\x00\x01binary")
        try:
            doc = self.cli.json("c2d", "send", "dev2", "--file", f.name, "--message-id", "f1")
        finally:
            os.unlink(f.name)
        self.assertEqual(doc["deviceId"], "dev2")
        self.assertEqual(doc["messageId"], "f1")
        device = self.emu.connect_device("dev2")
        try:
            device.subscribe([("devices/dev2/messages/devicebound/#", 1)])
            msg = device.read_publish(timeout=10)
            device.puback(msg.packet_id)
            self.assertEqual(msg.payload, b"\x00\x01binary")
        finally:
            device.disconnect()

    def test_c2d_send_refusals(self):
        proc = self.cli.run("c2d", "send", "nobody", "x")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("DeviceNotFound (404001)", proc.stderr)
        for extra, needle in [(["--expiry", "soon"], "--expiry"),
                              (["--prop", "=v"], "--prop"),
                              (["--prop", "novalue"], "--prop 'novalue': expected NAME=VALUE"),
                              (["--ack", "always"], "--ack"),
                              (["--file", "/nonexistent"], "--file")]:
            with self.subTest(extra=extra):
                proc = self.cli.run("c2d", "send", "dev1", *extra)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(needle, proc.stderr)
        proc = self.cli.run("c2d", "send", "dev1", "x" * (64 * 1024 + 1))
        self.assertEqual(proc.returncode, 2)
        self.assertIn("IoT Hub accepts at most 65536", proc.stderr)

    # -- monitor --------------------------------------------------------------------------------
    def test_monitor_prints_messages_as_they_arrive(self):
        proc = self.cli.popen("monitor", "--device-id", "dev3", "--count", "2", "--timeout", "30",
                              json_out=True, verbose=1)
        wait_for_stderr_line(proc, "monitor: reading")  # every partition's consumer link attached
        device = self.emu.connect_device("dev3")
        other = self.emu.connect_device("dev1")
        try:
            other.publish("devices/dev1/messages/events/", b"not this one", qos=1)
            device.publish("devices/dev3/messages/events/%24.mid=a1&color=red", b'{"t":1}', qos=1)
            device.publish("devices/dev3/messages/events/", b"second", qos=1)
            out, err = proc.communicate(timeout=30)
        finally:
            device.disconnect()
            other.disconnect()
        self.assertEqual(proc.returncode, 0, err)
        messages = [json.loads(line) for line in out.splitlines()]
        self.assertEqual([m["body"] for m in messages], ['{"t":1}', "second"])
        self.assertEqual(messages[0]["deviceId"], "dev3")
        self.assertEqual(messages[0]["properties"], {"color": "red"})
        self.assertEqual(messages[0]["systemProperties"]["messageId"], "a1")
        self.assertLess(messages[0]["sequenceNumber"], messages[1]["sequenceNumber"])

    def test_monitor_replay_and_text_output(self):
        device = self.emu.connect_device("dev2")
        try:
            device.publish("devices/dev2/messages/events/unit=C", b"replayed", qos=1)
        finally:
            device.disconnect()
        proc = self.cli.run("monitor", "--device-id", "dev2", "--since-start", "--count", "1",
                            "--timeout", "20")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        first, *rest = proc.stdout.splitlines()
        self.assertRegex(first, r"^\d{4}-\d\d-\d\dT\S+ dev2 #\d+/\d+: replayed$")
        self.assertIn("  properties: unit=C", rest)
        partition, seq = first.split("#", 1)[1].split(":", 1)[0].split("/")
        doc = self.cli.json("monitor", "--partition", partition, "--from-sequence", seq, "--count", "1",
                            "--timeout", "20")
        self.assertEqual((doc["partition"], doc["sequenceNumber"]), (partition, int(seq)))
        self.assertEqual(doc["body"], "replayed")

    def test_monitor_over_the_emulators_rest_stream(self):
        device = self.emu.connect_device("dev4")
        try:
            device.publish("devices/dev4/messages/events/unit=K", b"over rest", qos=1)
        finally:
            device.disconnect()
        proc = self.cli.run("monitor", "--transport", "rest", "--device-id", "dev4", "--since-start", "--count", "1",
                            "--timeout", "20")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertRegex(proc.stdout.splitlines()[0], r"^\d{4}-\d\d-\d\dT\S+ dev4 #\d+: over rest$")
        proc = self.cli.run("monitor", "--transport", "rest", "--partition", "0", "--timeout", "1")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("need --transport amqp", proc.stderr)

    def test_monitor_timeout(self):
        proc = self.cli.run("monitor", "--device-id", "quiet", "--timeout", "1")
        self.assertEqual(proc.returncode, 4)
        self.assertIn("no message before --timeout 1", proc.stderr)
        proc = self.cli.run("monitor", "--count", "0")
        self.assertEqual(proc.returncode, 2)


class NotAnEmulator(http.server.BaseHTTPRequestHandler):
    """A hub stand-in that, like the real service, has no /_emulator paths."""
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def do_GET(self):
        body = json.dumps({"Message": json.dumps({"errorCode": 404000, "message": "no such path"}),
                           "ExceptionMessage": ""}).encode()
        self.send_response(404)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


@unittest.skipUnless(shutil.which("openssl"), "needs the openssl command to make a certificate")
class RealHubRefusalTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.tmp = tempfile.TemporaryDirectory()
        cls.cert = os.path.join(cls.tmp.name, "cert.pem")
        key = os.path.join(cls.tmp.name, "key.pem")
        subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-keyout", key,
                        "-out", cls.cert, "-days", "1", "-subj", "/CN=localhost",
                        "-addext", "subjectAltName=DNS:localhost"],
                       check=True, capture_output=True, timeout=60)
        cls.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), NotAnEmulator)
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.load_cert_chain(cls.cert, key)
        cls.server.socket = ctx.wrap_socket(cls.server.socket, server_side=True)
        cls.thread = threading.Thread(target=cls.server.serve_forever, daemon=True)
        cls.thread.start()

    @classmethod
    def tearDownClass(cls):
        cls.server.shutdown()
        cls.server.server_close()
        cls.tmp.cleanup()

    def run_service(self, *args):
        env = dict(os.environ)
        env["AZHUB_SERVICE_CONNECTION_STRING"] = (
            "HostName=localhost;SharedAccessKeyName=iothubowner;SharedAccessKey=" + "A" * 43 + "=")
        argv = [os.environ["AZHUB_BIN"], "service"] + list(args) + [
            "--port", str(self.server.server_address[1]), "--ca-file", self.cert]
        return subprocess.run(argv, capture_output=True, text=True, env=env, timeout=60)

    def test_emulator_paths_refuse_a_real_hub(self):
        # c2d send goes over AMQP to a real hub; only its --transport rest form and monitor use
        # the emulator's own REST paths.
        for args in (["c2d", "send", "dev1", "x", "--transport", "rest"], ["monitor", "--timeout", "5", "--transport", "rest"]):
            with self.subTest(args=args):
                proc = self.run_service(*args)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn("only over AMQP", proc.stderr)
                self.assertIn("azhub emulate", proc.stderr)


if __name__ == "__main__":
    unittest.main()
