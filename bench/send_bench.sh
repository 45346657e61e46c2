#!/usr/bin/env bash
# send_bench.sh: `azhub send` throughput next to mosquitto_pub and a minimal Paho async publisher
# (bench/paho_pub.c), all fed the same lines, against a local mosquitto (plain TCP) and against
# `azhub emulate`. Prints messages/s and ratios, azhub's peak RSS, and the process start time of
# `azhub sas` beside `mosquitto_pub --help`. A script that prints figures, never a test.
#
#   bench/send_bench.sh [--build-dir build/release] [--messages 100000] [--rounds 3] [--futex]
#
# --futex adds `strace -c -f -e futex` counts per message for each publisher (slower).
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=build/release
messages=100000
rounds=3
futex=0
while (($#)); do
  case $1 in
    --build-dir) build_dir=$2; shift 2 ;;
    --messages) messages=$2; shift 2 ;;
    --rounds) rounds=$2; shift 2 ;;
    --futex) futex=1; shift ;;
    *) echo "usage: $0 [--build-dir DIR] [--messages N] [--rounds R] [--futex]" >&2; exit 2 ;;
  esac
done
azhub=${AZHUB_BIN:-$build_dir/cli/azhub}
[[ -x $azhub ]] || { echo "send_bench: $azhub not built (cmake --build $build_dir --target azhub)" >&2; exit 1; }

