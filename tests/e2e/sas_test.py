#!/usr/bin/env python3
"""End-to-end tests of `azhub sas`: the real binary, its stdout, stderr and exit codes.

Tokens are compared with the shared vectors (tests/data/sas-vectors.json) and with an
independent Python implementation of docs/protocol.md §3.2. The last class checks that the
emulator accepts a token printed by `azhub sas` (a real MQTT CONNECT over TLS).

Environment: AZHUB_BIN (the built azhub, set by CTest), AZHUB_TEST_DATA (tests/data).
"""

import base64
import datetime
import hashlib
import hmac
import json
import os
import subprocess
import sys
import tempfile
import time
import unittest
import urllib.parse

HERE = os.path.dirname(os.path.abspath(__file__))
AZHUB = os.environ.get("AZHUB_BIN", "azhub")
DATA = os.environ.get("AZHUB_TEST_DATA", os.path.join(HERE, "..", "data"))

HOST = "contoso-hub.azure-devices.net"
# A distinctive key, so that "the key never appears" can be checked on every output.
KEY = base64.b64encode(hashlib.sha256(b"azhub e2e sas key").digest()).decode()
DEVICE_CS = "HostName=%s;DeviceId=dev1;SharedAccessKey=%s" % (HOST, KEY)
MODULE_CS = "HostName=%s;DeviceId=gw;ModuleId=cam;SharedAccessKey=%s" % (HOST, KEY)
SERVICE_CS = "HostName=%s;SharedAccessKeyName=iothubowner;SharedAccessKey=%s" % (HOST, KEY)
CLEAN_ENV_NAMES = ("AZHUB_CONNECTION_STRING", "IOTHUB_DEVICE_CONNECTION_STRING", "AZHUB_DEVICE_KEY",
                   "AZHUB_OUTPUT")


def expected_token(resource_uri, key, expiry, policy=None):
    """docs/protocol.md §3.2, written independently of the C++ code."""
    sr = urllib.parse.quote(resource_uri, safe="")
    mac = hmac.new(base64.b64decode(key), ("%s\n%d" % (sr, expiry)).encode(), hashlib.sha256)
    sig = urllib.parse.quote(base64.b64encode(mac.digest()).decode(), safe="")
    token = "SharedAccessSignature sr=%s&sig=%s&se=%d" % (sr, sig, expiry)
    return token + ("&skn=" + policy if policy else "")


def run(args, env=None, stdin=None):
    full_env = {k: v for k, v in os.environ.items() if k not in CLEAN_ENV_NAMES}
    full_env.update(env or {})
    return subprocess.run([AZHUB] + list(args), env=full_env, input=stdin, capture_output=True,
                          text=True, timeout=30)


class SasTestCase(unittest.TestCase):
    def assert_ok(self, result, past=False):
        """Exit 0, one line on stdout; stderr empty, or only the past-expiry warning if `past`."""
        self.assertEqual(result.returncode, 0, msg="stderr: %r" % result.stderr)
        if past:
            self.assertRegex(result.stderr, r"^azhub: warning: --expiry \d+ \(\S+\) is in the past; "
                                            r"IoT Hub will refuse this token\n$")
        else:
            self.assertEqual(result.stderr, "")
        self.assertTrue(result.stdout.endswith("\n"))
        self.assertEqual(result.stdout.count("\n"), 1, msg=result.stdout)
        return result.stdout[:-1]

    def assert_no_key(self, result, key=KEY):
        self.assertNotIn(key, result.stdout)
        self.assertNotIn(key, result.stderr)


