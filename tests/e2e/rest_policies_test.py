"""Shared access policy permissions on the REST API (emulator/README.md "Common rules"): each
default policy reaches exactly the operations its rights allow. The emulator prints only the
iothubowner key, so this file runs it with a state directory and reads the other policies'
keys from its database."""

import json
import os
import shutil
import sqlite3
import sys
import time
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Emulator, free_state_dir, hub_error, sas_token  # noqa: E402
from service_helpers import ServiceCli  # noqa: E402

EMU = None
STATE = None
KEYS = {}


def setUpModule():
    global EMU, STATE
    STATE = free_state_dir()
    EMU = Emulator(devices=["dev1"], in_memory=False, state_dir=STATE).start()
    db = sqlite3.connect(os.path.join(STATE, "emulator.db"))
    try:
        for (doc,) in db.execute("SELECT doc FROM policies"):
            policy = json.loads(doc)
            KEYS[policy["name"]] = policy["primary_key"]
    finally:
        db.close()


def tearDownModule():
    EMU.stop()
    shutil.rmtree(STATE, ignore_errors=True)


def token(policy, resource=None):
    return sas_token(resource or EMU.host_name, KEYS[policy], int(time.time()) + 600, policy)


class Permissions(unittest.TestCase):
    def check(self, policy, method, path, want, body=None):
        if isinstance(body, str):
            status, headers, resp = EMU.rest(method, path, raw=body, token=token(policy))
        else:
            status, headers, resp = EMU.rest(method, path, body, token=token(policy))
        self.assertEqual(status, want, (policy, method, path, resp))
        if want == 401:
            self.assertEqual(headers["iothub-errorcode"], "IotHubUnauthorizedAccess")
            inner = hub_error(resp)
            self.assertIn(inner["errorCode"], (401002, None))  # None: the registry form
            self.assertIn(inner["name"], ("IotHubUnauthorizedAccess", None))
            return inner
        return resp

    def test_default_policies_exist(self):
        for name in ("iothubowner", "service", "device", "registryRead", "registryReadWrite"):
            self.assertIn(name, KEYS)

    def test_registry_read(self):
        self.check("registryRead", "GET", "/devices/dev1", 200)
        self.check("registryRead", "GET", "/devices", 200)
        inner = self.check("registryRead", "PUT", "/devices/rr1", 401, {})
        self.assertIn("RegistryWrite", inner["message"])
        self.check("registryRead", "GET", "/twins/dev1", 401)
        self.check("registryRead", "POST", "/_emulator/devices/dev1/messages/deviceBound", 401, "x")

    def test_registry_read_queries_and_statistics(self):
        # Twin queries take RegistryRead or ServiceConnect (docs/protocol.md §16.2); registry
        # statistics RegistryRead; service statistics, jobs and bulk writes do not.
        rows = self.check("registryRead", "POST", "/devices/query", 200, {"query": "SELECT deviceId FROM devices"})
        self.assertEqual(rows, [{"deviceId": "dev1"}])
        self.check("service", "POST", "/devices/query", 200, {"query": "SELECT COUNT() AS n FROM devices"})
        self.check("registryRead", "GET", "/statistics/devices", 200)
        self.check("registryRead", "GET", "/statistics/service", 401)
        self.check("registryRead", "POST", "/devices", 401, [{"id": "bulk1", "importMode": "create"}])
        job = {"type": "scheduleUpdateTwin", "queryCondition": "*", "updateTwin": {"tags": {"a": 1}}}
        inner = self.check("registryRead", "PUT", "/jobs/v2/rr-job", 401, job)
        self.assertIn("ServiceConnect", inner["message"])
        self.check("registryRead", "GET", "/jobs/v2/query", 401)
        self.check("registryReadWrite", "PUT", "/jobs/v2/rw-job", 401, job)
        self.check("iothubowner", "GET", "/jobs/v2/rr-job", 200)  # nothing was scheduled:
        self.assertEqual(EMU.rest("GET", "/jobs/v2/rr-job")[2]["status"], "unknown")

    def test_registry_read_only_connection_string_with_the_cli(self):
        cli = ServiceCli(EMU)
        cs = "HostName=%s;SharedAccessKeyName=registryRead;SharedAccessKey=%s" % (EMU.host_name, KEYS["registryRead"])
        out = cli.run("query", "SELECT deviceId, status FROM devices", connection_string=cs)
        self.assertEqual(out.returncode, 0, out.stderr)
        self.assertEqual([json.loads(line) for line in out.stdout.splitlines()], [{"deviceId": "dev1", "status": "enabled"}])
        listed = cli.run("device", "list", json_out=True, connection_string=cs)
        self.assertEqual(listed.returncode, 0, listed.stderr)
        # What it may not do is refused by the hub: exit 3 (401) naming the missing permission.
        for args in (["device", "create", "rr-dev"],
                     ["twin", "show", "dev1"],
                     ["stats"],
                     ["job", "schedule-twin", "--where", "*", "--tags", '{"a":1}']):
            refused = cli.run(*args, connection_string=cs)
            self.assertEqual(refused.returncode, 3, (args, refused.stdout, refused.stderr))
            self.assertIn("IotHubUnauthorizedAccess", refused.stderr, args)
            self.assertIn("lacks the", refused.stderr, args)
        self.assertEqual(EMU.rest("GET", "/devices/rr-dev")[0], 404)

    def test_registry_read_write(self):
        self.check("registryReadWrite", "PUT", "/devices/rw1", 200, {})
        self.check("registryReadWrite", "GET", "/devices/rw1", 200)
        self.check("registryReadWrite", "DELETE", "/devices/rw1", 204)
        self.check("registryReadWrite", "PATCH", "/twins/dev1", 401, {"tags": {"a": 1}})
        self.check("registryReadWrite", "DELETE", "/devices/dev1/commands", 401)

    def test_service(self):
        self.check("service", "GET", "/twins/dev1", 200)
        self.check("service", "PATCH", "/twins/dev1", 200, {"tags": {"a": 1}})
        self.check("service", "DELETE", "/devices/dev1/commands", 200)
        self.check("service", "GET", "/_emulator/messages/events", 200)
        self.check("service", "POST", "/_emulator/devices/dev1/messages/deviceBound", 200, "hi")
        inner = self.check("service", "GET", "/devices/dev1", 401)
        self.assertIn("RegistryRead", inner["message"])
        self.check("service", "PUT", "/devices/s1", 401, {})

    def test_device_policy_is_not_a_service_policy(self):
        for method, path in (("GET", "/devices/dev1"), ("GET", "/twins/dev1"),
                             ("GET", "/_emulator/messages/events")):
            self.check("device", method, path, 401)

    def test_owner_reaches_everything(self):
        self.check("iothubowner", "GET", "/devices/dev1", 200)
        self.check("iothubowner", "GET", "/twins/dev1", 200)
        self.check("iothubowner", "DELETE", "/devices/dev1/commands", 200)


if __name__ == "__main__":
    unittest.main(verbosity=2)
