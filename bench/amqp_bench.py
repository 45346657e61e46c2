#!/usr/bin/env python3
"""amqp_bench.py: the cloud side over AMQP (docs/protocol.md §15) beside the REST path and
Microsoft's Node SDKs, against `azhub emulate` over TLS on loopback, in the same run.

    python3 bench/amqp_bench.py [--azhub build/release/cli/azhub] [--messages 5000] [--sends 100]

Rows:
  D2C read, messages/s from the hub to stdout, --messages telemetry messages sent beforehand
  (azhub send --lines, spread over 4 devices):
    azhub -o json service monitor --since-start            (Event Hubs-compatible endpoint, AMQP)
    azhub -o json service monitor --since-start --transport rest   (the emulator's SSE stream)
    @azure/event-hubs EventHubConsumerClient, all partitions (the official SDK, same endpoint)
  C2D send, messages/s for --sends messages (round robin over devices, queues of 50):
    azhub service c2d send, one process per message      (AMQP: TLS, CBS, link, message)
    azhub service c2d send --transport rest, one process per message
    azure-iothub Client.send, one connection for all     (the official SDK over AMQP)
A script that prints figures, never a test: nothing here asserts a time.
"""
import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
NODE_DIR = os.path.join(ROOT, "tests", "interop")

NODE_EH = r"""
const tls = require('node:tls');
const { EventHubConsumerClient, earliestEventPosition } = require('@azure/event-hubs');
const [cs, port, ca, total] = [process.argv[1], Number(process.argv[2]), require("fs").readFileSync(process.argv[3]), Number(process.argv[4])];
const connect = tls.connect;
tls.connect = (...a) => { const o = typeof a[0] === 'object' ? { ...a[0] } : { ...(a[2] || {}), port: a[0], host: a[1] };
  const cb = a.find((x) => typeof x === 'function'); if (Number(o.port) === 5671) { o.port = port; o.servername = o.host; o.host = '127.0.0.1'; o.ca = ca; }
  return cb ? connect(o, cb) : connect(o); };
const client = new EventHubConsumerClient('$Default', cs);
const start = process.hrtime.bigint();
let n = 0;
const sub = client.subscribe({ processEvents: async (events) => { n += events.length; if (n >= total) {
    const s = Number(process.hrtime.bigint() - start) / 1e9; console.log(JSON.stringify({ n, seconds: s }));
    await sub.close(); await client.close(); process.exit(0); } }, processError: async (e) => { console.error(e); process.exit(1); } },
  { startPosition: earliestEventPosition, maxBatchSize: 300, loadBalancingOptions: { strategy: 'greedy', updateIntervalInMs: 100 } });
"""