class TokenTests(SasTestCase):
    def test_device_from_connection_string(self):
        r = run(["sas", "-c", DEVICE_CS, "--expiry", "1900000000"])
        self.assertEqual(self.assert_ok(r), expected_token(HOST + "/devices/dev1", KEY, 1900000000))
        self.assert_no_key(r)

    def test_module_from_connection_string(self):
        r = run(["sas", "-c", MODULE_CS, "--expiry", "1900000000"])
        self.assertEqual(self.assert_ok(r),
                         expected_token(HOST + "/devices/gw/modules/cam", KEY, 1900000000))

    def test_device_and_module_from_flags(self):
        r = run(["sas", "--hub", HOST, "--device-id", "gw", "--module-id", "cam", "--key", KEY,
                 "--expiry", "1900000000"])
        self.assertEqual(self.assert_ok(r),
                         expected_token(HOST + "/devices/gw/modules/cam", KEY, 1900000000))
        self.assert_no_key(r)

    def test_ids_that_need_encoding(self):
        for device in ("dev 1", "a#b", "x$y", "s*t", "50%off", "dev:01@site.b", "a+b"):
            with self.subTest(device=device):
                r = run(["sas", "--hub", HOST, "--device-id", device, "--key", KEY,
                         "--expiry", "1900000000"])
                self.assertEqual(self.assert_ok(r),
                                 expected_token(HOST + "/devices/" + device, KEY, 1900000000))

    def test_policy_token_for_the_hub(self):
        r = run(["sas", "-c", SERVICE_CS, "--expiry", "1900000000"])
        self.assertEqual(self.assert_ok(r), expected_token(HOST, KEY, 1900000000, "iothubowner"))
        r = run(["sas", "--hub", HOST, "--policy", "service", "--key", KEY, "--expiry", "1900000000"])
        self.assertEqual(self.assert_ok(r), expected_token(HOST, KEY, 1900000000, "service"))
        self.assert_no_key(r)

    def test_policy_token_for_one_device(self):
        r = run(["sas", "-c", SERVICE_CS, "--device-id", "dev1", "--expiry", "1900000000"])
        self.assertEqual(self.assert_ok(r),
                         expected_token(HOST + "/devices/dev1", KEY, 1900000000, "iothubowner"))
        r = run(["sas", "--device-id", "dev1", "--expiry", "1900000000"],
                env={"AZHUB_CONNECTION_STRING": SERVICE_CS})
        self.assertEqual(self.assert_ok(r),
                         expected_token(HOST + "/devices/dev1", KEY, 1900000000, "iothubowner"))
        r = run(["sas", "-c", SERVICE_CS, "--policy", "iothubowner", "--device-id", "gw",
                 "--module-id", "cam", "--expiry", "1900000000"])
        self.assertEqual(self.assert_ok(r), expected_token(HOST + "/devices/gw/modules/cam", KEY,
                                                           1900000000, "iothubowner"))
        r = run(["sas", "--hub", HOST, "--policy", "device", "--device-id", "dev1", "--key", KEY,
                 "--expiry", "1900000000"])
        self.assertEqual(self.assert_ok(r),
                         expected_token(HOST + "/devices/dev1", KEY, 1900000000, "device"))

    def test_shared_vectors(self):
        with open(os.path.join(DATA, "sas-vectors.json"), encoding="utf-8") as f:
            vectors = json.load(f)["vectors"]
        checked = 0
        for v in vectors:
            expiry = str(v["expiry"])
            if v["device_id"] is None and v["policy_name"] and v["resource_uri"] == v["host"]:
                args = ["--hub", v["host"], "--policy", v["policy_name"], "--key", v["key"]]
            elif v["device_id"] is not None and v["policy_name"]:
                args = ["-c", "HostName=%s;SharedAccessKeyName=%s;SharedAccessKey=%s"
                        % (v["host"], v["policy_name"], v["key"]), "--device-id", v["device_id"]]
            elif v["device_id"] is not None:
                cs = "HostName=%s;DeviceId=%s" % (v["host"], v["device_id"])
                if v["module_id"]:
                    cs += ";ModuleId=" + v["module_id"]
                args = ["-c", cs + ";SharedAccessKey=" + v["key"]]
            else:
                continue  # "{host}/devices" (gateway scope) has no azhub sas spelling
            with self.subTest(vector=v["name"]):
                r = run(["sas"] + args + ["--expiry", expiry])
                self.assertEqual(self.assert_ok(r, past=v["expiry"] < time.time()),
                                 v["expected"]["token"])
                self.assert_no_key(r, v["key"])
                checked += 1
        self.assertGreaterEqual(checked, 5)

    def test_json_output(self):
        for args in (["-o", "json", "sas"], ["sas", "-o", "json"], ["--output=json", "sas"]):
            with self.subTest(args=args):
                r = run(args + ["-c", DEVICE_CS, "--expiry", "1700000000"])
                self.assertEqual(r.returncode, 0, msg=r.stderr)
                lines = r.stdout.splitlines()
                self.assertEqual(len(lines), 1)
                record = json.loads(lines[0])
                self.assertEqual(list(record), ["token", "resourceUri", "expiry", "expiryIso"])
                self.assertEqual(record["token"],
                                 expected_token(HOST + "/devices/dev1", KEY, 1700000000))
                self.assertEqual(record["resourceUri"], HOST + "/devices/dev1")
                self.assertEqual(record["expiry"], 1700000000)
                self.assertEqual(record["expiryIso"], "2023-11-14T22:13:20Z")
                self.assert_no_key(r)
        r = run(["sas", "-c", DEVICE_CS, "--expiry", "1900000000"], env={"AZHUB_OUTPUT": "json"})
        self.assertEqual(json.loads(r.stdout)["expiry"], 1900000000)

    def test_past_expiry_warns_on_stderr_only(self):
        r = run(["sas", "-c", DEVICE_CS, "--expiry", "1700000000"])
        self.assertEqual(r.returncode, 0)
        self.assertEqual(r.stdout, expected_token(HOST + "/devices/dev1", KEY, 1700000000) + "\n")
        self.assertIn("in the past", r.stderr)
        self.assert_no_key(r)

    def test_ttl(self):
        for ttl, seconds in ((None, 3600), ("60", 60), ("24h", 86400), ("90m", 5400), ("30s", 30)):
            with self.subTest(ttl=ttl):
                before = int(time.time())
                r = run(["-o", "json", "sas", "-c", DEVICE_CS] + (["--ttl", ttl] if ttl else []))
                after = int(time.time())
                self.assertEqual(r.returncode, 0, msg=r.stderr)
                record = json.loads(r.stdout)
                self.assertGreaterEqual(record["expiry"], before + seconds)
                self.assertLessEqual(record["expiry"], after + seconds)
                self.assertEqual(record["token"], expected_token(HOST + "/devices/dev1", KEY,
                                                                 record["expiry"]))
                iso = datetime.datetime.fromtimestamp(record["expiry"], datetime.timezone.utc)
                self.assertEqual(record["expiryIso"], iso.strftime("%Y-%m-%dT%H:%M:%SZ"))


