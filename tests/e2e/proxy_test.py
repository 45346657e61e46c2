"""Every command through a real HTTP CONNECT proxy (tinyproxy, unprivileged, its own config in
a temporary directory): device commands over WebSockets and a service command, with the
proxy's log showing each tunnel; a proxy that wants credentials (right ones work, missing or
wrong ones are a one-line error, exit 3, and the password never shows, even with -vv); NO_PROXY
going around the proxy; a proxy that is not there. Skips when tinyproxy is not installed."""

import base64
import json
import os
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import device_util as du  # noqa: E402
from service_helpers import ServiceCli  # noqa: E402

TINYPROXY = shutil.which("tinyproxy") or ("/usr/bin/tinyproxy" if os.path.exists("/usr/bin/tinyproxy") else None)
USER = "azhubuser"
PASSWORD = "Pr0xy-pa55word"
WRONG_PASSWORD = "Wr0ng-pa55word"
# Every variable azhub (or Paho) would take a proxy or an exception from.
PROXY_VARIABLES = ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY",
                   "no_proxy", "NO_PROXY")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Tinyproxy:
    """tinyproxy in the foreground on a free loopback port; its log counts the tunnels."""

    def __init__(self, connect_port, basic_auth=None):
        self.dir = tempfile.mkdtemp(prefix="azhub-tinyproxy-")
        self.port = free_port()
        self.log = os.path.join(self.dir, "tinyproxy.log")
        lines = ["Port %d" % self.port, "Listen 127.0.0.1", "Timeout 30", 'LogFile "%s"' % self.log,
                 "LogLevel Connect", 'PidFile "%s"' % os.path.join(self.dir, "tinyproxy.pid"),
                 "MaxClients 50", "ConnectPort %d" % connect_port]
        if basic_auth:
            lines.append("BasicAuth %s %s" % basic_auth)
        self.conf = os.path.join(self.dir, "tinyproxy.conf")
        with open(self.conf, "w") as f:
            f.write("\n".join(lines) + "\n")
        self.proc = subprocess.Popen([TINYPROXY, "-d", "-c", self.conf], stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
        self._wait_listening()

    def _wait_listening(self, timeout=20.0):
        # Ready once it accepts a connection (an event, not a sleep); a bare connect leaves no
        # "Request" line, so it does not count as a tunnel.
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise AssertionError("tinyproxy exited (%s): %s" % (self.proc.returncode, self.proc.stderr.read()))
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
                return
            except OSError:
                if time.monotonic() > deadline:
                    raise AssertionError("tinyproxy never listened on %d" % self.port)
                time.sleep(0.05)  # polling interval for the port to open

    @property
    def url(self):
        return "http://127.0.0.1:%d" % self.port

    def tunnels(self, target_port):
        """How many CONNECTs to localhost:target_port the proxy has logged."""
        try:
            with open(self.log) as f:
                return sum("CONNECT localhost:%d " % target_port in line for line in f)
        except FileNotFoundError:
            return 0

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self.proc.stderr.close()
        shutil.rmtree(self.dir, ignore_errors=True)


def clean_env(**extra):
    env = dict(os.environ)
    for name in PROXY_VARIABLES + ("AZHUB_CONNECTION_STRING", "IOTHUB_DEVICE_CONNECTION_STRING", "AZHUB_OUTPUT"):
        env.pop(name, None)
    env.update(extra)
    return env


@unittest.skipUnless(TINYPROXY, "tinyproxy is not installed (apt-get install tinyproxy)")
class ProxyTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = harness.Emulator()
        cls.emu.start()
        cls.https = cls.emu.ports["https"]
        cls.proxy = Tinyproxy(cls.https)
        cls.auth_proxy = Tinyproxy(cls.https, basic_auth=(USER, PASSWORD))
        cls.svc = ServiceCli(cls.emu)

    @classmethod
    def tearDownClass(cls):
        cls.proxy.stop()
        cls.auth_proxy.stop()
        cls.emu.stop()

    def ws_args(self, cs, proxy=None):
        args = ["-c", cs, "--transport", "ws", "--port", str(self.https), "--ca-file", self.emu.ca_file]
        return args + (["--proxy", proxy] if proxy else [])

    def run_azhub(self, args, env=None, timeout=60):
        return subprocess.run([du.azhub()] + args, capture_output=True, text=True, timeout=timeout,
                              env=env or clean_env())

    def assert_through(self, proxy, before, at_least=1):
        self.assertGreaterEqual(proxy.tunnels(self.https) - before, at_least,
                                "the proxy logged no CONNECT to localhost:%d" % self.https)

    def assert_no_secret(self, proc):
        encoded = base64.b64encode(("%s:%s" % (USER, PASSWORD)).encode()).decode()
        for secret in (PASSWORD, WRONG_PASSWORD, encoded):
            self.assertNotIn(secret, proc.stdout)
            self.assertNotIn(secret, proc.stderr)

    def assert_one_line_error(self, proc, *parts):
        self.assertEqual(proc.returncode, 3, proc.stderr)
        lines = proc.stderr.strip().splitlines()
        errors = [l for l in lines if l.startswith("azhub: error: ")]
        self.assertEqual(len(errors), 1, proc.stderr)
        for part in parts:
            self.assertIn(part, errors[0])

    # --- device commands over WebSockets ---------------------------------------------------------

    def test_send_through_the_proxy_flag(self):
        cs = du.create_device(self.emu, "proxy-send")
        before = self.proxy.tunnels(self.https)
        r = self.run_azhub(["send", '{"a":1}'] + self.ws_args(cs, self.proxy.url))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_through(self.proxy, before)
        self.assertEqual(du.d2c_messages(self.emu, "proxy-send")[0]["body"], '{"a":1}')

    def test_send_through_https_proxy_from_the_environment(self):
        cs = du.create_device(self.emu, "proxy-env")
        for name in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY"):
            with self.subTest(variable=name):
                before = self.proxy.tunnels(self.https)
                r = self.run_azhub(["send", name] + self.ws_args(cs), env=clean_env(**{name: self.proxy.url}))
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assert_through(self.proxy, before)

    def test_mqtt_over_tls_ignores_https_proxy(self):
        # Paho would tunnel ssl:// through https_proxy by itself (and fail on its http:// prefix).
        cs = du.create_device(self.emu, "proxy-mqtt")
        before = self.proxy.tunnels(self.emu.ports["mqtts"])
        r = self.run_azhub(["send", "direct"] + du.tls_args(self.emu, cs),
                           env=clean_env(https_proxy=self.proxy.url, http_proxy=self.proxy.url))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(self.proxy.tunnels(self.emu.ports["mqtts"]), before)

    def test_listen_through_the_proxy(self):
        cs = du.create_device(self.emu, "proxy-listen")
        before = self.proxy.tunnels(self.https)
        listener = du.Running(["-v", "-o", "json", "listen", "--count", "1", "--timeout", "60s"]
                              + self.ws_args(cs, self.proxy.url), env=clean_env())
        self.addCleanup(listener.stop)
        listener.wait_stderr("connected to")
        status, _, body = self.emu.c2d_send("proxy-listen", "via proxy")
        self.assertIn(status, (200, 204), body)
        self.assertEqual(listener.next_json()["body"], "via proxy")
        self.assertEqual(listener.wait(), 0, listener.stderr)
        self.assert_through(self.proxy, before)

    def test_twin_get_through_the_proxy(self):
        cs = du.create_device(self.emu, "proxy-twin")
        before = self.proxy.tunnels(self.https)
        r = self.run_azhub(["-o", "json", "twin", "get"] + self.ws_args(cs, self.proxy.url))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertIn("desired", json.loads(r.stdout))
        self.assert_through(self.proxy, before)

    def test_method_serve_through_the_proxy(self):
        cs = du.create_device(self.emu, "proxy-method")
        before = self.proxy.tunnels(self.https)
        server = du.Running(["-v", "-o", "json", "method", "serve", "--status", "200", "--payload", '{"ok":true}',
                             "--count", "1", "--timeout", "60s"] + self.ws_args(cs, self.proxy.url),
                            env=clean_env())
        self.addCleanup(server.stop)
        server.wait_stderr("waiting for direct methods")
        code, _, body = du.invoke(self.emu, "proxy-method", "ping")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["payload"], {"ok": True})
        self.assertEqual(server.wait(), 0, server.stderr)
        self.assert_through(self.proxy, before)

    def test_a_method_handler_still_sees_the_proxy_variables(self):
        # azhub takes http_proxy/https_proxy out of its environment so that Paho cannot use them;
        # the processes it starts get them back.
        cs = du.create_device(self.emu, "proxy-handler-env")
        handler = 'printf \'{"https":"%s","http":"%s"}\' "$https_proxy" "$http_proxy"'
        env = clean_env(https_proxy=self.proxy.url, http_proxy=self.auth_proxy.url)
        server = du.Running(["-v", "method", "serve", "--handler", handler, "--count", "1", "--timeout", "60s"]
                            + du.tls_args(self.emu, cs), env=env)
        self.addCleanup(server.stop)
        server.wait_stderr("waiting for direct methods")
        code, _, body = du.invoke(self.emu, "proxy-handler-env", "env")
        self.assertEqual(code, 200, body)
        self.assertEqual(body["payload"], {"https": self.proxy.url, "http": self.auth_proxy.url})
        self.assertEqual(server.wait(), 0, server.stderr)

    # --- service commands --------------------------------------------------------------------------

    def test_service_commands_through_the_proxy(self):
        du.create_device(self.emu, "proxy-svc")
        for how, extra, env in (("--proxy", ["--proxy", self.proxy.url], {}),
                                ("HTTPS_PROXY", [], {"HTTPS_PROXY": self.proxy.url})):
            with self.subTest(how=how):
                before = self.proxy.tunnels(self.https)
                env = dict(clean_env(**env), AZHUB_SERVICE_CONNECTION_STRING=self.emu.service_connection_string)
                r = self.svc.run("device", "show", "proxy-svc", *extra, json_out=True, env=env)
                self.assertEqual(r.returncode, 0, r.stderr)
                self.assertEqual(json.loads(r.stdout)["deviceId"], "proxy-svc")
                self.assert_through(self.proxy, before)

    def test_amqp_over_websockets_through_the_proxy(self):
        # c2d send and monitor over AMQP on WebSockets (port --port) tunnel like REST does.
        cs = du.create_device(self.emu, "proxy-amqp")
        env = dict(clean_env(), AZHUB_SERVICE_CONNECTION_STRING=self.emu.service_connection_string)
        before = self.proxy.tunnels(self.https)
        r = self.svc.run("c2d", "send", "proxy-amqp", "via proxy", "--transport", "amqp-ws", "--proxy", self.proxy.url,
                         json_out=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_through(self.proxy, before)
        r = self.run_azhub(["-o", "json", "listen", "--count", "1", "--timeout", "20s"] + self.ws_args(cs, self.proxy.url))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout.splitlines()[0])["body"], "via proxy")
        r = self.run_azhub(["send", "d2c via proxy"] + self.ws_args(cs, self.proxy.url))
        self.assertEqual(r.returncode, 0, r.stderr)
        before = self.proxy.tunnels(self.https)
        r = self.svc.run("monitor", "--device-id", "proxy-amqp", "--since-start", "--count", "1", "--timeout", "20s",
                         "--transport", "amqp-ws", "--proxy", self.proxy.url, json_out=True, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout.splitlines()[0])["body"], "d2c via proxy")
        # One tunnel to the IoT hub (the redirect), one to the Event Hubs-compatible endpoint.
        self.assert_through(self.proxy, before, at_least=2)

    # --- a proxy that wants credentials --------------------------------------------------------------

    def auth_url(self, password):
        return "http://%s:%s@127.0.0.1:%d" % (USER, password, self.auth_proxy.port)

    def test_right_credentials_work_and_never_show(self):
        cs = du.create_device(self.emu, "proxy-auth-ok")
        before = self.auth_proxy.tunnels(self.https)
        r = self.run_azhub(["-vv", "send", "authorized"] + self.ws_args(cs, self.auth_url(PASSWORD)))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_through(self.auth_proxy, before)
        self.assertIn(self.auth_proxy.url, r.stderr)  # -vv names the proxy, without credentials
        self.assert_no_secret(r)
        env = dict(clean_env(HTTPS_PROXY=self.auth_url(PASSWORD)),
                   AZHUB_SERVICE_CONNECTION_STRING=self.emu.service_connection_string)
        r = self.svc.run("device", "show", "proxy-auth-ok", verbose=2, env=env)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assert_no_secret(r)

    def test_missing_credentials_are_a_407_error(self):
        cs = du.create_device(self.emu, "proxy-auth-missing")
        r = self.run_azhub(["-vv", "send", "x"] + self.ws_args(cs, self.auth_proxy.url))
        self.assert_one_line_error(r, "407 Proxy Authentication Required", self.auth_proxy.url)
        env = dict(clean_env(), AZHUB_SERVICE_CONNECTION_STRING=self.emu.service_connection_string)
        r = self.svc.run("device", "show", "proxy-auth-missing", "--proxy", self.auth_proxy.url, verbose=2, env=env)
        self.assert_one_line_error(r, "407 Proxy Authentication Required", self.auth_proxy.url)

    def test_wrong_credentials_are_a_407_error_without_the_password(self):
        cs = du.create_device(self.emu, "proxy-auth-wrong")
        # tinyproxy 1.11 answers wrong credentials with 401 rather than 407.
        refused = "did not accept the user and password"
        r = self.run_azhub(["-vv", "send", "x"] + self.ws_args(cs, self.auth_url(WRONG_PASSWORD)))
        self.assert_one_line_error(r, refused, self.auth_proxy.url)
        self.assert_no_secret(r)
        env = dict(clean_env(https_proxy=self.auth_url(WRONG_PASSWORD)),
                   AZHUB_SERVICE_CONNECTION_STRING=self.emu.service_connection_string)
        r = self.svc.run("device", "show", "proxy-auth-wrong", verbose=2, env=env)
        self.assert_one_line_error(r, refused, self.auth_proxy.url)
        self.assert_no_secret(r)

    # --- NO_PROXY and a missing proxy ------------------------------------------------------------------

    def test_no_proxy_goes_around_the_proxy(self):
        cs = du.create_device(self.emu, "proxy-bypass")
        for no_proxy in ("localhost", ".localhost", "*", "example.com, localhost"):
            for name in ("NO_PROXY", "no_proxy"):
                with self.subTest(no_proxy=no_proxy, variable=name):
                    before = self.proxy.tunnels(self.https)
                    env = clean_env(HTTPS_PROXY=self.proxy.url, **{name: no_proxy})
                    r = self.run_azhub(["send", "direct"] + self.ws_args(cs), env=env)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    # As curl: NO_PROXY also overrides --proxy.
                    r = self.run_azhub(["send", "direct"] + self.ws_args(cs, self.proxy.url), env=env)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    svc_env = dict(env, AZHUB_SERVICE_CONNECTION_STRING=self.emu.service_connection_string)
                    r = self.svc.run("device", "show", "proxy-bypass", env=svc_env)
                    self.assertEqual(r.returncode, 0, r.stderr)
                    self.assertEqual(self.proxy.tunnels(self.https), before)

    def test_a_proxy_that_is_not_there(self):
        cs = du.create_device(self.emu, "proxy-refused")
        dead = "http://127.0.0.1:%d" % free_port()
        r = self.run_azhub(["send", "x"] + self.ws_args(cs, dead))
        self.assert_one_line_error(r, "proxy " + dead, "refused")
        env = dict(clean_env(), AZHUB_SERVICE_CONNECTION_STRING=self.emu.service_connection_string)
        r = self.svc.run("device", "show", "proxy-refused", "--proxy", dead, env=env)
        self.assert_one_line_error(r, "proxy " + dead, "refused")

    def test_unsupported_proxy_scheme_is_a_usage_error(self):
        cs = du.create_device(self.emu, "proxy-scheme")
        r = self.run_azhub(["send", "x"] + self.ws_args(cs, "socks5://u:%s@127.0.0.1:1" % PASSWORD))
        self.assertEqual(r.returncode, 2, r.stderr)
        self.assertIn("socks5:// proxies are not supported", r.stderr)
        self.assert_no_secret(r)


if __name__ == "__main__":
    unittest.main()
