"""azhub service device create|show|list|delete against azhub emulate."""

import json
import socket
import subprocess
import unittest

from harness import Emulator, parse_connection_string
from service_helpers import ServiceCli

THUMB1 = "A" * 40
THUMB2 = "b" * 64


class ServiceDeviceTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator(devices=["dev1"]).start()
        cls.cli = ServiceCli(cls.emu)

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def test_create_prints_a_connection_string_the_device_can_use(self):
        proc = self.cli.run("device", "create", "new-sas")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        cs = parse_connection_string(proc.stdout.strip())
        self.assertEqual(cs["HostName"], self.emu.host_name)
        self.assertEqual(cs["DeviceId"], "new-sas")
        self.assertEqual(len(cs["SharedAccessKey"]), 44)
        client = self.emu.connect_device("new-sas", key=cs["SharedAccessKey"])
        client.disconnect()

    def test_create_json_has_no_keys_but_the_connection_string(self):
        doc = self.cli.json("device", "create", "new-json", "--status", "disabled")
        self.assertEqual(doc["deviceId"], "new-json")
        self.assertEqual(doc["status"], "disabled")
        self.assertNotIn("symmetricKey", doc["authentication"])
        key = parse_connection_string(doc["connectionString"])["SharedAccessKey"]
        self.assertNotIn(key, json.dumps({k: v for k, v in doc.items() if k != "connectionString"}))

    def test_create_with_own_keys(self):
        primary = "A" * 43 + "="
        proc = self.cli.run("device", "create", "own-keys", "--primary-key", primary,
                            "--secondary-key", "B" * 43 + "=")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(parse_connection_string(proc.stdout.strip())["SharedAccessKey"], primary)

    def test_create_x509_thumbprint(self):
        proc = self.cli.run("device", "create", "cam1", "--auth", "x509-thumbprint",
                            "--primary-thumbprint", THUMB1, "--secondary-thumbprint", THUMB2)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertEqual(proc.stdout.strip(), "HostName=%s;DeviceId=cam1;x509=true" % self.emu.host_name)
        doc = self.cli.json("device", "show", "cam1")
        self.assertEqual(doc["authentication"]["type"], "selfSigned")
        self.assertEqual(doc["authentication"]["x509Thumbprint"]["primaryThumbprint"].upper(), THUMB1)

    def test_create_x509_ca(self):
        doc = self.cli.json("device", "create", "cadev", "--auth", "x509-ca")
        self.assertEqual(doc["authentication"]["type"], "certificateAuthority")
        self.assertTrue(doc["connectionString"].endswith(";x509=true"))

    def test_create_refusals(self):
        proc = self.cli.run("device", "create", "bad", "--auth", "x509-thumbprint")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--primary-thumbprint", proc.stderr)
        proc = self.cli.run("device", "create", "bad", "--auth", "x509")
        self.assertEqual(proc.returncode, 2)
        proc = self.cli.run("device", "create", "bad id")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("device id", proc.stderr)

    def test_create_existing_device_fails(self):
        proc = self.cli.run("device", "create", "dev1")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("DeviceAlreadyExists (409001)", proc.stderr)
        self.assertTrue(proc.stderr.startswith("azhub: error: "), proc.stderr)

    def test_show_hides_keys_unless_asked(self):
        key = self.emu.device_key("dev1")
        proc = self.cli.run("device", "show", "dev1")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertNotIn(key, proc.stdout)
        doc = json.loads(proc.stdout)  # text form is indented JSON
        self.assertEqual(doc["deviceId"], "dev1")
        self.assertEqual(doc["authentication"]["type"], "sas")
        shown = self.cli.json("device", "show", "dev1", "--show-keys")
        self.assertEqual(shown["authentication"]["symmetricKey"]["primaryKey"], key)

    def test_show_unknown_device(self):
        proc = self.cli.run("device", "show", "nobody")
        self.assertEqual(proc.returncode, 1)
        self.assertRegex(proc.stderr, r"^azhub: error: DeviceNotFound \(404001\): .+\n$")

    def test_ids_with_special_characters_round_trip(self):
        for device_id in ["a#b", "x%y", "q?r$s", "p+q=r;"]:
            with self.subTest(device_id=device_id):
                self.assertEqual(self.cli.run("device", "create", device_id).returncode, 0)
                self.assertEqual(self.cli.json("device", "show", device_id)["deviceId"], device_id)
                self.assertEqual(self.cli.run("device", "delete", device_id).returncode, 0)

    def test_list(self):
        self.assertEqual(self.cli.run("device", "create", "listed").returncode, 0)
        proc = self.cli.run("device", "list")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = {line.split()[0]: line.split() for line in proc.stdout.splitlines()}
        self.assertEqual(rows["listed"][1:], ["enabled", "Disconnected", "sas"])
        self.assertIn("dev1", rows)
        proc = self.cli.run("device", "list", json_out=True)
        self.assertEqual(proc.returncode, 0, proc.stderr)
        devices = [json.loads(line) for line in proc.stdout.splitlines()]
        self.assertIn("listed", [d["deviceId"] for d in devices])
        self.assertNotIn(self.emu.device_key("dev1"), proc.stdout)
        proc = self.cli.run("device", "list", "--top", "1", json_out=True)
        self.assertEqual(len(proc.stdout.splitlines()), 1)

    def test_delete(self):
        self.assertEqual(self.cli.run("device", "create", "gone").returncode, 0)
        proc = self.cli.run("device", "delete", "gone")
        self.assertEqual((proc.returncode, proc.stdout), (0, "deleted gone\n"), proc.stderr)
        self.assertEqual(self.cli.run("device", "show", "gone").returncode, 1)
        proc = self.cli.run("device", "delete", "gone")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("DeviceNotFound (404001)", proc.stderr)

    def test_delete_with_etag(self):
        doc = self.cli.json("device", "create", "etagged")
        proc = self.cli.run("device", "delete", "etagged", "--etag", "not-the-etag")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("PreconditionFailed (412001)", proc.stderr)
        self.assertEqual(self.cli.run("device", "delete", "etagged", "--etag", doc["etag"]).returncode, 0)

    def test_wrong_key_is_an_authentication_failure(self):
        cs = parse_connection_string(self.emu.service_connection_string)
        bad = "HostName=%s;SharedAccessKeyName=%s;SharedAccessKey=%s" % (
            cs["HostName"], cs["SharedAccessKeyName"], "A" * 43 + "=")
        proc = self.cli.run("device", "show", "dev1", connection_string=bad)
        self.assertEqual(proc.returncode, 3, proc.stderr)
        self.assertIn("401", proc.stderr)
        self.assertNotIn("A" * 43, proc.stderr)

    def test_connection_string_errors(self):
        proc = self.cli.run("device", "show", "dev1", connection_string="")
        self.assertEqual(proc.returncode, 2)
        self.assertIn("AZHUB_SERVICE_CONNECTION_STRING", proc.stderr)
        device_cs = self.emu.device_connection_string("dev1")
        proc = self.cli.run("device", "show", "dev1", connection_string=device_cs)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("policy", proc.stderr)
        self.assertNotIn(self.emu.device_key("dev1"), proc.stderr)
        # -c wins over the environment
        proc = self.cli.run("device", "show", "dev1", "-c", self.emu.service_connection_string,
                            connection_string=device_cs)
        self.assertEqual(proc.returncode, 0, proc.stderr)

    def test_tls_needs_the_emulator_ca(self):
        argv = [a for a in self.cli.argv(["device", "show", "dev1"]) if a != self.emu.ca_file]
        argv.remove("--ca-file")
        proc = subprocess.run(argv, capture_output=True, text=True, env=self.cli.env(), timeout=60)
        self.assertEqual(proc.returncode, 3)
        self.assertIn("certificate verification", proc.stderr)

    def test_nothing_listening_is_a_connection_failure(self):
        with socket.socket() as s:  # a port that was free a moment ago and is closed now
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        proc = self.cli.run("device", "show", "dev1", "--port", str(port), connection=False)
        self.assertEqual(proc.returncode, 3)
        self.assertIn("could not connect to localhost:%d" % port, proc.stderr)

    def test_missing_ca_file(self):
        proc = self.cli.run("device", "show", "dev1", "--port", str(self.emu.ports["https"]),
                            "--ca-file", "/nonexistent/ca.pem", connection=False)
        self.assertEqual(proc.returncode, 2)
        self.assertIn("--ca-file", proc.stderr)


if __name__ == "__main__":
    unittest.main()