class EnvironmentTests(SasTestCase):
    def test_azhub_connection_string(self):
        r = run(["sas", "--expiry", "1900000000"], env={"AZHUB_CONNECTION_STRING": DEVICE_CS})
        self.assertEqual(self.assert_ok(r), expected_token(HOST + "/devices/dev1", KEY, 1900000000))

    def test_sdk_variable_is_the_fallback(self):
        r = run(["sas", "--expiry", "1900000000"], env={"IOTHUB_DEVICE_CONNECTION_STRING": MODULE_CS})
        self.assertEqual(self.assert_ok(r),
                         expected_token(HOST + "/devices/gw/modules/cam", KEY, 1900000000))
        r = run(["sas", "--expiry", "1900000000"],
                env={"IOTHUB_DEVICE_CONNECTION_STRING": MODULE_CS, "AZHUB_CONNECTION_STRING": DEVICE_CS})
        self.assertEqual(self.assert_ok(r), expected_token(HOST + "/devices/dev1", KEY, 1900000000))

    def test_flag_beats_environment(self):
        r = run(["sas", "-c", MODULE_CS, "--expiry", "1900000000"],
                env={"AZHUB_CONNECTION_STRING": DEVICE_CS})
        self.assertEqual(self.assert_ok(r),
                         expected_token(HOST + "/devices/gw/modules/cam", KEY, 1900000000))
        # --hub/--device-id on the command line: the environment's connection string is ignored.
        other = base64.b64encode(b"k" * 32).decode()
        r = run(["sas", "--hub", "other.example", "--device-id", "d2", "--key", other,
                 "--expiry", "1900000000"], env={"AZHUB_CONNECTION_STRING": DEVICE_CS})
        self.assertEqual(self.assert_ok(r), expected_token("other.example/devices/d2", other, 1900000000))

    def test_device_key_from_environment_and_file(self):
        r = run(["sas", "--hub", HOST, "--device-id", "dev1", "--expiry", "1900000000"],
                env={"AZHUB_DEVICE_KEY": KEY})
        self.assertEqual(self.assert_ok(r), expected_token(HOST + "/devices/dev1", KEY, 1900000000))
        with tempfile.NamedTemporaryFile("w", suffix=".key", delete=False) as f:
            f.write(KEY + "\n")
        try:
            r = run(["sas", "--hub", HOST, "--device-id", "dev1", "--key-file", f.name,
                     "--expiry", "1900000000"], env={"AZHUB_DEVICE_KEY": "ignored"})
            self.assertEqual(self.assert_ok(r),
                             expected_token(HOST + "/devices/dev1", KEY, 1900000000))
        finally:
            os.unlink(f.name)

    def test_bad_connection_string_in_environment_names_it(self):
        r = run(["sas"], env={"AZHUB_CONNECTION_STRING": "HostName=h;DeviceId=d;SharedAccessKey=!!"})
        self.assertEqual(r.returncode, 2)
        self.assertEqual(r.stderr, "azhub: error: connection string: SharedAccessKey is not valid "
                                   "base64 (from env AZHUB_CONNECTION_STRING)\n")