NODE_C2D = r"""
const tls = require('node:tls');
const iothub = require('azure-iothub');
const { Message } = require('azure-iot-common');
const [cs, port, ca, total, devices] = [process.argv[1], Number(process.argv[2]), require("fs").readFileSync(process.argv[3]), Number(process.argv[4]), process.argv[5].split(",")];
const connect = tls.connect;
tls.connect = (...a) => { const o = typeof a[0] === 'object' ? { ...a[0] } : { ...(a[2] || {}), port: a[0], host: a[1] };
  const cb = a.find((x) => typeof x === 'function'); if (Number(o.port) === 5671) { o.port = port; o.servername = o.host; o.host = '127.0.0.1'; o.ca = ca; }
  return cb ? connect(o, cb) : connect(o); };
(async () => {
  const client = iothub.Client.fromConnectionString(cs);
  await new Promise((r, j) => client.open((e) => (e ? j(e) : r())));
  const start = process.hrtime.bigint();
  for (let i = 0; i < total; i += 1) {
    await new Promise((r, j) => client.send(devices[i % devices.length], new Message('m' + i), (e) => (e ? j(e) : r())));
  }
  const s = Number(process.hrtime.bigint() - start) / 1e9;
  console.log(JSON.stringify({ n: total, seconds: s }));
  await new Promise((r) => client.close(() => r()));
})().catch((e) => { console.error(e); process.exit(1); });
"""


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--azhub", default=os.environ.get("AZHUB_BIN", os.path.join(ROOT, "build/release/cli/azhub")))
    ap.add_argument("--messages", type=int, default=5000)
    ap.add_argument("--sends", type=int, default=100)
    args = ap.parse_args()
    # Three senders share 8 devices whose C2D queues hold 50 each.
    if args.sends > 8 * 50 // 3:
        raise SystemExit("amqp_bench: --sends is at most %d" % (8 * 50 // 3))
    azhub = os.path.abspath(args.azhub)
    if not os.access(azhub, os.X_OK):
        raise SystemExit("amqp_bench: %s is not built" % azhub)
    node = shutil.which("node")
    have_sdk = node and os.path.isdir(os.path.join(NODE_DIR, "node_modules", "@azure", "event-hubs"))

    work = tempfile.mkdtemp()
    devices = ["b%d" % i for i in range(8)]
    ready_file = os.path.join(work, "ready.json")
    argv = [azhub, "-o", "json", "emulate", "--in-memory", "--mqtt-port", "0", "--https-port", "0", "--amqp-port", "0"]
    for d in devices:
        argv += ["--device", d]
    emu = subprocess.Popen(argv, stdout=open(ready_file, "w"), stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and os.path.getsize(ready_file) == 0:
            time.sleep(0.05)
        ready = json.loads(open(ready_file).readline())
        ports, ca = ready["ports"], ready["caFile"]
        env = dict(os.environ, AZHUB_SERVICE_CONNECTION_STRING=ready["serviceConnectionString"])
        svc = ["--port", str(ports["https"]), "--amqp-port", str(ports["amqps"]), "--ca-file", ca]
        conn = {d["deviceId"]: d["connectionString"] for d in ready["devices"]}

        # D2C: fill the hub first, then time each reader draining all of it.
        per = args.messages // 4
        for d in devices[:4]:
            lines = "".join('{"n":%d}\n' % i for i in range(per))
            r = subprocess.run([azhub, "send", "--lines", "-c", conn[d], "--port", str(ports["mqtts"]), "--ca-file", ca],
                               input=lines.encode(), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
            if r.returncode != 0:
                raise SystemExit("amqp_bench: send --lines failed: " + r.stderr.decode(errors="replace"))
        total = per * 4
        print("D2C read: %d messages (4 devices), messages/s from the hub to stdout" % total)
        for label, extra in (("azhub service monitor (AMQP, Event Hubs endpoint)", []),
                             ("azhub service monitor --transport rest (SSE)", ["--transport", "rest"])):
            start = time.perf_counter()
            r = subprocess.run([azhub, "-o", "json", "service", "monitor", "--since-start", "--count", str(total),
                                "--timeout", "120s"] + extra + svc, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
            took = time.perf_counter() - start
            got = r.stdout.count(b"\n")
            if r.returncode != 0 or got < total:
                print("  %-55s failed (%d, %d lines): %s" % (label, r.returncode, got, r.stderr.decode(errors="replace")[:200]))
                continue
            print("  %-55s %8.0f msg/s  (%.2f s, whole process)" % (label, total / took, took))
        if have_sdk:
            r = subprocess.run([node, "-e", NODE_EH, ready["eventHubsConnectionString"], str(ports["amqps"]), ca, str(total)],
                               cwd=NODE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
            if r.returncode == 0:
                res = json.loads(r.stdout.decode().strip().splitlines()[-1])
                print("  %-55s %8.0f msg/s  (%.2f s after connect)" % ("@azure/event-hubs EventHubConsumerClient",
                                                                         res["n"] / res["seconds"], res["seconds"]))
            else:
                print("  @azure/event-hubs failed: " + r.stderr.decode(errors="replace")[:300])

        print("C2D send: %d messages over %d devices, messages/s" % (args.sends, len(devices)))

        for label, extra in (("azhub service c2d send (AMQP), one process each", []),
                             ("azhub service c2d send --transport rest, one process each", ["--transport", "rest"])):
            start = time.perf_counter()
            for i in range(args.sends):
                r = subprocess.run([azhub, "service", "c2d", "send", devices[i % len(devices)], "m%d" % i] + extra + svc,
                                   env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
                if r.returncode != 0:
                    raise SystemExit("amqp_bench: c2d send failed: " + r.stderr.decode(errors="replace"))
            took = time.perf_counter() - start
            print("  %-55s %8.1f msg/s  (%.1f ms each)" % (label, args.sends / took, took * 1000 / args.sends))
        if have_sdk:
            r = subprocess.run([node, "-e", NODE_C2D, ready["serviceConnectionString"], str(ports["amqps"]), ca, str(args.sends),
                                ",".join(devices)], cwd=NODE_DIR, stdout=subprocess.PIPE, stderr=subprocess.PIPE, timeout=300)
            if r.returncode == 0:
                res = json.loads(r.stdout.decode().strip().splitlines()[-1])
                print("  %-55s %8.1f msg/s  (one connection, after open)" % ("azure-iothub Client.send",
                                                                              res["n"] / res["seconds"]))
            else:
                print("  azure-iothub Client.send failed: " + r.stderr.decode(errors="replace")[:300])
    finally:
        emu.terminate()
        emu.wait(timeout=20)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
