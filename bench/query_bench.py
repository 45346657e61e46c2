#!/usr/bin/env python3
"""Figures for twin queries over a large registry (docs/protocol.md §16.2). Prints, does not assert.

    AZHUB_BIN=build/release/cli/azhub python3 bench/query_bench.py [--devices N] [--runs R]

Starts `azhub emulate --in-memory` (tests/e2e/harness.py), registers N devices (default 100,000)
with bulk POST /devices requests of 100, each with tags {"batch": i % 100, "region": one of 10,
"serial": "s%06d"}, then runs each query R times over real HTTPS on loopback with one keep-alive
connection, following x-ms-continuation to the end, and prints per query: rows, pages, the
latency of one page request (p50 / p90 / max over every page of every run) and of the whole
query (p50), and the same for `azhub service query` (a process per run). The peer in the same run is Microsoft's Node service SDK (`azure-iothub`
Registry.createQuery(...).next, tests/interop/node_modules) paging the same query against the
same emulator, when node and the SDK are installed: its whole-query time, p50 over R runs.
"""

import argparse
import json
import os
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "tests", "e2e"))
from harness import Emulator, client_ssl_context  # noqa: E402
import http.client  # noqa: E402

REGIONS = ["eu", "us", "asia", "africa", "oceania", "arctic", "andes", "alps", "sahel", "steppe"]

QUERIES = [
    ("tag, 1% of twins", "SELECT * FROM devices WHERE tags.batch = 7"),
    ("tag, 10% of twins", "SELECT * FROM devices WHERE tags.region = 'eu'"),
    ("tag, 1 twin", "SELECT deviceId FROM devices WHERE tags.serial = 's054321'"),
    ("tag + projection, 1%", "SELECT deviceId, tags.region FROM devices WHERE tags.batch = 42 AND tags.region = 'asia'"),
    ("COUNT over 10%", "SELECT COUNT() AS n FROM devices WHERE tags.region = 'eu'"),
    ("GROUP BY region", "SELECT tags.region, COUNT() AS n FROM devices GROUP BY tags.region"),
]

NODE_QUERY = r"""
const path = require('path');
const iothub = require(path.join(path.resolve(process.argv[2]), 'node_modules', 'azure-iothub'));
const https = require('https');
const fs = require('fs');
const ca = fs.readFileSync(process.argv[4]);
const port = Number(process.argv[5]);
const orig = https.request;
https.request = function (options, cb) {  // the SDK always dials port 443 with the system CAs
  if (typeof options === 'object') { options.port = port; options.ca = ca; if (options.agent) options.agent = undefined; }
  return orig.call(https, options, cb);
};
const registry = iothub.Registry.fromConnectionString(process.argv[3]);
const runs = Number(process.argv[7]);
async function once() {
  const q = registry.createQuery(process.argv[6], 100);
  let rows = 0;
  const t0 = process.hrtime.bigint();
  do {
    const page = await new Promise((res, rej) => q.next((e, r) => e ? rej(e) : res(r)));
    rows += page.length;
  } while (q.hasMoreResults);
  return [Number(process.hrtime.bigint() - t0) / 1e6, rows];
}
(async () => {
  const out = [];
  for (let i = 0; i < runs; ++i) out.push(await once());
  console.log(JSON.stringify(out));
})().catch((e) => { console.error(String(e)); process.exit(1); });
"""


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def connect(emu):
    return http.client.HTTPSConnection("localhost", emu.ports["https"], timeout=120,
                                       context=client_ssl_context(emu.ca_file))


def register(emu, conn, n):
    token = emu.service_token()
    t0 = time.perf_counter()
    for start in range(0, n, 100):
        batch = [{"id": "q%06d" % i, "importMode": "create",
                  "tags": {"batch": i % 100, "region": REGIONS[i % 10], "serial": "s%06d" % i}}
                 for i in range(start, min(n, start + 100))]
        conn.request("POST", "/devices?api-version=2021-04-12", body=json.dumps(batch),
                     headers={"Authorization": token, "Content-Type": "application/json"})
        resp = conn.getresponse()
        body = json.loads(resp.read())
        assert resp.status == 200 and body["isSuccessful"], body
    return time.perf_counter() - t0


