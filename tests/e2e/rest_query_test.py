"""Twin queries, registry statistics and bulk registry operations end to end (docs/protocol.md
§16): the REST API of `azhub emulate` and `azhub service query` / `azhub service stats`, with
every result checked at the hub."""

import base64
import json
import os
import sys
import unittest

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from harness import Emulator, hub_error  # noqa: E402
from service_helpers import ServiceCli  # noqa: E402

EMU = None
CLI = None
KEY = base64.b64encode(bytes(range(32))).decode()
TWIN_RES = "$iothub/twin/res/#"
N = 30  # q00 ... q29


def device(i, **extra):
    entry = {"id": "q%02d" % i, "importMode": "create",
             "authentication": {"type": "sas", "symmetricKey": {"primaryKey": KEY, "secondaryKey": KEY}},
             "tags": {"x": i % 3, "region": "US" if i % 2 == 0 else "EU", "name": "q%02d" % i}}
    entry.update(extra)
    return entry


def report(device_id, patch):
    """Sets reported properties as the device would (MQTT twin PATCH)."""
    c = EMU.connect_device(device_id, key=KEY, clean_session=True)
    try:
        c.subscribe([(TWIN_RES, 0)])
        c.publish("$iothub/twin/PATCH/properties/reported/?$rid=1", json.dumps(patch).encode())
        r = c.read_publish()
        assert r.topic.startswith("$iothub/twin/res/204/"), r.topic
    finally:
        c.disconnect()


def setUpModule():
    global EMU, CLI
    EMU = Emulator().start()
    CLI = ServiceCli(EMU)
    status, _, result = EMU.rest("POST", "/devices", [device(i) for i in range(N)])
    assert status == 200 and result == {"isSuccessful": True, "errors": [], "warnings": []}, result
    for i, s in ((0, "Success"), (1, "Success"), (2, "Success"), (3, "Pending"), (4, "Pending"), (5, "Error")):
        report("q%02d" % i, {"telemetryConfig": {"status": s}, "fw": i})


def tearDownModule():
    EMU.stop()


def query(text, page_size=None, continuation=None):
    headers = {}
    if page_size is not None:
        headers["x-ms-max-item-count"] = str(page_size)
    if continuation is not None:
        headers["x-ms-continuation"] = continuation
    return EMU.rest("POST", "/devices/query", {"query": text}, headers=headers)


def query_all(text, page_size):
    """Every page of `text`: (rows, number of pages, item types seen)."""
    rows, pages, types, token = [], 0, set(), None
    while True:
        status, headers, body = query(text, page_size, token)
        assert status == 200, body
        pages += 1
        types.add(headers.get("x-ms-item-type"))
        assert len(body) <= page_size
        rows += body
        token = headers.get("x-ms-continuation")
        if token is None:
            return rows, pages, types
        assert pages < 100


