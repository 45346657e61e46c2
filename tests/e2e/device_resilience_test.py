"""Long device sessions against azhub emulate: SAS renewal with a short --token-ttl, and the
emulator killed (-9) and restarted on the same ports and state directory in the middle of
`send`, `listen` and `method serve`. Nothing acknowledged may be lost, nothing printed twice."""

import os
import shutil
import socket
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import device_util as du  # noqa: E402


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


class RestartableEmulator(harness.Emulator):
    """An emulator on fixed ports and a durable state directory, so it can be restarted."""

    def __init__(self, state_dir, mqtts, https, mqtt):
        super().__init__(in_memory=False, state_dir=state_dir)
        self.fixed = {"--mqtt-port": mqtts, "--https-port": https, "--tcp-port": mqtt}

    def command(self):
        cmd = super().command()
        for flag, port in self.fixed.items():
            cmd[cmd.index(flag) + 1] = str(port)
        return cmd

    def restart_after_kill(self):
        """kill -9, then a new process on the same ports and state."""
        self.kill()
        fresh = RestartableEmulator(self.state_dir, *self.fixed.values())
        fresh.start()
        return fresh


class DeviceResilienceTest(unittest.TestCase):
    def setUp(self):
        self.dir = harness.free_state_dir()
        self.addCleanup(shutil.rmtree, self.dir, True)
        self.emu = RestartableEmulator(self.dir, free_port(), free_port(), free_port())
        self.emu.start()
        self.addCleanup(lambda: self.emu.stop(expect_code=None))

    def test_short_token_ttl_is_renewed_and_nothing_is_missed(self):
        cs = du.create_device(self.emu, "ttl-listen")
        listener = du.Running(["-v", "-o", "json", "listen", "--token-ttl", "2s", "--count", "4",
                               "--timeout", "60s"] + du.tls_args(self.emu, cs))
        self.addCleanup(listener.stop)
        listener.wait_stderr("(connection 1)")
        bodies = []
        for i in range(1, 5):
            # Each message goes out while a session is up; between messages the client reconnects
            # with a fresh token at 80 % of the 2 s TTL.
            self.emu.c2d_send("ttl-listen", "renewal %d" % i, message_id="ttl-%d" % i)
            bodies.append(listener.next_json()["body"])
            if i < 4:
                listener.wait_stderr("(connection %d)" % (i + 1), timeout=20)
        self.assertEqual(listener.wait(), 0, listener.stderr)
        self.assertEqual(bodies, ["renewal %d" % i for i in range(1, 5)])
        self.assertGreaterEqual(listener.stderr.count("renewing the SAS token"), 3)
        self.assertGreaterEqual(self.emu.stderr.count("connect: ttl-listen accepted"), 4)
        # Every token really was short: the hub would have closed a connection that outlived it.
        self.assertNotIn("SharedAccessSignature", listener.stderr)

    def test_send_with_short_ttl_sends_everything(self):
        cs = du.create_device(self.emu, "ttl-send")
        r = du.run(["-v", "send", "--token-ttl", "2s", "--count", "40", "--interval", "150ms",
                    "t{{seq}}"] + du.tls_args(self.emu, cs), timeout=120)
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertGreaterEqual(r.stderr.count("renewing the SAS token"), 2)
        bodies = {m["body"] for m in du.d2c_messages(self.emu, "ttl-send", want=40, distinct=True)}
        self.assertEqual(bodies, {"t%d" % i for i in range(1, 41)})

    def test_send_2000_survives_kill_9_of_the_hub(self):
        cs = du.create_device(self.emu, "crash-send")
        sender = du.Running(["-v", "send", "--count", "2000", "--rate", "500/s", "c{{seq}}"]
                            + du.tls_args(self.emu, cs))
        self.addCleanup(sender.stop)
        # Kill once a good part, but not all, has arrived.
        du.d2c_messages(self.emu, "crash-send", want=300, timeout=60)
        self.emu = self.emu.restart_after_kill()
        self.assertEqual(sender.wait(timeout=120), 0, sender.stderr)
        self.assertIn("connection to", sender.stderr)       # it saw the drop ...
        self.assertIn("(connection 2)", sender.stderr)      # ... and reconnected
        got = du.d2c_messages(self.emu, "crash-send", want=2000, timeout=60, distinct=True)
        bodies = {m["body"] for m in got}
        self.assertEqual(bodies, {"c%d" % i for i in range(1, 2001)})  # at least once each

    def test_listen_and_method_serve_carry_on_across_a_restart(self):
        cs_listen = du.create_device(self.emu, "crash-listen")
        cs_method = du.create_device(self.emu, "crash-method")
        listener = du.Running(["-v", "-o", "json", "listen", "--count", "2", "--timeout", "90s"]
                              + du.tls_args(self.emu, cs_listen))
        self.addCleanup(listener.stop)
        server = du.Running(["-v", "-o", "json", "method", "serve", "--count", "2", "--timeout", "90s",
                             "--handler", "cat"] + du.tls_args(self.emu, cs_method))
        self.addCleanup(server.stop)
        listener.wait_stderr("(connection 1)")
        server.wait_stderr("waiting for direct methods")

        self.emu.c2d_send("crash-listen", "before", message_id="before")
        self.assertEqual(listener.next_json()["body"], "before")
        code, _, body = du.invoke(self.emu, "crash-method", "ping", {"n": 1})
        self.assertEqual(body, {"status": 200, "payload": {"n": 1}})
        self.assertEqual(server.next_json()["status"], 200)

        self.emu = self.emu.restart_after_kill()
        self.emu.c2d_send("crash-listen", "after", message_id="after")
        # connectTimeoutInSeconds: the hub waits for the device to come back and subscribe.
        code, _, body = du.invoke(self.emu, "crash-method", "ping", {"n": 2}, connect_timeout_s=60)
        self.assertEqual(code, 200, body)
        self.assertEqual(body, {"status": 200, "payload": {"n": 2}})
        self.assertEqual(listener.next_json(timeout=60)["body"], "after")
        self.assertEqual(listener.wait(timeout=30), 0, listener.stderr)
        self.assertEqual(server.wait(timeout=30), 0, server.stderr)
        self.assertIn("(connection 2)", listener.stderr)


if __name__ == "__main__":
    unittest.main()
