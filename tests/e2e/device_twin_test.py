"""azhub twin get / patch / watch against azhub emulate, checked through the service REST API."""

import json
import os
import sys
import tempfile
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import harness  # noqa: E402
import device_util as du  # noqa: E402


class DeviceTwinTest(du.EmulatorTestCase):
    def patch_desired(self, device_id, desired):
        status, _, body = self.emu.rest("PATCH", "/twins/" + device_id,
                                        body={"properties": {"desired": desired}})
        self.assertEqual(status, 200, body)
        return body["properties"]["desired"]["$version"]

    def test_get_prints_the_device_view(self):
        cs = du.create_device(self.emu, "twin-get")
        self.patch_desired("twin-get", {"interval": 5})
        r = du.run(["-o", "json", "twin", "get"] + du.tls_args(self.emu, cs))
        self.assertEqual(r.returncode, 0, r.stderr)
        twin = json.loads(r.stdout)
        self.assertEqual(twin["desired"]["interval"], 5)
        self.assertEqual(twin["desired"]["$version"], 2)
        self.assertIn("reported", twin)
        r = du.run(["twin", "get"] + du.tls_args(self.emu, cs))
        self.assertEqual(json.loads(r.stdout), twin)

    def test_patch_prints_the_new_version_and_the_hub_has_it(self):
        cs = du.create_device(self.emu, "twin-patch")
        r = du.run(["twin", "patch", '{"temp":21.5,"fw":{"v":"1.0"}}'] + du.tls_args(self.emu, cs))
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(r.stdout.strip(), "2")
        r = du.run(["-o", "json", "twin", "patch", "--file", "-"] + du.tls_args(self.emu, cs),
                   input="")  # --file - is not stdin: a missing file is a usage error
        self.assertEqual(r.returncode, 2, r.stderr)
        r = du.run(["-o", "json", "twin", "patch"] + du.tls_args(self.emu, cs), input='{"temp":null}')
        self.assertEqual(r.returncode, 0, r.stderr)
        self.assertEqual(json.loads(r.stdout), {"version": 3})
        status, _, twin = self.emu.rest("GET", "/twins/twin-patch")
        reported = twin["properties"]["reported"]
        self.assertEqual(reported["$version"], 3)
        self.assertEqual(reported["fw"], {"v": "1.0"})
        self.assertNotIn("temp", reported)

    def test_invalid_patches_are_refused_locally(self):
        cs = du.create_device(self.emu, "twin-invalid")
        deep = {}
        node = deep
        for _ in range(11):
            node["a"] = {}
            node = node["a"]
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(deep, f)
        self.addCleanup(os.unlink, f.name)
        for args, message in [(['{"bad key":1}'], "bad key"),
                              (['{"$x":1}'], "$x"),
                              (["[1,2]"], "reported patch"),
                              (["{not json"], "invalid JSON"),
                              (["--file", f.name], "nested 11 levels deep")]:
            with self.subTest(args=args):
                r = du.run(["twin", "patch"] + args + du.tls_args(self.emu, cs))
                self.assertEqual(r.returncode, 2, r.stderr)
                self.assertIn(message, r.stderr)
        status, _, twin = self.emu.rest("GET", "/twins/twin-invalid")
        self.assertEqual(twin["properties"]["reported"]["$version"], 1)

    def test_watch_prints_desired_patches_as_they_arrive(self):
        cs = du.create_device(self.emu, "twin-watch")
        watcher = du.Running(["-v", "-o", "json", "twin", "watch", "--full", "--count", "2",
                              "--timeout", "30s"] + du.tls_args(self.emu, cs))
        try:
            full = watcher.next_json()
            self.assertIn("desired", full)
            v1 = self.patch_desired("twin-watch", {"mode": "eco"})
            first = watcher.next_json()
            v2 = self.patch_desired("twin-watch", {"mode": None, "level": 3})
            second = watcher.next_json()
            self.assertEqual(watcher.wait(), 0, watcher.stderr)
        finally:
            watcher.stop()
        self.assertEqual(first["version"], v1)
        self.assertEqual(first["desired"]["mode"], "eco")
        self.assertEqual(second["version"], v2)
        self.assertEqual(second["desired"]["level"], 3)
        self.assertIsNone(second["desired"]["mode"])

    def test_watch_timeout_is_exit_4(self):
        cs = du.create_device(self.emu, "twin-watch-timeout")
        r = du.run(["twin", "watch", "--count", "1", "--timeout", "1s"] + du.tls_args(self.emu, cs))
        self.assertEqual(r.returncode, 4, r.stderr)
        self.assertIn("no desired patch before --timeout 1s", r.stderr)


if __name__ == "__main__":
    unittest.main()