class Query(unittest.TestCase):
    def test_select_star_rows_are_the_twins(self):
        status, headers, rows = query("SELECT * FROM devices WHERE deviceId = 'q07'")
        self.assertEqual(status, 200, rows)
        self.assertEqual(headers["x-ms-item-type"], "twin")
        self.assertNotIn("x-ms-continuation", headers)
        _, _, twin = EMU.rest("GET", "/twins/q07")
        self.assertEqual(rows, [twin])
        self.assertEqual(list(rows[0]), list(twin))  # the members in the same order too

    def test_where_on_tags_and_reported_properties(self):
        _, _, rows = query("SELECT deviceId FROM devices WHERE tags.x = 1 AND tags.region = 'EU'")
        self.assertEqual(sorted(r["deviceId"] for r in rows), ["q01", "q07", "q13", "q19", "q25"])
        _, headers, rows = query("select deviceId, properties.reported.fw from devices "
                                 "where properties.reported.telemetryConfig.status IN ['Pending', 'Error']")
        self.assertEqual(headers["x-ms-item-type"], "raw")
        self.assertEqual(rows, [{"deviceId": "q03", "fw": 3}, {"deviceId": "q04", "fw": 4}, {"deviceId": "q05", "fw": 5}])
        _, _, rows = query("SELECT deviceId FROM devices WHERE tags.x = '1'")  # a string never equals a number
        self.assertEqual(rows, [])

    def test_group_by(self):
        status, headers, rows = query(
            "SELECT properties.reported.telemetryConfig.status AS status, COUNT() AS numberOfDevices "
            "FROM devices WHERE IS_DEFINED(properties.reported.telemetryConfig.status) "
            "GROUP BY properties.reported.telemetryConfig.status")
        self.assertEqual(status, 200, rows)
        self.assertEqual(headers["x-ms-item-type"], "raw")
        self.assertEqual(sorted(rows, key=lambda r: -r["numberOfDevices"]),
                         [{"numberOfDevices": 3, "status": "Success"}, {"numberOfDevices": 2, "status": "Pending"},
                          {"numberOfDevices": 1, "status": "Error"}])
        _, _, rows = query("SELECT COUNT() AS total FROM devices")
        self.assertEqual(rows, [{"total": N}])

    def test_paging_with_continuation(self):
        rows, pages, types = query_all("SELECT * FROM devices", 7)
        self.assertEqual(pages, 5)  # 7 + 7 + 7 + 7 + 2
        self.assertEqual(types, {"twin"})
        self.assertEqual([r["deviceId"] for r in rows], ["q%02d" % i for i in range(N)])
        rows, pages, _ = query_all("SELECT deviceId FROM devices WHERE tags.x = 0", 4)
        self.assertEqual([r["deviceId"] for r in rows], ["q%02d" % i for i in range(0, N, 3)])
        self.assertGreaterEqual(pages, 3)
        rows, pages, _ = query_all("SELECT TOP 9 deviceId FROM devices", 4)
        self.assertEqual(len(rows), 9)
        self.assertEqual(pages, 3)
        rows, pages, _ = query_all("SELECT tags.name AS n, COUNT() AS c FROM devices GROUP BY tags.name", 8)
        self.assertEqual(sorted(r["n"] for r in rows), ["q%02d" % i for i in range(N)])
        self.assertEqual(pages, 4)
        # More than the hub's page size is served as its page size (100).
        status, _, body = query("SELECT deviceId FROM devices", 5000)
        self.assertEqual((status, len(body)), (200, N))

    def test_syntax_error_names_the_token(self):
        status, headers, body = query("SELECT * FROM devices WHERE STARTS_WITH(deviceId, 'q')")
        self.assertEqual(status, 400, body)
        self.assertEqual(headers["iothub-errorcode"], "ArgumentInvalid")
        err = hub_error(body)
        self.assertEqual(err["errorCode"], 400004)
        self.assertEqual(err["message"], "query: syntax error at line 1, column 29 near 'STARTS_WITH': "
                                         "unknown function STARTS_WITH (twin queries spell it STARTSWITH)")
        status, _, body = query("SELECT * FROM devices", continuation="bm90IGEgdG9rZW4=")
        self.assertEqual(status, 400, body)
        self.assertEqual(hub_error(body)["message"], "x-ms-continuation: not a continuation token this hub issued")
        status, _, body = EMU.rest("POST", "/devices/query", {"sql": "SELECT * FROM devices"})
        self.assertEqual(status, 400, body)
        status, headers, _ = EMU.rest("GET", "/devices/query")
        self.assertEqual((status, headers.get("allow")), (405, "POST"))

    def test_modules_and_jobs(self):
        status, _, _ = EMU.rest("PUT", "/devices/q10/modules/mod1", {})
        self.assertEqual(status, 200)
        status, _, _ = EMU.rest("PATCH", "/twins/q10/modules/mod1", {"tags": {"role": "scanner"}})
        self.assertEqual(status, 200)
        _, headers, rows = query("SELECT * FROM devices.modules WHERE tags.role = 'scanner'")
        self.assertEqual([(r["deviceId"], r["moduleId"]) for r in rows], [("q10", "mod1")])
        _, headers, rows = query("SELECT * FROM devices.jobs")
        self.assertEqual((rows, headers["x-ms-item-type"]), ([], "deviceJob"))


