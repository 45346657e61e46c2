"""azhub service twin show|update against azhub emulate."""

import json
import os
import tempfile
import unittest

from harness import Emulator
from service_helpers import ServiceCli


class ServiceTwinTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.emu = Emulator(devices=["dev1", "dev2", "dev3"]).start()
        cls.cli = ServiceCli(cls.emu)

    @classmethod
    def tearDownClass(cls):
        cls.emu.stop()

    def test_show(self):
        proc = self.cli.run("twin", "show", "dev1")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        self.assertIn("\n  ", proc.stdout)  # text is indented JSON
        twin = json.loads(proc.stdout)
        self.assertEqual(twin["deviceId"], "dev1")
        self.assertIn("etag", twin)
        self.assertIn("desired", twin["properties"])
        self.assertEqual(self.cli.json("twin", "show", "dev1")["deviceId"], "dev1")

    def test_show_unknown_device(self):
        proc = self.cli.run("twin", "show", "nobody")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("DeviceNotFound (404001)", proc.stderr)

    def test_update_desired_reaches_the_connected_device(self):
        client = self.emu.connect_device("dev2")
        try:
            client.subscribe([("$iothub/twin/PATCH/properties/desired/#", 0)])
            twin = self.cli.json("twin", "update", "dev2", "--desired", '{"fw":"1.2","rate":{"s":5}}')
            self.assertEqual(twin["properties"]["desired"]["fw"], "1.2")
            patch = client.read_publish(timeout=10)
            self.assertTrue(patch.topic.startswith("$iothub/twin/PATCH/properties/desired/"), patch.topic)
            body = json.loads(patch.payload)
            self.assertEqual(body["fw"], "1.2")
            self.assertEqual(body["rate"], {"s": 5})
        finally:
            client.disconnect()

    def test_update_tags_and_delete_with_null(self):
        twin = self.cli.json("twin", "update", "dev1", "--tags", '{"floor":2,"room":"a"}',
                             "--desired", '{"x":1}')
        self.assertEqual(twin["tags"], {"floor": 2, "room": "a"})
        twin = self.cli.json("twin", "update", "dev1", "--tags", '{"room":null}')
        self.assertEqual(twin["tags"], {"floor": 2})
        self.assertEqual(twin["properties"]["desired"]["x"], 1)

    def test_update_from_document_stdin_and_file(self):
        twin = self.cli.json("twin", "update", "dev3", '{"properties":{"desired":{"a":1}}}')
        self.assertEqual(twin["properties"]["desired"]["a"], 1)
        twin = self.cli.json("twin", "update", "dev3", "-", input='{"tags":{"t":"stdin"}}')
        self.assertEqual(twin["tags"]["t"], "stdin")
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            f.write('{"properties":{"desired":{"b":"file"}}}')
        try:
            twin = self.cli.json("twin", "update", "dev3", "--file", f.name)
        finally:
            os.unlink(f.name)
        self.assertEqual(twin["properties"]["desired"]["b"], "file")
        self.assertEqual(twin["properties"]["desired"]["a"], 1)

    def test_etag_optimistic_concurrency(self):
        etag = self.cli.json("twin", "show", "dev3")["etag"]
        twin = self.cli.json("twin", "update", "dev3", "--desired", '{"v":1}', "--etag", etag)
        self.assertNotEqual(twin["etag"], etag)
        proc = self.cli.run("twin", "update", "dev3", "--desired", '{"v":2}', "--etag", etag)
        self.assertEqual(proc.returncode, 1)
        self.assertIn("PreconditionFailed (412001)", proc.stderr)
        self.assertIn("etag", proc.stderr.split("):", 1)[1])
        self.assertEqual(self.cli.json("twin", "show", "dev3")["properties"]["desired"]["v"], 1)

    def test_module_twin(self):
        status, _, body = self.emu.rest("PUT", "/devices/dev1/modules/m1",
                                        {"deviceId": "dev1", "moduleId": "m1"})
        self.assertEqual(status, 200, body)
        twin = self.cli.json("twin", "update", "dev1", "--module-id", "m1", "--desired", '{"mod":true}')
        self.assertEqual(twin["moduleId"], "m1")
        self.assertEqual(twin["properties"]["desired"]["mod"], True)
        shown = self.cli.json("twin", "show", "dev1", "--module-id", "m1")
        self.assertEqual(shown["properties"]["desired"]["mod"], True)
        self.assertNotIn("mod", self.cli.json("twin", "show", "dev1")["properties"]["desired"])
        proc = self.cli.run("twin", "show", "dev1", "--module-id", "nope")
        self.assertEqual(proc.returncode, 1)
        self.assertIn("ModuleNotFound (404010)", proc.stderr)

    def test_update_refusals(self):
        cases = [
            (["--desired", "{not json"], "--desired"),
            (["--desired", "[1]"], "--desired"),
            (['{"properties":{"reported":{"a":1}}}'], "reported"),
            ([], "give --desired"),
            (["--desired", '{"a":1}', '{"tags":{}}'], "not several"),
            (["--tags", '{"bad key":1}'], "bad key"),
        ]
        for extra, needle in cases:
            with self.subTest(extra=extra):
                proc = self.cli.run("twin", "update", "dev1", *extra)
                self.assertEqual(proc.returncode, 2, proc.stderr)
                self.assertIn(needle, proc.stderr)


if __name__ == "__main__":
    unittest.main()