def run_query(emu, conn, query):
    """Every page of `query`: (rows, [seconds per page], total seconds)."""
    token = emu.service_token()
    rows = 0
    pages = []
    continuation = None
    t0 = time.perf_counter()
    while True:
        headers = {"Authorization": token, "Content-Type": "application/json", "x-ms-max-item-count": "100"}
        if continuation:
            headers["x-ms-continuation"] = continuation
        p0 = time.perf_counter()
        conn.request("POST", "/devices/query?api-version=2021-04-12", body=json.dumps({"query": query}), headers=headers)
        resp = conn.getresponse()
        body = resp.read()
        pages.append(time.perf_counter() - p0)
        assert resp.status == 200, body
        rows += len(json.loads(body))
        continuation = resp.getheader("x-ms-continuation")
        if not continuation:
            break
    return rows, pages, time.perf_counter() - t0


def node_peer(emu, query, runs):
    interop = os.path.join(HERE, "..", "tests", "interop")
    if not os.path.isdir(os.path.join(interop, "node_modules", "azure-iothub")):
        return None
    script = os.path.join(emu.tmpdir if hasattr(emu, "tmpdir") else "/tmp", "azhub_query_peer.js")
    with open(script, "w") as f:
        f.write(NODE_QUERY)
    try:
        out = subprocess.run(["node", script, interop, emu.service_connection_string, emu.ca_file,
                              str(emu.ports["https"]), query, str(runs)],
                             capture_output=True, text=True, timeout=600)
    except (OSError, subprocess.TimeoutExpired) as e:
        return "not run (%s)" % e
    if out.returncode != 0:
        return "failed: %s" % out.stderr.strip()[:200]
    return json.loads(out.stdout)


def azhub_query(emu, query, runs):
    """Whole-query seconds of `azhub service query` (one process per run), p50."""
    env = dict(os.environ, AZHUB_SERVICE_CONNECTION_STRING=emu.service_connection_string)
    times = []
    rows = 0
    for _ in range(runs):
        t0 = time.perf_counter()
        out = subprocess.run([os.environ["AZHUB_BIN"], "service", "query", query, "--port", str(emu.ports["https"]),
                              "--ca-file", emu.ca_file], capture_output=True, text=True, env=env, timeout=600)
        times.append(time.perf_counter() - t0)
        assert out.returncode == 0, out.stderr
        rows = len(out.stdout.splitlines())
    return statistics.median(times), rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--devices", type=int, default=100000)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--no-peer", action="store_true", help="skip the Node SDK peer")
    args = parser.parse_args()

    with Emulator(devices=[]) as emu:
        conn = connect(emu)
        took = register(emu, conn, args.devices)
        print("registry: %d devices with tags, bulk-created in %.1f s (%d requests)"
              % (args.devices, took, (args.devices + 99) // 100))
        print("%-22s %7s %6s %28s %10s %14s %14s" % ("query", "rows", "pages", "page p50 / p90 / max ms",
                                                   "query p50", "azhub p50", "Node SDK p50"))
        for name, query in QUERIES:
            page_times = []
            totals = []
            rows = pages = 0
            for _ in range(args.runs):
                rows, p, total = run_query(emu, conn, query)
                pages = len(p)
                page_times.extend(p)
                totals.append(total)
            cli_s, cli_rows = azhub_query(emu, query, args.runs)
            assert cli_rows == rows, (cli_rows, rows)
            peer = "-"
            if not args.no_peer:
                result = node_peer(emu, query, args.runs)
                if isinstance(result, list):
                    assert all(r[1] == rows for r in result), (result, rows)
                    peer = "%.1f ms" % statistics.median(r[0] for r in result)
                elif result is not None:
                    peer = result
            print("%-22s %7d %6d %10.1f / %6.1f / %6.1f %8.1f ms %11.1f ms %14s"
                  % (name, rows, pages, pct(page_times, 50) * 1000, pct(page_times, 90) * 1000,
                     max(page_times) * 1000, statistics.median(totals) * 1000, cli_s * 1000, peer))
        conn.close()


if __name__ == "__main__":
    main()
