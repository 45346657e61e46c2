#!/usr/bin/env bash
# Throughput and idle-connection memory of `azhub emulate`, side by side with mosquitto on the
# same machine, driven by the same load generator (azhub_mqtt_load). Prints figures; asserts
# nothing about them. See bench/README.md.
#
#   bench/emulator_bench.sh [--build-dir DIR] [--devices N] [--messages M] [--payload BYTES]
#                           [--inflight W] [--rounds R] [--idle N] [--starts S]
#                           [--no-idle] [--no-throughput] [--no-startup] [--durable]
#
# --durable adds a third server to the throughput rounds: the emulator with --state-dir (every
# message committed to SQLite before its PUBACK; group commit), beside the in-memory one.
#
# Loopback only; every process it starts is stopped on exit (also on Ctrl-C or failure).
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
build_dir="$here/../build/release"
devices=50
messages=500
payload=100
inflight=10
rounds=3
idle=2000
starts=10
do_idle=1
do_throughput=1
do_startup=1
do_durable=0
run_timeout=120

usage() { sed -n '2,9p' "${BASH_SOURCE[0]}" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
while (($#)); do
  case $1 in
    --build-dir) build_dir=$2; shift 2 ;;
    --devices) devices=$2; shift 2 ;;
    --messages) messages=$2; shift 2 ;;
    --payload) payload=$2; shift 2 ;;
    --inflight) inflight=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --idle) idle=$2; shift 2 ;;
    --no-idle) do_idle=0; shift ;;
    --no-throughput) do_throughput=0; shift ;;
    --starts) starts=$2; shift 2 ;;
    --no-startup) do_startup=0; shift ;;
    --durable) do_durable=1; shift ;;
    -h|--help) usage 0 ;;
    *) echo "emulator_bench: unknown argument '$1'" >&2; usage 2 >&2 ;;
  esac
done
for n in "$devices" "$messages" "$payload" "$inflight" "$rounds" "$idle" "$starts"; do
  [[ $n =~ ^[0-9]+$ ]] || { echo "emulator_bench: '$n' is not a number" >&2; exit 2; }
done

azhub=${AZHUB_BIN:-$build_dir/cli/azhub}
load=${AZHUB_MQTT_LOAD:-$build_dir/bench/azhub_mqtt_load}
for tool in "$azhub" "$load"; do
  [[ -x $tool ]] || { echo "emulator_bench: $tool not built (cmake --build $build_dir --target azhub azhub_mqtt_load)" >&2; exit 2; }
done
for tool in mosquitto openssl python3; do
  command -v "$tool" >/dev/null || { echo "emulator_bench: $tool not found (scripts/setup.sh installs it)" >&2; exit 2; }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/azhub-bench-XXXXXX")
started=()  # PIDs this script started

