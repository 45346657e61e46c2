#!/usr/bin/env python3
"""Throughput of `azhub emulate` next to mosquitto, and the emulator's memory per idle TLS
connection. Prints figures; asserts nothing about them.

    bench/emulator_bench.py --azhub build/release/cli/azhub [--publishers 20] [--messages 2000]
                            [--window 10] [--payload 256] [--idle 1000]

1. Starts `azhub emulate --in-memory` (plain MQTT port) and mosquitto (a generated config on a
   free loopback port, anonymous), each on this machine in this run.
2. Runs the same load generator against each: N concurrent MQTT 3.1.1 clients, each publishing
   M QoS 1 messages to devices/{id}/messages/events/ with up to W unacknowledged at a time, and
   reports acknowledged messages per second and the emulator/mosquitto ratio.
3. Opens --idle TLS connections (CONNECT accepted) to the emulator and reports its RSS growth
   per 1,000 connections.

Both brokers get plain TCP for the throughput run so TLS cost is the same (zero) on both sides;
the emulator still authenticates every device with a SAS token and parses each property bag,
and captures every message (in memory with --in-memory).
"""

import argparse
import asyncio
import base64
import hashlib
import hmac
import json
import os
import shutil
import signal
import socket
import ssl
import struct
import subprocess
import sys
import tempfile
import time
import urllib.parse


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def sas(host, device, key, ttl=3600):
    sr = urllib.parse.quote("%s/devices/%s" % (host, device), safe="")
    se = int(time.time()) + ttl
    sig = base64.b64encode(hmac.new(base64.b64decode(key), ("%s\n%d" % (sr, se)).encode(), hashlib.sha256).digest())
    return "SharedAccessSignature sr=%s&sig=%s&se=%d" % (sr, urllib.parse.quote(sig.decode(), safe=""), se)


def mqtt_str(s):
    b = s.encode()
    return struct.pack("!H", len(b)) + b


def remaining(n):
    out = bytearray()
    while True:
        d = n % 128
        n //= 128
        out.append(d | (0x80 if n else 0))
        if not n:
            return bytes(out)


def connect_packet(client_id, username, password):
    flags = 0x02 | (0x80 if username else 0) | (0x40 if password else 0)
    body = mqtt_str("MQTT") + bytes([4, flags]) + struct.pack("!H", 300) + mqtt_str(client_id)
    if username:
        body += mqtt_str(username)
    if password:
        body += mqtt_str(password)
    return b"\x10" + remaining(len(body)) + body


def publish_packet(topic, payload, pid):
    body = mqtt_str(topic) + struct.pack("!H", pid) + payload
    return b"\x32" + remaining(len(body)) + body


async def read_packet(reader):
    first = (await reader.readexactly(1))[0]
    n, mult = 0, 1
    while True:
        b = (await reader.readexactly(1))[0]
        n += (b & 0x7F) * mult
        mult *= 128
        if not b & 0x80:
            break
    return first, await reader.readexactly(n)


async def open_client(port, client_id, username, password, tls_ctx=None):
    reader, writer = await asyncio.open_connection("127.0.0.1", port, ssl=tls_ctx,
                                                   server_hostname="localhost" if tls_ctx else None)
    writer.write(connect_packet(client_id, username, password))
    first, body = await read_packet(reader)
    if first != 0x20 or body[1] != 0:
        raise RuntimeError("CONNACK %r for %s" % (body, client_id))
    return reader, writer


async def publisher(port, ident, messages, window, payload):
    client_id, username, password = ident
    reader, writer = await open_client(port, client_id, username, password)
    topic = "devices/%s/messages/events/bench=1" % client_id
    sent = acked = 0
    inflight = 0
    while acked < messages:
        while inflight < window and sent < messages:
            sent += 1
            writer.write(publish_packet(topic, payload, sent % 65535 + 1))
            inflight += 1
        await writer.drain()
        first, _ = await read_packet(reader)
        if first >> 4 == 4:
            acked += 1
            inflight -= 1
    writer.write(b"\xe0\x00")
    await writer.drain()
    writer.close()
    return acked


async def run_load(port, idents, messages, window, payload):
    start = time.perf_counter()
    counts = await asyncio.gather(*(publisher(port, i, messages, window, payload) for i in idents))
    elapsed = time.perf_counter() - start
    return sum(counts), elapsed


