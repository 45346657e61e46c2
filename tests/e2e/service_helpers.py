"""Running `azhub service ...` against an emulator from the e2e tests (stdlib only)."""

import json
import os
import subprocess
import time

from harness import azhub_binary

RUN_TIMEOUT = 60


def uses_amqp(args):
    """True for the service commands that take --transport/--amqp-port (docs/protocol.md §15)."""
    args = list(args)
    return args[:2] == ["c2d", "send"] or args[:1] in (["feedback"], ["monitor"])


class ServiceCli:
    """Runs `azhub [-o json] service ARGS --port <https> --ca-file <ca>` with the emulator's
    service connection string in AZHUB_SERVICE_CONNECTION_STRING."""

    def __init__(self, emu):
        self.emu = emu

    def env(self, connection_string=None):
        env = dict(os.environ)
        for name in ("AZHUB_OUTPUT", "AZHUB_CONNECTION_STRING", "IOTHUB_DEVICE_CONNECTION_STRING"):
            env.pop(name, None)
        env["AZHUB_SERVICE_CONNECTION_STRING"] = (
            connection_string if connection_string is not None else self.emu.service_connection_string)
        return env

    def argv(self, args, json_out=False, verbose=0, connection=True):
        argv = [azhub_binary()] + ["-v"] * verbose
        if json_out:
            argv += ["-o", "json"]
        argv += ["service"] + list(args)
        if connection:
            argv += ["--port", str(self.emu.ports["https"]), "--ca-file", self.emu.ca_file]
            if uses_amqp(args):
                argv += ["--amqp-port", str(self.emu.ports["amqps"])]
        return argv

    def run(self, *args, json_out=False, input=None, connection_string=None, connection=True,
            verbose=0, timeout=RUN_TIMEOUT, env=None):
        """CompletedProcess with text stdout/stderr."""
        return subprocess.run(self.argv(args, json_out, verbose, connection),
                              input=input, capture_output=True, text=True, timeout=timeout,
                              env=env if env is not None else self.env(connection_string))

    def json(self, *args, **kw):
        """Runs with -o json, asserts exit 0 and returns the one JSON document printed."""
        proc = self.run(*args, json_out=True, **kw)
        if proc.returncode != 0:
            raise AssertionError("exit %d: %s" % (proc.returncode, proc.stderr))
        lines = proc.stdout.splitlines()
        if len(lines) != 1:
            raise AssertionError("expected one JSON line, got %r" % proc.stdout)
        return json.loads(lines[0])

    def popen(self, *args, json_out=False, verbose=0):
        return subprocess.Popen(self.argv(args, json_out, verbose), stdin=subprocess.DEVNULL,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                                env=self.env())


def wait_for_stderr_line(proc, substring, timeout=20.0):
    """Reads proc.stderr line by line until one contains substring; returns the lines read.

    A reader thread, not select(): select() on the pipe misses a line that an earlier
    readline() already pulled into the text wrapper's buffer."""
    import threading
    seen = []

    def reader():
        for line in iter(proc.stderr.readline, ""):
            seen.append(line)
            if substring in line:
                return

    thread = threading.Thread(target=reader, daemon=True)
    thread.start()
    thread.join(timeout)
    if thread.is_alive():
        raise AssertionError("%r not seen on stderr; got %r" % (substring, seen))
    if not seen or substring not in seen[-1]:
        raise AssertionError("stderr closed before %r; got %r (exit %s)"
                             % (substring, seen, proc.poll()))
    return seen