cleanup() {
  local pid
  for pid in "${started[@]}"; do
    kill -TERM "$pid" 2>/dev/null || true
  done
  for pid in "${started[@]}"; do
    # bounded: SIGKILL whatever has not exited after 10 s
    for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$work"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

die() { echo "emulator_bench: $*" >&2; exit 1; }

# Waits (bounded) until `cmd...` succeeds.
wait_until() {
  local what=$1 seconds=$2
  shift 2
  local deadline=$((SECONDS + seconds))
  until "$@"; do
    ((SECONDS < deadline)) || die "timed out after ${seconds}s waiting for $what"
    sleep 0.1
  done
}

# File descriptors: every idle connection costs one in the server and one in the generator.
need_fds=$((idle + 200))
if ((do_idle)) && (($(ulimit -n) < need_fds)); then
  ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
  (($(ulimit -n) >= need_fds)) || die "ulimit -n is $(ulimit -n); --idle $idle needs $need_fds (raise it or lower --idle)"
fi

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
rss_kib() { awk '/^VmRSS:/ {print $2}' "/proc/$1/status"; }
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
json_field() { python3 -c 'import json,sys; d=json.loads(sys.argv[1]); print(eval("d"+sys.argv[2]))' "$1" "$2"; }

# --- azhub emulate -----------------------------------------------------------------------------

emu_pid=
emu_ports_mqtts=
emu_ca=
# start_emulator N [STATE_DIR]: an emulator (in memory, or with --state-dir STATE_DIR) with
# devices bench-000001..N; their connection strings go to $work/emulator.cs.
start_emulator() {
  local n=$1 args=() i
  for ((i = 1; i <= n; i++)); do args+=(--device "$(printf 'bench-%06d' "$i")"); done
  if [[ -n ${2:-} ]]; then args+=(--state-dir "$2"); else args+=(--in-memory); fi
  : >"$work/ready.json"
  "$azhub" -o json emulate --mqtt-port 0 --https-port 0 --amqp-port 0 "${args[@]}" \
    >"$work/ready.json" 2>"$work/emulator.log" &
  emu_pid=$!
  started+=("$emu_pid")
  wait_until "the emulator's ready line" 60 grep -q '"event":"ready"' "$work/ready.json"
  # The ready line lists every device: read it from the file (it can exceed an argument's size).
  read -r emu_ports_mqtts emu_ca < <(python3 - "$work/ready.json" "$work/emulator.cs" <<'EOF'
import json, sys
ready = json.loads(open(sys.argv[1]).readline())
with open(sys.argv[2], "w") as f:
    for d in ready["devices"]:
        f.write(d["connectionString"] + "\n")
print(ready["ports"]["mqtts"], ready["caFile"])
EOF
)
  [[ -n $emu_ports_mqtts && -n $emu_ca ]] || die "cannot read the emulator's ready line"
}

stop_pid() {
  local pid=$1 p keep=()
  kill -TERM "$pid" 2>/dev/null || true
  for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
  for p in "${started[@]}"; do [[ $p == "$pid" ]] || keep+=("$p"); done
  started=("${keep[@]}")
}

# --- mosquitto ---------------------------------------------------------------------------------

mosq_pid=
mosq_port=
mosq_ca="$work/mosq/ca.pem"
make_mosquitto_certs() {
  # ECDSA P-256 CA and server certificate for localhost, like the emulator's own.
  mkdir -p "$work/mosq"
  chmod 755 "$work" "$work/mosq"
  (
    cd "$work/mosq"
    openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout ca.key -out ca.pem -days 2 \
      -subj "/CN=azhub bench CA" -addext "basicConstraints=critical,CA:TRUE" \
      -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null
    openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout server.key -out server.csr -subj "/CN=localhost" 2>/dev/null
    printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\nbasicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=serverAuth\n' >ext.cnf
    openssl x509 -req -in server.csr -CA ca.pem -CAkey ca.key -CAcreateserial -out server.pem -days 2 \
      -extfile ext.cnf 2>/dev/null
    chmod 644 ./*.pem ./*.key
  )
}

start_mosquitto() {
  mosq_port=$(free_port)
  cat >"$work/mosq/mosquitto.conf" <<EOF
# azhub bench: one TLS listener on loopback, no persistence, anyone may connect.
per_listener_settings false
allow_anonymous true
persistence false
log_dest file $work/mosq/mosquitto.log
log_type error
log_type warning
user $(id -un)
listener $mosq_port 127.0.0.1
certfile $work/mosq/server.pem
keyfile $work/mosq/server.key
cafile $work/mosq/ca.pem
require_certificate false
EOF
  mosquitto -c "$work/mosq/mosquitto.conf" >"$work/mosq/stdout.log" 2>&1 &
  mosq_pid=$!
  started+=("$mosq_pid")
  wait_until "mosquitto on port $mosq_port" 30 bash -c "exec 3<>/dev/tcp/127.0.0.1/$mosq_port" 2>/dev/null
}

# --- measurements ------------------------------------------------------------------------------

# publish_run PID PORT CA: one run of the generator; prints its JSON result line with the
# server's CPU seconds added.
publish_run() {
  local pid=$1 port=$2 ca=$3 before after out
  before=$(cpu_ticks "$pid")
  out=$("$load" --mode publish --port "$port" --ca-file "$ca" --connection-strings "$work/emulator.cs" \
        --devices "$devices" --messages "$messages" --payload "$payload" --inflight "$inflight" \
        --timeout "$run_timeout") || die "load generator failed against port $port"
  after=$(cpu_ticks "$pid")
  python3 - "$out" "$before" "$after" "$(getconf CLK_TCK)" <<'EOF'
import json, sys
r = json.loads(sys.argv[1])
r["server_cpu_seconds"] = (int(sys.argv[3]) - int(sys.argv[2])) / int(sys.argv[4])
print(json.dumps(r))
EOF
}

# idle_rss PID PORT CA: VmRSS of PID before and after $idle idle authenticated TLS connections.
idle_rss() {
  local pid=$1 port=$2 ca=$3 before after gen
  before=$(rss_kib "$pid")
  : >"$work/idle.out"
  "$load" --mode idle --port "$port" --ca-file "$ca" --connection-strings "$work/emulator.cs" \
    --devices "$idle" --connect-concurrency 50 --timeout "$run_timeout" >"$work/idle.out" 2>"$work/idle.err" &
  gen=$!
  started+=("$gen")
  wait_until "$idle idle connections" "$run_timeout" grep -q '"event":"connected"' "$work/idle.out"
  # Let the server finish the work of the last CONNACKs (its RSS settles within a second).
  sleep 2
  after=$(rss_kib "$pid")
  stop_pid "$gen"
  kill -0 "$pid" 2>/dev/null || die "server $pid died during the idle test"
  echo "$before $after $(head -n1 "$work/idle.out")"
}

median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

echo "azhub emulate ($("$azhub" --version 2>/dev/null | head -n1)) vs $(mosquitto -h | head -n1 | sed 's/ version / /')"
echo "machine: $(nproc) CPUs, $(awk -F': ' '/model name/ {print $2; exit}' /proc/cpuinfo), load $(cut -d' ' -f1-3 /proc/loadavg)"
make_mosquitto_certs

if ((do_throughput)); then
  echo
  echo "== throughput: $devices devices x $messages QoS 1 messages of $payload bytes over TLS, $inflight in flight per device, $rounds round(s)"
  if ((do_durable)); then
    start_emulator "$devices" "$work/state"
    dur_pid=$emu_pid dur_port=$emu_ports_mqtts dur_ca=$emu_ca
    cp "$work/emulator.cs" "$work/durable.cs"
  fi
  start_emulator "$devices"
  cp "$work/emulator.cs" "$work/memory.cs"
  start_mosquitto
  emu_rates=() mosq_rates=() dur_rates=()
  for ((r = 1; r <= rounds; r++)); do
    # Alternate the order so neither server always runs on a warmer machine.
    if ((r % 2)); then order=(emulator mosquitto); else order=(mosquitto emulator); fi
    if ((do_durable)); then order+=(durable); fi
    for who in "${order[@]}"; do
      if [[ $who == emulator ]]; then
        res=$(publish_run "$emu_pid" "$emu_ports_mqtts" "$emu_ca")
        emu_rates+=("$(json_field "$res" '["messages_per_second"]')")
      elif [[ $who == durable ]]; then
        # The durable emulator has its own device keys.
        cp "$work/durable.cs" "$work/emulator.cs"
        res=$(publish_run "$dur_pid" "$dur_port" "$dur_ca")
        cp "$work/memory.cs" "$work/emulator.cs"
        dur_rates+=("$(json_field "$res" '["messages_per_second"]')")
      else
        res=$(publish_run "$mosq_pid" "$mosq_port" "$mosq_ca")
        mosq_rates+=("$(json_field "$res" '["messages_per_second"]')")
      fi
      python3 - "$who" "$r" "$res" <<'EOF'
import json, sys
who, rnd, r = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
lat = r["puback_latency_ms"]
cpu = r["server_cpu_seconds"]
print(f"round {rnd} {who:9s} {r['messages_per_second']:10.0f} msg/s  {r['messages']} msgs in {r['publish_seconds']:.3f} s"
      f"  PUBACK p50 {lat['p50']:.2f} ms p99 {lat['p99']:.2f} ms"
      f"  server CPU {cpu:.2f} s ({(cpu * 1e6 / r['messages']):.1f} us/msg)"
      f"  generator CPU {r['generator_cpu_seconds']:.2f} s  [{r['tls']}]")
EOF
    done
  done
  emu_median=$(median "${emu_rates[@]}")
  mosq_median=$(median "${mosq_rates[@]}")
  python3 - "$emu_median" "$mosq_median" <<'EOF'
import sys
e, m = float(sys.argv[1]), float(sys.argv[2])
print(f"median: azhub emulate {e:.0f} msg/s, mosquitto {m:.0f} msg/s, ratio emulator/mosquitto {e / m:.2f}")
EOF
  if ((do_durable)); then
    dur_median=$(median "${dur_rates[@]}")
    python3 - "$dur_median" "$emu_median" <<'EOF'
import sys
d, e = float(sys.argv[1]), float(sys.argv[2])
print(f"median: azhub emulate --state-dir {d:.0f} msg/s, in memory {e:.0f} msg/s, ratio durable/in-memory {d / e:.2f}")
EOF
    stop_pid "$dur_pid"
  fi
  stop_pid "$emu_pid"
  stop_pid "$mosq_pid"
fi

if ((do_startup)); then
  echo
  echo "== start-up: launch to ready, $starts start(s) each (azhub emulate --in-memory: its ready line, which"
  echo "   comes after every listener is open; mosquitto: its TLS port accepting a connection)"
  mosq_port=$(free_port)
  cat >"$work/mosq/startup.conf" <<EOF
per_listener_settings false
allow_anonymous true
persistence false
log_dest none
user $(id -un)
listener $mosq_port 127.0.0.1
certfile $work/mosq/server.pem
keyfile $work/mosq/server.key
cafile $work/mosq/ca.pem
EOF
  python3 - "$azhub" "$work/mosq/startup.conf" "$mosq_port" "$starts" <<'EOF'
import socket, statistics, subprocess, sys, time
azhub, conf, port, n = sys.argv[1], sys.argv[2], int(sys.argv[3]), int(sys.argv[4])

def stop(p):
    p.terminate()
    try:
        p.wait(timeout=10)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()

def azhub_once():
    t0 = time.monotonic()
    p = subprocess.Popen([azhub, "-o", "json", "emulate", "--in-memory", "--mqtt-port", "0", "--https-port", "0",
                          "--amqp-port", "0"], stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
    try:
        line = p.stdout.readline()
        if b'"event":"ready"' not in line:
            raise SystemExit("emulator_bench: azhub emulate printed no ready line")
        return (time.monotonic() - t0) * 1000
    finally:
        stop(p)

def mosquitto_once():
    t0 = time.monotonic()
    p = subprocess.Popen(["mosquitto", "-c", conf], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                return (time.monotonic() - t0) * 1000
            except OSError:
                if p.poll() is not None or time.monotonic() - t0 > 30:
                    raise SystemExit("emulator_bench: mosquitto did not start")
                time.sleep(0.002)
    finally:
        stop(p)

for who, once in (("azhub emulate", azhub_once), ("mosquitto", mosquitto_once)):
    times = [once() for _ in range(n)]
    print(f"{who:14s} median {statistics.median(times):6.1f} ms  min {min(times):6.1f}  max {max(times):6.1f}  ({n} starts)")
EOF
fi

if ((do_idle)); then
  echo
  echo "== resident memory of $idle idle authenticated TLS connections (fresh servers)"
  start_emulator "$idle"
  idle_rss "$emu_pid" "$emu_ports_mqtts" "$emu_ca" >"$work/idle.result"
  read -r before after line <"$work/idle.result"
  python3 - "azhub emulate" "$idle" "$before" "$after" "$line" <<'EOF'
import json, sys
who, n, b, a = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
c = json.loads(sys.argv[5])
print(f"{who:14s} VmRSS {b} KiB idle, {a} KiB with {n} connections: {(a - b) * 1000 / n / 1024:.2f} MiB per 1,000 connections"
      f"  (all connected in {c['connect_seconds']:.1f} s, {c['tls']})")
EOF
  stop_pid "$emu_pid"
  start_mosquitto
  idle_rss "$mosq_pid" "$mosq_port" "$mosq_ca" >"$work/idle.result"
  read -r before after line <"$work/idle.result"
  python3 - "mosquitto" "$idle" "$before" "$after" "$line" <<'EOF'
import json, sys
who, n, b, a = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), int(sys.argv[4])
c = json.loads(sys.argv[5])
print(f"{who:14s} VmRSS {b} KiB idle, {a} KiB with {n} connections: {(a - b) * 1000 / n / 1024:.2f} MiB per 1,000 connections"
      f"  (all connected in {c['connect_seconds']:.1f} s, {c['tls']})")
EOF
  stop_pid "$mosq_pid"
fi
