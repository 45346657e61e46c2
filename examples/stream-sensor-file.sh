#!/usr/bin/env bash
# Stream a sensor file into IoT Hub, one telemetry message per line, with `azhub send --lines`.
#
#   examples/stream-sensor-file.sh [FILE]    # default FILE: 20 generated JSON readings
#
# The whole job is one command:
#
#   azhub send --lines --content-type application/json --content-encoding utf-8 \
#     --prop source=sensor-file --prop line={{seq}} < readings.ndjson
#
# azhub connects once, sends every stdin line as one message at QoS 1 (in a pipelined window,
# not one round trip per line), and exits 0 only when the hub acknowledged every message (1 when
# some were not, naming how many). A line over the hub's 256 KiB limit stops it before sending,
# with the line number. {{seq}} in a property (or body) is the line number, {{now}} the time.
#
# Follow a file as it grows, or the system journal, until Ctrl-C (exit 130, with "interrupted:
# N of M message(s) acknowledged" on stderr):
#
#   tail -n 0 -F /var/log/sensor.ndjson | azhub send --lines --content-type application/json
#   journalctl -f -o json | azhub send --lines --content-type application/json --prop source=journald
#   journalctl -f -o cat -u my-sensor.service | azhub send --lines --rate 20/s    # text, capped rate
#
# Run directly, it streams FILE from a fresh device and reads the messages back with
# `azhub service monitor` (examples/README.md says which emulator it uses).
set -euo pipefail
source "$(dirname "$0")/lib/emulator.sh"

file=${1:-}
if [[ -z $file ]]; then
  file=$EX_TMP/readings.ndjson
  for ((i = 0; i < 20; i++)); do
    printf '{"sensor":"t1","temperature":%d.%d,"humidity":%d}\n' $((20 + i % 3)) $((i % 10)) $((40 + i))
  done >"$file"
fi
[[ -r $file ]] || die "cannot read '$file'"
lines=$(grep -c '' "$file")  # counts a last line without a newline too
((lines > 0)) || die "'$file' is empty"

emulator_attach
device=sensor-demo-$$
export AZHUB_CONNECTION_STRING
AZHUB_CONNECTION_STRING=$(azhub service device create "$device" "${SVC[@]}")
EX_CLEANUP+=("azhub service device delete '$device' ${SVC[*]@Q} >/dev/null")

echo "\$ azhub send --lines --content-type application/json --prop source=sensor-file --prop line={{seq}} < $file"
azhub send --lines --content-type application/json --content-encoding utf-8 \
  --prop source=sensor-file --prop 'line={{seq}}' "${DEV[@]}" <"$file"
echo "sent $lines messages, every one acknowledged"

# The cloud side: every captured message from this device, from the first (--since-start).
echo "\$ azhub service monitor --device-id $device --since-start --count $lines"
received=$(azhub -o json service monitor --device-id "$device" --since-start --count "$lines" --timeout 20s "${SVC[@]}" "${AMQP[@]}")
got=$(grep -c '"source":"sensor-file"' <<<"$received")
((got == lines)) || die "expected $lines messages with source=sensor-file, the hub has $got"
echo "the hub received all $got lines; the first and the last:"
head -n 1 <<<"$received"
tail -n 1 <<<"$received"
