#!/usr/bin/env bash
# The guided tour: builds azhub (scripts/build.sh release), starts the embedded IoT Hub emulator
# on free loopback ports and walks one device through everything azhub does — registration, a
# SAS token, telemetry with properties, reported and desired twin properties, a direct method
# answered by a bash handler, a cloud-to-device message — printing each command and its output.
# No Azure account, no network; every process it starts is stopped when it ends or fails.
#
#   bash scripts/tour.sh                      # build, then tour
#   AZHUB_BIN=/path/to/azhub bash scripts/tour.sh   # tour that binary, no build
#
# Exits 0 when every step did what it shows, non-zero (with the failing step) otherwise. Colour
# only when stdout is a terminal and NO_COLOR is unset.
set -euo pipefail
[[ -z ${AZHUB_BIN:-} || $AZHUB_BIN == /* ]] || AZHUB_BIN="$PWD/$AZHUB_BIN"
cd "$(dirname "$0")/.."
started=$SECONDS

if [[ -z ${AZHUB_BIN:-} ]]; then
  echo "Building azhub (scripts/build.sh release)..."
  build_dir=$(scripts/build.sh release) || { echo "tour: error: the build failed (scripts/build.sh release)" >&2; exit 1; }
  AZHUB_BIN="$PWD/$build_dir/cli/azhub"
fi
[[ -x $AZHUB_BIN ]] || { echo "tour: error: no azhub binary at $AZHUB_BIN" >&2; exit 1; }
export AZHUB_BIN
EX_NAME=tour
source examples/lib/emulator.sh
unset AZHUB_EMULATOR_READY AZHUB_CONNECTION_STRING IOTHUB_DEVICE_CONNECTION_STRING AZHUB_DEVICE_KEY AZHUB_OUTPUT

if [[ -t 1 && -z ${NO_COLOR+set} && ${TERM:-} != dumb ]]; then
  B=$'\e[1m' C=$'\e[36m' D=$'\e[2m' G=$'\e[32m' R=$'\e[0m'
else
  B="" C="" D="" G="" R=""
fi

step_no=0
step() {
  step_no=$((step_no + 1))
  printf '\n%s%d. %s%s\n' "$B" "$step_no" "$1" "$R"
  [[ -z ${2:-} ]] || printf '%s%s%s\n' "$D" "$2" "$R"
}
note() { printf '%s# %s%s\n' "$D" "$*" "$R"; }
bg_print() { printf '  %s[%s]%s %s\n' "$D" "$1" "$R" "$2"; }

# The command line as a user would type it: @SVC, @DEV and @AMQP stand for the emulator's
# --port/--ca-file (and --amqp-port) flags and are shown as $SVC / $DEV / $AMQP.
show_command() {
  local out="\$" a
  for a in "$@"; do
    case $a in
      @SVC | @DEV | @AMQP) out+=" \$${a#@}" ;;
      *) if [[ $a =~ ^[][A-Za-z0-9_./:=@%+,{}-]+$ ]]; then out+=" $a"; else out+=" '${a//\'/\'\\\'\'}'"; fi ;;
    esac
  done
  printf '%s%s%s%s\n' "$C" "$out" "${SHOW_SUFFIX:-}" "$R"
}
expand() {
  CMD=()
  local a
  for a in "$@"; do
    case $a in
      @SVC) CMD+=("${SVC[@]}") ;;
      @DEV) CMD+=("${DEV[@]}") ;;
      @AMQP) CMD+=("${AMQP[@]}") ;;
      *) CMD+=("$a") ;;
    esac
  done
}

# run CMD...: shows it, runs it (at most 45 s), prints its output (unless SHOW_SUFFIX says
# " >/dev/null") and keeps it in OUT.
run() {
  show_command "$@"
  expand "$@"
  local rc=0
  OUT=$(timeout 45 "${CMD[@]}") || rc=$?
  [[ -z $OUT || ${SHOW_SUFFIX:-} == " >/dev/null" ]] || printf '%s\n' "$OUT"
  ((rc != 124)) || die "step $step_no failed: '$*' was still running after 45 s"
  ((rc == 0)) || die "step $step_no failed: '$*' exited with status $rc"
}
# bg NAME CMD...: shows it with a trailing &, starts it; its lines appear as [NAME] ...
bg() {
  local name=$1
  shift
  SHOW_SUFFIX=" &" show_command "$@"
  expand "$@"
  bg_start "$name" "${CMD[@]}"
}
# finish NAME: waits for a background command to end and checks it succeeded.
finish() { bg_finish "$1" 30 || die "step $step_no failed: the background '$1' command exited with status $?"; }

printf '%sThe azhub tour%s: one device, every operation, against the embedded emulator.\n' "$B" "$R"
printf '%s(azhub: %s)%s\n' "$D" "$AZHUB_BIN" "$R"

step "Start the emulator" \
  "In-memory state, free loopback ports; it prints one JSON line once ready."
SHOW_SUFFIX=" &" show_command azhub -o json emulate --in-memory --mqtt-port 0 --https-port 0 --amqp-port 0
emulator_attach
printf '  MQTT over TLS on port %s, AMQP over TLS on port %s, HTTPS (REST API, MQTT and AMQP over WebSockets) on port %s\n' \
  "$EMU_MQTTS_PORT" "$EMU_AMQPS_PORT" "$EMU_HTTPS_PORT"
printf '  CA certificate %s\n' "$EMU_CA_FILE"
note "AZHUB_SERVICE_CONNECTION_STRING is set from the ready line; every azhub service command reads it."
note "Below, \$SVC = ${SVC[*]}"
note "      \$DEV = ${DEV[*]}"
note "      \$AMQP = ${AMQP[*]}"

step "Register a device" "The service side creates the identity; the output is its connection string."
device=thermostat-01
run azhub service device create "$device" @SVC
export AZHUB_CONNECTION_STRING=$OUT
note "export AZHUB_CONNECTION_STRING=<that>   (every device command reads it)"
run azhub service device list @SVC

step "A SAS token" "What the device presents to the hub, signed with its key; here valid for one hour."
run azhub sas --ttl 1h
[[ $OUT == "SharedAccessSignature sr=localhost%2Fdevices%2F$device&sig="* ]] || die "unexpected token: $OUT"

step "Telemetry with properties" \
  "The device sends two messages; the service side watches them arrive (--since-start: none is missed)."
bg monitor azhub service monitor --device-id "$device" --since-start --count 2 --timeout 30s @SVC @AMQP
run azhub send '{"temperature":2{{seq}}.5}' --count 2 --interval 100ms \
  --prop unit=celsius --prop 'reading={{seq}}' --content-type application/json @DEV
finish monitor
grep -q 'reading=2' "$EX_TMP/monitor.log" || die "the monitor did not show the second message"

step "Reported properties" "The device patches its reported properties; the service reads the twin."
run azhub twin patch '{"firmware":"1.4.2","battery":{"level":87}}' @DEV
run azhub service twin show "$device" @SVC
[[ $OUT == *'"firmware": "1.4.2"'* ]] || die "the twin does not show the reported firmware"

step "Desired properties" \
  "The device watches its twin; the service changes a desired property and the device sees the patch."
bg watch azhub -o json twin watch --full --count 1 --timeout 30s @DEV
bg_expect watch '"reported"'  # --full: the twin first, so the watch is subscribed from here on
SHOW_SUFFIX=" >/dev/null" run azhub service twin update "$device" --desired '{"telemetryInterval":5}' @SVC
bg_expect watch '"telemetryInterval":5'
finish watch

step "A direct method" \
  "The device answers methods with examples/method-handler.sh (payload on stdin, JSON out)."
bg methods azhub method serve --handler 'bash examples/method-handler.sh' --count 2 --timeout 30s @DEV
note "--connect-timeout: the hub waits for the device to be connected and subscribed"
run azhub service invoke "$device" reboot '{"delaySeconds":5}' --connect-timeout 20s @SVC
[[ $OUT == *'"scheduled": true'* ]] || die "unexpected method response"
run azhub service invoke "$device" getStatus --connect-timeout 20s @SVC
finish methods

step "A cloud-to-device message" "The service sends a message over AMQP, asking for delivery feedback; the listening device prints it, and the hub reports it delivered."
bg listen azhub listen --count 1 --timeout 30s @DEV
run azhub service c2d send "$device" 'led on' --prop color=green --message-id tour-1 --ack full @SVC @AMQP
finish listen
grep -q 'color=green' "$EX_TMP/listen.log" || die "the device did not print the message's property"
run azhub service feedback --count 1 --timeout 30s @SVC @AMQP
[[ $OUT == *"Success $device message tour-1"* ]] || die "no Success feedback for message tour-1"

step "Stop the emulator"
SHOW_SUFFIX="   # or Ctrl-C in its terminal: a clean shutdown, exit status 0" show_command kill -TERM "$EMU_PID"
emulator_stop
printf '\n%sTour complete%s in %d s. Next: README.md (quick start), examples/ (scripts to copy).\n' \
  "$G" "$R" $((SECONDS - started))