BAD_KEY = "SECRETKEY!!"  # not base64: also checked never to be echoed

MALFORMED = [
    # (name, args, env, substring of the one-line message)
    ("bad base64 key in -c", ["-c", "HostName=h;DeviceId=d;SharedAccessKey=" + BAD_KEY], {},
     "connection string: SharedAccessKey is not valid base64"),
    ("bad base64 --key", ["--hub", "h", "--device-id", "d", "--key", BAD_KEY], {},
     "--key: the key is not valid base64"),
    ("bad base64 AZHUB_DEVICE_KEY", ["--hub", "h", "--device-id", "d"], {"AZHUB_DEVICE_KEY": BAD_KEY},
     "env AZHUB_DEVICE_KEY: the key is not valid base64"),
    ("unknown key", ["-c", DEVICE_CS + ";Foo=bar"], {}, "connection string: unknown key 'Foo'"),
    ("wrong case key", ["-c", DEVICE_CS.replace("DeviceId", "deviceId")], {},
     "did you mean 'DeviceId'?"),
    ("duplicate key", ["-c", DEVICE_CS + ";DeviceId=e"], {}, "connection string: duplicate key 'DeviceId'"),
    ("missing DeviceId", ["-c", "HostName=h;SharedAccessKey=" + KEY], {},
     "connection string: missing DeviceId"),
    ("missing HostName", ["-c", "DeviceId=d;SharedAccessKey=" + KEY], {},
     "connection string: missing HostName"),
    ("missing key", ["-c", "HostName=h;DeviceId=d"], {}, "connection string: missing SharedAccessKey"),
    ("empty connection string", ["-c", ""], {}, "connection string: is empty"),
    ("not key=value", ["-c", "HostName=h;DeviceId=d;junk"], {}, "connection string: part 3 is not Key=Value"),
    ("pasted key as a part", ["-c", "HostName=h;DeviceId=d;" + KEY], {},
     "connection string: part 3 has an unknown key (not shown: it may be a secret)"),
    ("key with x509", ["-c", DEVICE_CS + ";x509=true"], {},
     "SharedAccessKey cannot be combined with x509=true"),
    ("x509 connection string", ["-c", "HostName=h;DeviceId=d;x509=true"], {},
     "uses x509=true (certificate authentication): there is no key to sign"),
    ("fixed token connection string",
     ["-c", "HostName=h;DeviceId=d;SharedAccessSignature=SharedAccessSignature sr=h&sig=x&se=1"], {},
     "holds a fixed SharedAccessSignature and no key"),
    ("ttl 0", ["-c", DEVICE_CS, "--ttl", "0"], {}, "--ttl: '0' must be more than 0"),
    ("ttl negative", ["-c", DEVICE_CS, "--ttl", "-5"], {}, "--ttl: '-5' must be more than 0"),
    ("ttl non-numeric", ["-c", DEVICE_CS, "--ttl", "soon"], {}, "--ttl: 'soon' is not a number of seconds"),
    ("ttl fraction of a second", ["-c", DEVICE_CS, "--ttl", "1500ms"], {},
     "--ttl: '1500ms' is not a whole number of seconds"),
    ("ttl and expiry", ["-c", DEVICE_CS, "--ttl", "60", "--expiry", "1900000000"], {},
     "--ttl and --expiry cannot be combined"),
    ("expiry non-numeric", ["-c", DEVICE_CS, "--expiry", "tomorrow"], {},
     "--expiry: 'tomorrow' is not a Unix time"),
    ("expiry zero", ["-c", DEVICE_CS, "--expiry", "0"], {}, "--expiry: '0' is not a Unix time"),
    ("expiry negative", ["-c", DEVICE_CS, "--expiry", "-1"], {}, "--expiry: '-1' is not a Unix time"),
    ("expiry after 9999", ["-c", DEVICE_CS, "--expiry", "999999999999"], {}, "is after year 9999"),
    ("nothing given", [], {}, "no connection given"),
    ("hub without device or policy", ["--hub", "h", "--key", KEY], {},
     "--hub needs --device-id (or --policy NAME for a policy token)"),
    ("hub without a key", ["--hub", "h", "--device-id", "d"], {}, "no key to sign with"),
    ("hub is a URL", ["--hub", "https://h", "--device-id", "d", "--key", KEY], {},
     "--hub must be a plain host name"),
    ("key and key-file", ["--hub", "h", "--device-id", "d", "--key", KEY, "--key-file", "/dev/null"],
     {}, "--key and --key-file cannot be combined"),
    ("unreadable key file", ["--hub", "h", "--device-id", "d", "--key-file", "/nonexistent/k"], {},
     "--key-file: cannot read '/nonexistent/k'"),
    ("-c with --hub", ["-c", DEVICE_CS, "--hub", "h"], {}, "-c/--connection-string cannot be combined with --hub"),
    ("-c with --key", ["-c", DEVICE_CS, "--key", KEY], {}, "-c/--connection-string cannot be combined with --key"),
    ("device cs with --device-id", ["-c", DEVICE_CS, "--device-id", "x"], {},
     "-c/--connection-string cannot be combined with --device-id (it is a device connection"),
    ("env device cs with --module-id", ["--module-id", "x"], {"AZHUB_CONNECTION_STRING": DEVICE_CS},
     "env AZHUB_CONNECTION_STRING cannot be combined with --module-id"),
    ("env cs with --key", ["--key", KEY], {"AZHUB_CONNECTION_STRING": DEVICE_CS},
     "env AZHUB_CONNECTION_STRING cannot be combined with --key"),
    ("policy with device key", ["-c", DEVICE_CS, "--policy", "p"], {}, "--policy needs a policy key"),
    ("policy mismatch", ["-c", SERVICE_CS, "--policy", "service"], {},
     "--policy service does not match SharedAccessKeyName iothubowner"),
    ("module without device", ["-c", SERVICE_CS, "--module-id", "m"], {}, "--module-id needs --device-id"),
    ("device id with '/'", ["--hub", "h", "--device-id", "a/b", "--key", KEY], {},
     "--device-id contains '/', which cannot be part of an id"),
    ("module id with a newline", ["--hub", "h", "--device-id", "d", "--module-id", "a\nb", "--key", KEY],
     {}, "--module-id contains byte 0x0A"),
    ("bad DeviceId in -c", ["-c", "HostName=h;DeviceId=a b;SharedAccessKey=" + KEY], {},
     "connection string: DeviceId contains ' ' (space)"),
    ("device id too long", ["--hub", "h", "--device-id", "x" * 129, "--key", KEY], {},
     "--device-id is 129 characters long"),
    ("empty policy", ["--hub", "h", "--policy", "", "--key", KEY], {}, "--policy is empty"),
    ("unknown flag", ["-c", DEVICE_CS, "--bogus"], {}, "--bogus"),
    ("missing flag value", ["-c"], {}, "-c"),
]