class QueryCommand(unittest.TestCase):
    def test_ndjson_rows_across_pages(self):
        for json_out in (False, True):
            proc = CLI.run("query", "SELECT deviceId, tags.x FROM devices WHERE tags.region = 'US'", "--page-size", "4",
                           json_out=json_out)
            self.assertEqual(proc.returncode, 0, proc.stderr)
            rows = [json.loads(line) for line in proc.stdout.splitlines()]
            self.assertEqual(rows, [{"deviceId": "q%02d" % i, "x": i % 3} for i in range(0, N, 2)])

    def test_top_and_whole_twins(self):
        proc = CLI.run("query", "SELECT * FROM devices", "--top", "3", "--page-size", "2")
        self.assertEqual(proc.returncode, 0, proc.stderr)
        rows = [json.loads(line) for line in proc.stdout.splitlines()]
        self.assertEqual([r["deviceId"] for r in rows], ["q00", "q01", "q02"])
        self.assertEqual(rows[0]["tags"]["name"], "q00")

    def test_syntax_error(self):
        proc = CLI.run("query", "SELECT * FORM devices")
        self.assertEqual(proc.returncode, 1)
        self.assertEqual(proc.stdout, "")
        self.assertEqual(proc.stderr.strip(), "azhub: error: ArgumentInvalid (400004): query: syntax error at line 1, "
                                              "column 10 near 'FORM': expected FROM")
        proc = CLI.run("query", "SELECT * FROM devices", "--page-size", "101")
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(proc.stderr.strip(), "azhub: error: --page-size: expected 1 to 100")


class Statistics(unittest.TestCase):
    def test_statistics(self):
        status, _, _ = EMU.rest("POST", "/devices", [device(90, status="disabled"), device(91)])
        self.assertEqual(status, 200)
        try:
            c = EMU.connect_device("q91", key=KEY, clean_session=True)
            try:
                status, _, registry = EMU.rest("GET", "/statistics/devices")
                self.assertEqual(status, 200, registry)
                total = registry["totalDeviceCount"]
                self.assertEqual(registry, {"totalDeviceCount": total, "enabledDeviceCount": total - 1,
                                            "disabledDeviceCount": 1})
                _, _, devices = EMU.rest("GET", "/devices")
                self.assertEqual(total, len(devices))
                status, _, service = EMU.rest("GET", "/statistics/service")
                self.assertEqual((status, service), (200, {"connectedDeviceCount": 1}))
                stats = CLI.json("stats")
                self.assertEqual(stats, {**registry, "connectedDeviceCount": 1})
                proc = CLI.run("stats")
                self.assertEqual(proc.returncode, 0, proc.stderr)
                self.assertEqual(proc.stdout, "devices:   %d\nenabled:   %d\ndisabled:  1\nconnected: 1\n"
                                 % (total, total - 1))
            finally:
                c.disconnect()
        finally:
            EMU.rest("POST", "/devices", [{"id": "q90", "importMode": "delete"}, {"id": "q91", "importMode": "delete"}])


