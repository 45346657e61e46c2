#!/usr/bin/env python3
"""Figures for the emulator's REST service API (emulator/README.md). Prints, does not assert.

    AZHUB_BIN=build/release/cli/azhub python3 bench/rest_bench.py [--requests N] [--clients C]

Starts `azhub emulate --in-memory` (tests/e2e/harness.py) and measures over real HTTPS on
loopback, with keep-alive connections:
  1. GET /devices/{id}: requests per second with C concurrent client threads, and the latency
     p50/p99 of one client alone (Python's http.client is the client; it costs more CPU than the
     server, so the rate is a floor, not the server's ceiling);
  2. direct method round trip (POST /twins/{id}/methods answered by a raw MQTT device): p50/p99;
  3. D2C delivery: MQTT QoS 1 PUBLISH by a device until the event arrives on the SSE stream.
"""

import argparse
import os
import re
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", "tests", "e2e"))
from harness import Emulator, client_ssl_context  # noqa: E402
import http.client  # noqa: E402
import json  # noqa: E402


def pct(values, p):
    values = sorted(values)
    return values[min(len(values) - 1, int(len(values) * p / 100))]


def cpu_seconds(pid):
    """utime + stime of process `pid` (from /proc/PID/stat)."""
    with open("/proc/%d/stat" % pid) as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def connection(emu):
    return http.client.HTTPSConnection("localhost", emu.ports["https"], timeout=30,
                                       context=client_ssl_context(emu.ca_file))


def get_loop(emu, n, token, latencies=None):
    conn = connection(emu)
    for _ in range(n):
        t0 = time.perf_counter()
        conn.request("GET", "/devices/dev1?api-version=2021-04-12", headers={"Authorization": token})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, resp.status
        if latencies is not None:
            latencies.append(time.perf_counter() - t0)
    conn.close()


def bench_get(emu, requests, clients):
    token = emu.service_token()
    lat = []
    get_loop(emu, min(requests, 2000), token, lat)
    print("GET /devices/dev1, 1 client: p50 %.2f ms, p99 %.2f ms (%d requests)"
          % (pct(lat, 50) * 1e3, pct(lat, 99) * 1e3, len(lat)))
    per = requests // clients
    threads = [threading.Thread(target=get_loop, args=(emu, per, token)) for _ in range(clients)]
    cpu0 = cpu_seconds(emu.proc.pid)
    t0 = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - t0
    cpu = cpu_seconds(emu.proc.pid) - cpu0
    print("GET /devices/dev1, %d clients: %.0f requests/s (%d requests in %.2f s); emulator CPU "
          "%.1f us per request" % (clients, per * clients / elapsed, per * clients, elapsed,
                                   cpu / (per * clients) * 1e6))


def bench_methods(emu, count):
    dev = emu.connect_device("dev1")
    dev.subscribe([("$iothub/methods/POST/#", 0)])
    stop = threading.Event()

    def answer():
        while not stop.is_set():
            try:
                p = dev.read_packet(timeout=0.5)
            except TimeoutError:
                continue
            m = re.match(r"^\$iothub/methods/POST/[^/]+/\?\$rid=(.+)$", p.topic or "")
            if m:
                dev.publish("$iothub/methods/res/200/?$rid=" + m.group(1), b'{"ok":true}')

    t = threading.Thread(target=answer, daemon=True)
    t.start()
    conn = connection(emu)
    token = emu.service_token()
    lat = []
    body = json.dumps({"methodName": "ping", "payload": {"n": 1}})
    for _ in range(count):
        t0 = time.perf_counter()
        conn.request("POST", "/twins/dev1/methods?api-version=2021-04-12", body=body,
                     headers={"Authorization": token, "Content-Type": "application/json"})
        resp = conn.getresponse()
        resp.read()
        assert resp.status == 200, resp.status
        lat.append(time.perf_counter() - t0)
    stop.set()
    t.join()
    conn.close()
    dev.disconnect()
    print("method invoke round trip: p50 %.2f ms, p99 %.2f ms (%d calls)"
          % (pct(lat, 50) * 1e3, pct(lat, 99) * 1e3, len(lat)))


def bench_stream(emu, count):
    conn = connection(emu)
    conn.request("GET", "/_emulator/messages/events/stream?device=dev2",
                 headers={"Authorization": emu.service_token()})
    resp = conn.getresponse()
    assert resp.status == 200
    assert resp.readline().startswith(b": subscribed")
    resp.readline()
    dev = emu.connect_device("dev2")
    lat = []
    for i in range(count):
        t0 = time.perf_counter()
        dev.publish("devices/dev2/messages/events/", b'{"i":%d}' % i, qos=1)
        while True:
            line = resp.readline()
            if line.startswith(b"data: "):
                break
        lat.append(time.perf_counter() - t0)
    dev.disconnect()
    conn.close()
    print("D2C publish -> SSE event: p50 %.2f ms, p99 %.2f ms (%d messages)"
          % (pct(lat, 50) * 1e3, pct(lat, 99) * 1e3, len(lat)))


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--requests", type=int, default=20000)
    ap.add_argument("--clients", type=int, default=4)
    ap.add_argument("--calls", type=int, default=1000)
    args = ap.parse_args()
    with Emulator(devices=["dev1", "dev2"], verbose=0) as emu:
        print("azhub emulate (%s), REST on https port %d" % (emu.binary, emu.ports["https"]))
        bench_get(emu, args.requests, args.clients)
        bench_methods(emu, args.calls)
        bench_stream(emu, args.calls)


if __name__ == "__main__":
    main()