class MalformedInputTests(SasTestCase):
    def test_each_is_a_one_line_usage_error(self):
        for name, args, env, needle in MALFORMED:
            with self.subTest(name=name):
                r = run(["sas"] + args, env=env)
                self.assertEqual(r.returncode, 2, msg="stdout %r stderr %r" % (r.stdout, r.stderr))
                self.assertEqual(r.stdout, "")
                self.assertTrue(r.stderr.startswith("azhub: error: "), msg=r.stderr)
                self.assertTrue(r.stderr.endswith("\n"), msg=r.stderr)
                self.assertEqual(r.stderr.count("\n"), 1, msg=r.stderr)
                self.assertIn(needle, r.stderr)
                self.assert_no_key(r, KEY)
                self.assert_no_key(r, BAD_KEY)


class HelpTests(SasTestCase):
    def test_sas_help(self):
        r = run(["sas", "--help"])
        self.assertEqual(r.returncode, 0)
        for needle in ("Usage: azhub sas", "--policy", "--ttl", "--expiry", "--key-file",
                       "Examples:", "AZHUB_CONNECTION_STRING", "IOTHUB_DEVICE_CONNECTION_STRING",
                       "AZHUB_DEVICE_KEY"):
            self.assertIn(needle, r.stdout)
        self.assertTrue(all(len(line) <= 110 for line in r.stdout.splitlines()), msg=r.stdout)

    def test_top_level_help_lists_sas_on_one_line(self):
        r = run(["--help"])
        self.assertEqual(r.returncode, 0)
        lines = [l for l in r.stdout.splitlines() if l.strip().startswith("sas ")]
        self.assertEqual(len(lines), 1)
        self.assertIn("SAS token", lines[0])

    def test_global_options_before_the_command(self):
        # azhub builds only the command argv names (cli/main.cpp); the global options may come
        # first in each spelling, and a command nobody named still gets the full list.
        expected = expected_token(HOST + "/devices/dev1", KEY, 1900000000)
        for prefix in (["-o", "json"], ["--output", "json"], ["--output=json"], ["-v", "-o", "text"], ["-vv"]):
            r = run(prefix + ["sas", "-c", DEVICE_CS, "--expiry", "1900000000"])
            self.assertEqual(r.returncode, 0, msg="%s: %s" % (prefix, r.stderr))
            self.assertIn(expected, r.stdout, msg=prefix)
        for argv in (["bogus"], ["-o", "json", "bogus", "--flag"]):
            r = run(argv)
            self.assertEqual(r.returncode, 2)
            self.assertEqual(r.stderr, "azhub: error: unknown command 'bogus' (commands: sas, send, listen, twin, "
                                       "method, service, emulate; see 'azhub --help')\n")
        r = run(["-o", "json"])
        self.assertEqual(r.returncode, 2)
        self.assertIn("subcommand", r.stderr.lower())
        # The value of -o is not taken for the command.
        r = run(["-o", "sas"])
        self.assertEqual(r.returncode, 2)

    def test_version(self):
        r = run(["--version"])
        self.assertEqual(r.returncode, 0)
        self.assertRegex(r.stdout, r"^azhub \d+\.\d+\.\d+\n$")