work=$(mktemp -d)
pids=()
cleanup() {
  for pid in "${pids[@]}"; do kill "$pid" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  for _ in $(seq 100); do (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0; sleep 0.05; done
  echo "send_bench: nothing listens on port $1" >&2; exit 1
}
now() { date +%s.%N; }
elapsed() { python3 -c "import sys; print('%.3f' % (float(sys.argv[2]) - float(sys.argv[1])))" "$1" "$2"; }
rate() { python3 -c "import sys; print('%.0f' % (float(sys.argv[1]) / float(sys.argv[2])))" "$1" "$2"; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }

# The same ~100-byte lines for every publisher.
python3 - "$messages" > "$work/lines" <<'PY'
import sys
for i in range(int(sys.argv[1])):
    line = '{"seq":%d,"temperature":21.5,"humidity":40,"status":"ok","pad":"' % i
    print(line + "x" * (99 - len(line) - 2) + '"}')
PY
bytes=$(head -1 "$work/lines" | wc -c)

gcc -O2 -o "$work/paho_pub" bench/paho_pub.c -lpaho-mqtt3as -lpthread

# mosquitto, plain TCP on a free port, anonymous, no persistence.
mport=$(free_port)
printf 'listener %s 127.0.0.1\nallow_anonymous true\npersistence false\nmax_queued_messages 0\n' "$mport" > "$work/mosquitto.conf"
mosquitto -c "$work/mosquitto.conf" > "$work/mosquitto.log" 2>&1 &
pids+=($!)
wait_port "$mport"

key=$(printf '0123456789abcdef0123456789abcdef' | base64)
bench_cs="HostName=localhost;DeviceId=bench;SharedAccessKey=$key"
topic=devices/bench/messages/events/

# One timed run; prints seconds. Peak RSS of azhub lands in $work/rss when asked.
run_timed() {  # name qos command...
  local name=$1 qos=$2; shift 2
  local t0 t1
  t0=$(now)
  "$@" < "$work/lines" > /dev/null 2> "$work/$name.err" || { echo "send_bench: $name failed:" >&2; cat "$work/$name.err" >&2; exit 1; }
  t1=$(now)
  elapsed "$t0" "$t1"
}

declare -A best
measure() {  # label qos command...
  local label=$1 qos=$2; shift 2
  local times=()
  for ((r = 0; r < rounds; r++)); do times+=("$(run_timed "$label" "$qos" "$@")"); done
  local med
  med=$(printf '%s\n' "${times[@]}" | median)
  best[$label]=$med
  printf '  %-44s %8.3f s %10s msg/s\n' "$label" "$med" "$(rate "$messages" "$med")"
}

futex_per_message() {  # label command...
  local label=$1; shift
  strace -f -c -e trace=futex -o "$work/strace.$label" "$@" < "$work/lines" > /dev/null 2>&1 || true
  local calls
  calls=$(awk '/futex/ {print $4}' "$work/strace.$label" | head -1)
  printf '  %-44s %8s futex calls, %.1f per message\n' "$label" "${calls:-?}" \
    "$(python3 -c "import sys; print(int(sys.argv[1] or 0) / int(sys.argv[2]))" "${calls:-0}" "$messages")"
}

echo "send_bench: $messages messages of $bytes bytes, median of $rounds runs; $(nproc) CPUs"
for qos in 0 1; do
  echo
  echo "== mosquitto (tcp://127.0.0.1:$mport), QoS $qos"
  measure "mosquitto_pub -l q$qos" "$qos" mosquitto_pub -h 127.0.0.1 -p "$mport" -t "$topic" -q "$qos" -l
  measure "paho_pub main thread, inflight 1000 q$qos" "$qos" "$work/paho_pub" "tcp://127.0.0.1:$mport" "$topic" "$qos" --mode main --inflight 1000 --buffered 1000
  measure "paho_pub from onSuccess, inflight 100 q$qos" "$qos" "$work/paho_pub" "tcp://127.0.0.1:$mport" "$topic" "$qos" --mode callback --inflight 100
  measure "azhub send --lines q$qos" "$qos" "$azhub" send --lines --qos "$qos" -c "$bench_cs" --no-tls --port "$mport"
  base=${best["mosquitto_pub -l q$qos"]}
  for label in "paho_pub main thread, inflight 1000 q$qos" "paho_pub from onSuccess, inflight 100 q$qos" "azhub send --lines q$qos"; do
    printf '  ratio %-38s %6.2fx the time of mosquitto_pub\n' "$label" "$(python3 -c "import sys; print(float(sys.argv[1]) / float(sys.argv[2]))" "${best[$label]}" "$base")"
  done
  if ((futex)); then
    futex_per_message "mosquitto_pub q$qos" mosquitto_pub -h 127.0.0.1 -p "$mport" -t "$topic" -q "$qos" -l
    futex_per_message "paho_pub main q$qos" "$work/paho_pub" "tcp://127.0.0.1:$mport" "$topic" "$qos" --mode main --inflight 1000 --buffered 1000
    futex_per_message "paho_pub callback q$qos" "$work/paho_pub" "tcp://127.0.0.1:$mport" "$topic" "$qos" --mode callback --inflight 100
    futex_per_message "azhub send q$qos" "$azhub" send --lines --qos "$qos" -c "$bench_cs" --no-tls --port "$mport"
  fi
done

echo
echo "== peak RSS of azhub send --lines (QoS 1, $messages messages)"
/usr/bin/time -f '%M' -o "$work/rss" "$azhub" send --lines --qos 1 -c "$bench_cs" --no-tls --port "$mport" < "$work/lines" > /dev/null
printf '  azhub send: %s KiB; mosquitto_pub: ' "$(cat "$work/rss")"
/usr/bin/time -f '%M' -o "$work/rss" mosquitto_pub -h 127.0.0.1 -p "$mport" -t "$topic" -q 1 -l < "$work/lines"
echo "$(cat "$work/rss") KiB"

# azhub emulate: TLS and plain TCP listeners, one device.
echo
"$azhub" -o json emulate --in-memory --mqtt-port 0 --https-port 0 --amqp-port 0 --tcp-port 0 --device bench > "$work/emu.json" 2> "$work/emu.err" &
pids+=($!)
for _ in $(seq 200); do [[ -s $work/emu.json ]] && break; sleep 0.05; done
read -r ecs eca emqtts emqtt < <(python3 -c '
import json, sys
r = json.loads(open(sys.argv[1]).readline())
print(r["devices"][0]["connectionString"], r["caFile"], r["ports"]["mqtts"], r["ports"]["mqtt"])' "$work/emu.json")
token=$("$azhub" sas -c "$ecs" --ttl 1h)
username="localhost/bench/?api-version=2021-04-12"
for qos in 0 1; do
  echo "== azhub emulate, QoS $qos"
  measure "mosquitto_pub -l (TLS) q$qos" "$qos" mosquitto_pub -h localhost -p "$emqtts" --cafile "$eca" -i bench -u "$username" -P "$token" -V mqttv311 -t "$topic" -q "$qos" -l
  measure "azhub send --lines (TLS) q$qos" "$qos" "$azhub" send --lines --qos "$qos" -c "$ecs" --port "$emqtts" --ca-file "$eca"
  measure "mosquitto_pub -l (TCP) q$qos" "$qos" mosquitto_pub -h localhost -p "$emqtt" -i bench -u "$username" -P "$token" -V mqttv311 -t "$topic" -q "$qos" -l
  measure "azhub send --lines (TCP) q$qos" "$qos" "$azhub" send --lines --qos "$qos" -c "$ecs" --no-tls --port "$emqtt"
done

echo
echo "== process start: median wall time of 21 runs"
start_time() {
  local times=()
  for _ in $(seq 21); do
    local t0 t1
    t0=$(now); "$@" > /dev/null 2>&1 || true; t1=$(now)
    times+=("$(elapsed "$t0" "$t1")")
  done
  printf '%s\n' "${times[@]}" | median
}
printf '  azhub sas:            %s s\n' "$(start_time "$azhub" sas -c "$bench_cs" --ttl 1h)"
printf '  mosquitto_pub --help: %s s\n' "$(start_time mosquitto_pub --help)"
