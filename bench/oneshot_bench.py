#!/usr/bin/env python3
"""oneshot_bench.py: the wall time of one-shot device commands next to mosquitto_pub doing the
same exchange, against `azhub emulate` over TLS on loopback, in the same run.

    python3 bench/oneshot_bench.py [--azhub build/release/cli/azhub] [--runs 10]

Rows (median and p90 of --runs whole-process runs, wall and CPU):
  azhub send '{"a":1}'          connect, one QoS 1 PUBLISH, PUBACK, disconnect
  mosquitto_pub -q 1 -m ...      the same exchange (the peer)
  azhub twin get / twin patch    connect, SUBSCRIBE, request, response, disconnect
  azhub sas                      process start to exit, no network
  mosquitto_pub --help           the peer's process start to exit
A script that prints figures, never a test: nothing here asserts a time.
"""
import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def timed(argv, env=None, runs=10, any_status=False):
    walls, cpus = [], []
    for _ in range(runs):
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        start = time.perf_counter()
        r = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=env)
        walls.append(time.perf_counter() - start)
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        cpus.append((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime))
        if r.returncode != 0 and not any_status:
            raise SystemExit("%s failed (%d): %s" % (argv[0], r.returncode, r.stderr.decode(errors="replace")))
    walls.sort()
    return statistics.median(walls), walls[int(len(walls) * 0.9) - 1 if len(walls) >= 10 else -1], statistics.median(cpus)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--azhub", default=os.environ.get("AZHUB_BIN", os.path.join(ROOT, "build/release/cli/azhub")))
    ap.add_argument("--runs", type=int, default=10)
    args = ap.parse_args()
    azhub = os.path.abspath(args.azhub)
    if not os.access(azhub, os.X_OK):
        raise SystemExit("oneshot_bench: %s is not built" % azhub)
    if not shutil.which("mosquitto_pub"):
        raise SystemExit("oneshot_bench: mosquitto_pub is missing (scripts/setup.sh installs it)")

    work = tempfile.mkdtemp()
    ready_file = os.path.join(work, "ready.json")
    emu = subprocess.Popen([azhub, "-o", "json", "emulate", "--in-memory", "--mqtt-port", "0", "--https-port", "0", "--amqp-port", "0",
                            "--device", "bench1"], stdout=open(ready_file, "w"), stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 60
        ready = None
        while time.monotonic() < deadline and ready is None:
            try:
                with open(ready_file) as f:
                    line = f.readline()
                ready = json.loads(line) if line.endswith("\n") else None
            except (OSError, ValueError):
                ready = None
            if ready is None:
                time.sleep(0.05)
        if ready is None:
            raise SystemExit("oneshot_bench: the emulator did not start")
        cs = ready["devices"][0]["connectionString"]
        ca = ready["caFile"]
        port = str(ready["ports"]["mqtts"])
        env = dict(os.environ, AZHUB_CONNECTION_STRING=cs)
        conn = ["--ca-file", ca, "--port", port]
        token = subprocess.run([azhub, "sas", "-c", cs, "--ttl", "2h"], capture_output=True, text=True,
                               check=True).stdout.strip()
        mosq = ["mosquitto_pub", "-h", "localhost", "-p", port, "--cafile", ca, "-V", "mqttv311", "-i", "bench1",
                "-u", "localhost/bench1/?api-version=2021-04-12", "-P", token,
                "-t", "devices/bench1/messages/events/", "-q", "1", "-m", '{"a":1}']
        rows = [
            ("azhub send '{\"a\":1}' (QoS 1)", [azhub, "send", '{"a":1}'] + conn),
            ("mosquitto_pub -q 1 (same exchange)", mosq),
            ("azhub twin get", [azhub, "twin", "get"] + conn),
            ("azhub twin patch '{\"b\":1}'", [azhub, "twin", "patch", '{"b":1}'] + conn),
            ("azhub sas", [azhub, "sas", "-c", cs]),
            ("mosquitto_pub --help", ["mosquitto_pub", "--help"]),
        ]
        print("oneshot_bench: %d runs each, load average %.2f, %s" % (args.runs, os.getloadavg()[0], azhub))
        print("%-40s %10s %10s %10s" % ("command", "p50 wall", "p90 wall", "p50 CPU"))
        results = {}
        for name, argv in rows:
            # mosquitto_pub --help exits 1 after printing its usage.
            p50, p90, cpu = timed(argv, env=env, runs=args.runs, any_status=argv[-1] == "--help")
            results[name] = p50
            print("%-40s %8.1f ms %8.1f ms %8.1f ms" % (name, p50 * 1e3, p90 * 1e3, cpu * 1e3))
        peer = results["mosquitto_pub -q 1 (same exchange)"]
        print("ratio azhub send / mosquitto_pub: %.2f" % (results["azhub send '{\"a\":1}' (QoS 1)"] / peer))
        print("ratio azhub twin get / mosquitto_pub: %.2f" % (results["azhub twin get"] / peer))
        print("ratio azhub sas / mosquitto_pub --help: %.2f" % (results["azhub sas"] / results["mosquitto_pub --help"]))
    finally:
        emu.terminate()
        emu.wait(timeout=10)
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
