"""Helpers shared by the device end-to-end tests (device_*_test.py): run the real azhub device
commands against the emulator started by harness.Emulator and look at the hub side through its
REST API. Python 3 standard library only; every wait has a timeout."""

import json
import os
import queue
import subprocess
import threading
import time
import unittest
import urllib.parse

import harness

DEFAULT_TIMEOUT = 30.0


class EmulatorTestCase(unittest.TestCase):
    """A test class whose tests share one `azhub emulate` (`cls.emu`) on ephemeral loopback ports."""

    @classmethod
    def setUpClass(cls):
        cls.emu = harness.Emulator()
        cls.emu.start()

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()


def azhub():
    return harness.azhub_binary()


def create_device(emu, device_id):
    """Registers device_id (SAS) through the REST API; returns its connection string."""
    status, _, body = emu.rest("PUT", "/devices/" + urllib.parse.quote(device_id, safe=""),
                               body={"deviceId": device_id, "authentication": {"type": "sas"}})
    assert status == 200, (status, body)
    key = body["authentication"]["symmetricKey"]["primaryKey"]
    return "HostName=%s;DeviceId=%s;SharedAccessKey=%s" % (emu.host_name, device_id, key)


def tls_args(emu, cs, port=None):
    """Connection flags for a device command over MQTT/TLS to the emulator."""
    return ["-c", cs, "--port", str(port or emu.ports["mqtts"]), "--ca-file", emu.ca_file]


def run(args, input=None, timeout=DEFAULT_TIMEOUT, env=None):
    """Runs azhub to completion; returns CompletedProcess with text stdout/stderr."""
    e = dict(os.environ)
    e.pop("AZHUB_CONNECTION_STRING", None)
    e.pop("IOTHUB_DEVICE_CONNECTION_STRING", None)
    e.update(env or {})
    return subprocess.run([azhub()] + list(args), input=input, capture_output=True, text=True,
                          timeout=timeout, env=e)


class Running:
    """A long-running azhub command whose stdout lines can be awaited."""

    def __init__(self, args, env=None):
        e = dict(os.environ)
        e.update(env or {})
        self.proc = subprocess.Popen([azhub()] + list(args), stdin=subprocess.DEVNULL,
                                     stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                     env=e)
        self.lines = queue.Queue()
        self.err_lines = []
        self._err_cv = threading.Condition()
        threading.Thread(target=self._pump_out, daemon=True).start()
        threading.Thread(target=self._pump_err, daemon=True).start()

    def _pump_out(self):
        for line in iter(self.proc.stdout.readline, ""):
            self.lines.put(line)
        self.lines.put(None)

    def _pump_err(self):
        for line in iter(self.proc.stderr.readline, ""):
            with self._err_cv:
                self.err_lines.append(line)
                self._err_cv.notify_all()

    def wait_stderr(self, substring, timeout=DEFAULT_TIMEOUT, count=1):
        """Waits until `count` stderr lines contain substring."""
        deadline = time.monotonic() + timeout
        with self._err_cv:
            while True:
                if sum(substring in l for l in self.err_lines) >= count:
                    return
                left = deadline - time.monotonic()
                if left <= 0:
                    raise AssertionError("azhub stderr never showed %r (x%d):\n%s"
                                         % (substring, count, "".join(self.err_lines)))
                self._err_cv.wait(left)

    @property
    def stderr(self):
        with self._err_cv:
            return "".join(self.err_lines)

    def next_line(self, timeout=DEFAULT_TIMEOUT):
        try:
            line = self.lines.get(timeout=timeout)
        except queue.Empty:
            raise AssertionError("no output line within %.0fs; stderr:\n%s" % (timeout, self.stderr))
        if line is None:
            raise AssertionError("azhub exited (%s) early; stderr:\n%s" % (self.proc.wait(), self.stderr))
        return line

    def next_json(self, timeout=DEFAULT_TIMEOUT):
        return json.loads(self.next_line(timeout))

    def wait(self, timeout=DEFAULT_TIMEOUT):
        code = self.proc.wait(timeout=timeout)
        return code

    def stop(self):
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=10)


def d2c_messages(emu, device_id, since=0, want=1, timeout=DEFAULT_TIMEOUT, distinct=False):
    """Polls /_emulator/messages/events until at least `want` messages of device_id after
    `since` arrived (with `distinct`, `want` different bodies: resends count once); returns
    them (all retained ones after `since`)."""
    deadline = time.monotonic() + timeout
    got = []
    cursor = since
    while True:
        status, _, body = emu.rest("GET", "/_emulator/messages/events?since=%d&device=%s&limit=1000"
                                   % (cursor, urllib.parse.quote(device_id, safe="")))
        assert status == 200, (status, body)
        got.extend(body["messages"])
        if body["messages"]:
            cursor = body["messages"][-1]["sequenceNumber"]
        if (len({m["body"] for m in got}) if distinct else len(got)) >= want:
            return got
        if time.monotonic() > deadline:
            raise AssertionError("only %d of %d D2C messages from %s" % (len(got), want, device_id))
        if not body["messages"]:
            time.sleep(0.05)  # polling interval of the REST read, not synchronisation




def invoke(emu, device_id, method, payload=None, timeout_s=10, connect_timeout_s=0):
    return emu.rest("POST", "/twins/%s/methods" % device_id,
                    body={"methodName": method, "payload": payload,
                          "responseTimeoutInSeconds": timeout_s,
                          "connectTimeoutInSeconds": connect_timeout_s},
                    timeout=timeout_s + connect_timeout_s + 10)