class EmulatorAcceptsTokenTests(SasTestCase):
    """A token printed by `azhub sas` opens an MQTT session on `azhub emulate`."""

    def test_connect_with_printed_token(self):
        sys.path.insert(0, HERE)
        import harness  # noqa: E402  (emulator engineer's helper, stdlib only)

        with harness.Emulator(devices=["dev1"]) as emu:
            cs = [d["connectionString"] for d in emu.ready["devices"] if d["deviceId"] == "dev1"][0]
            r = run(["sas", "-c", cs, "--ttl", "300"])
            token = self.assert_ok(r)
            client = harness.MqttClient.open(emu)
            try:
                connack = client.connect("dev1", harness.mqtt_username(emu.host_name, "dev1"), token)
                self.assertEqual(connack.return_code, 0)
            finally:
                client.close()
            # A token for another device is refused with CONNACK 5.
            r = run(["sas", "-c", cs.replace("DeviceId=dev1", "DeviceId=dev2"), "--ttl", "300"])
            other = self.assert_ok(r)
            client = harness.MqttClient.open(emu)
            try:
                connack = client.connect("dev1", harness.mqtt_username(emu.host_name, "dev1"), other)
                self.assertEqual(connack.return_code, 5)
            finally:
                client.close()


if __name__ == "__main__":
    unittest.main(verbosity=2)