class Bulk(unittest.TestCase):
    def bulk(self, entries, status=200):
        got, _, body = EMU.rest("POST", "/devices", entries)
        self.assertEqual(got, status, body)
        return body

    def test_modes_and_per_device_errors(self):
        self.assertEqual(self.bulk([device(50), device(51)])["isSuccessful"], True)
        _, _, d50 = EMU.rest("GET", "/devices/q50")
        _, _, t51 = EMU.rest("GET", "/twins/q51")
        result = self.bulk([
            device(50),                                                         # exists: DeviceAlreadyExists
            {"id": "q51", "importMode": "updateIfMatchETag", "eTag": "stale", "status": "disabled"},
            {"id": "q52", "importMode": "updateTwinIfMatchETag", "twinETag": t51["etag"], "tags": {"a": 1}},
            {"id": "q53", "importMode": "delete"},                               # missing: DeviceNotFound
        ])
        self.assertEqual(result, {"isSuccessful": False, "warnings": [], "errors": [
            {"deviceId": "q50", "errorCode": "DeviceAlreadyExists", "errorStatus": result["errors"][0]["errorStatus"]},
            {"deviceId": "q51", "errorCode": "PreconditionFailed", "errorStatus": result["errors"][1]["errorStatus"]},
            {"deviceId": "q52", "errorCode": "DeviceNotFound", "errorStatus": result["errors"][2]["errorStatus"]},
            {"deviceId": "q53", "errorCode": "DeviceNotFound", "errorStatus": result["errors"][3]["errorStatus"]},
        ]}, result)
        self.assertEqual(EMU.rest("GET", "/devices/q51")[2]["status"], "enabled")  # the stale update did nothing
        self.assertEqual(self.bulk([
            {"id": "q50", "importMode": "Update", "status": "disabled"},        # the Node SDK's spelling
            {"id": "q51", "importMode": "UPDATETWIN", "tags": {"floor": 3}},
        ]), {"isSuccessful": True, "errors": [], "warnings": []})
        _, _, now50 = EMU.rest("GET", "/devices/q50")
        self.assertEqual((now50["status"], now50["authentication"]["symmetricKey"]["primaryKey"]),
                         ("disabled", d50["authentication"]["symmetricKey"]["primaryKey"]))
        _, _, now51 = EMU.rest("GET", "/twins/q51")
        self.assertEqual((now51["status"], now51["tags"]["floor"]), ("enabled", 3))

        result = self.bulk([
            {"id": "q51", "importMode": "updateTwinIfMatchETag", "twinETag": now51["etag"],
             "properties": {"desired": {"fw": "2.0"}}},
            {"id": "q50", "importMode": "deleteIfMatchETag", "eTag": now50["etag"]},
        ])
        self.assertEqual(result, {"isSuccessful": True, "errors": [], "warnings": []})
        result = self.bulk([{"id": "q51", "importMode": "updateIfMatchETag", "eTag": "*", "status": "disabled"}])
        self.assertEqual(result, {"isSuccessful": True, "errors": [], "warnings": []})
        self.assertEqual(EMU.rest("GET", "/devices/q50")[0], 404)
        _, _, twin = EMU.rest("GET", "/twins/q51")
        self.assertEqual((twin["status"], twin["properties"]["desired"]["fw"]), ("disabled", "2.0"))
        self.assertEqual(self.bulk([{"id": "q51", "importMode": "delete"}])["isSuccessful"], True)
        self.assertEqual(EMU.rest("GET", "/devices/q51")[0], 404)

    def test_request_refusals(self):
        status, headers, body = EMU.rest("POST", "/devices", [{"id": "t%d" % i, "importMode": "create"} for i in range(101)])
        self.assertEqual((status, headers["iothub-errorcode"]), (413, "TooManyDevices"), body)
        status, headers, body = EMU.rest("POST", "/devices", [{"id": "t1", "importMode": "create"}] * 2)
        self.assertEqual((status, headers["iothub-errorcode"]), (400, "DeviceDefinedMultipleTimes"), body)
        status, headers, body = EMU.rest("POST", "/devices", [{"id": "t1", "importMode": "upsert"}])
        self.assertEqual((status, headers["iothub-errorcode"]), (400, "ArgumentInvalid"), body)
        self.assertIn("importMode 'upsert' is not", hub_error(body)["message"])
        status, _, body = EMU.rest("POST", "/devices", {"id": "t1"})
        self.assertEqual(status, 400, body)
        self.assertEqual(EMU.rest("GET", "/devices/t1")[0], 404)  # nothing applied


if __name__ == "__main__":
    unittest.main()