def rss_kib(pid):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def start_emulator(azhub, devices):
    cmd = [azhub, "-o", "json", "emulate", "--in-memory", "--mqtt-port", "0", "--https-port", "0",
           "--tcp-port", "0"]
    for d in devices:
        cmd += ["--device", d]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, stdin=subprocess.DEVNULL)
    ready = json.loads(proc.stdout.readline())
    return proc, ready


def start_mosquitto(workdir):
    exe = shutil.which("mosquitto") or "/usr/sbin/mosquitto"
    port = free_port()
    conf = os.path.join(workdir, "mosquitto.conf")
    with open(conf, "w") as f:
        f.write("listener %d 127.0.0.1\nallow_anonymous true\npersistence false\nmax_inflight_messages 0\n"
                "max_queued_messages 100000\n" % port)
    proc = subprocess.Popen([exe, "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 10
    while True:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("mosquitto did not start: %s" % proc.stderr.read().decode())
            time.sleep(0.05)


def stop(proc):
    proc.send_signal(signal.SIGTERM)
    try:
        proc.wait(timeout=15)
    except subprocess.TimeoutExpired:
        proc.kill()


async def idle_tls(port, ca_file, idents):
    ctx = ssl.create_default_context(cafile=ca_file)
    conns = []
    for i in range(0, len(idents), 50):
        batch = await asyncio.gather(*(open_client(port, *ident, tls_ctx=ctx) for ident in idents[i:i + 50]))
        conns.extend(batch)
    return conns


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--azhub", default=os.environ.get("AZHUB_BIN", "build/release/cli/azhub"))
    ap.add_argument("--publishers", type=int, default=20)
    ap.add_argument("--messages", type=int, default=2000, help="per publisher")
    ap.add_argument("--window", type=int, default=10, help="unacknowledged QoS 1 messages per publisher")
    ap.add_argument("--payload", type=int, default=256, help="bytes per message")
    ap.add_argument("--idle", type=int, default=1000, help="idle TLS connections for the memory figure")
    args = ap.parse_args()
    payload = os.urandom(args.payload // 2).hex().encode()[:args.payload]

    devices = ["bench%04d" % i for i in range(max(args.publishers, args.idle))]
    workdir = tempfile.mkdtemp(prefix="azhub-bench-")
    emu, ready = start_emulator(args.azhub, devices)
    try:
        keys = {d["device_id"]: dict(p.split("=", 1) for p in d["connection_string"].split(";"))["SharedAccessKey"]
                for d in ready["devices"]}
        host = ready["host_name"]

        def ident(d):
            return (d, "%s/%s/?api-version=2021-04-12" % (host, d), sas(host, d, keys[d]))

        pubs = [ident(d) for d in devices[:args.publishers]]
        total = args.publishers * args.messages
        print("load: %d publishers x %d QoS 1 messages of %d bytes, window %d, plain TCP, loopback"
              % (args.publishers, args.messages, args.payload, args.window))

        n, t = asyncio.run(run_load(ready["ports"]["mqtt"], pubs, args.messages, args.window, payload))
        assert n == total
        emu_rate = n / t
        print("azhub emulate : %8.0f msgs/s  (%d msgs in %.2f s)" % (emu_rate, n, t))

        mosq, mport = start_mosquitto(workdir)
        try:
            n, t = asyncio.run(run_load(mport, pubs, args.messages, args.window, payload))
            mosq_rate = n / t
            print("mosquitto     : %8.0f msgs/s  (%d msgs in %.2f s)" % (mosq_rate, n, t))
        finally:
            stop(mosq)
        print("ratio emulator/mosquitto: %.2f" % (emu_rate / mosq_rate))

        if args.idle:
            async def measure():
                before = rss_kib(emu.pid)
                conns = await idle_tls(ready["ports"]["mqtts"], ready["ca_file"],
                                       [ident(d) for d in devices[:args.idle]])
                # Let the emulator settle (every CONNACK is in, so every session exists).
                after = rss_kib(emu.pid)
                for _, w in conns:
                    w.close()
                return before, after
            before, after = asyncio.run(measure())
            per_1000 = (after - before) * 1000.0 / args.idle
            print("emulator RSS: %.1f MiB before, %.1f MiB with %d idle TLS connections: "
                  "%.1f MiB per 1,000 connections" % (before / 1024, after / 1024, args.idle, per_1000 / 1024))
    finally:
        stop(emu)
        shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
