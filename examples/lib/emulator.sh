# Shared plumbing for the examples and scripts/tour.sh (sourced, not run). Needs bash 4.3+,
# python3 (to read the emulator's JSON ready line) and azhub on PATH (or AZHUB_BIN=/path/azhub).
#
#   emulator_attach          connect to an emulator (see examples/README.md):
#                              AZHUB_EMULATOR_READY=FILE  the ready line of a running
#                                                         `azhub -o json emulate` (or the JSON itself)
#                              unset                      start `azhub -o json emulate --in-memory`
#                                                         on free loopback ports; stopped on exit
#                            then sets SVC=(--port N --ca-file F) for `azhub service` commands,
#                            DEV=(--port N --ca-file F) for device commands, AMQP=(--amqp-port N)
#                            for the service commands that speak AMQP (c2d send, feedback), and exports
#                            AZHUB_SERVICE_CONNECTION_STRING, which every `azhub service` reads.
#   emulator_stop            SIGTERM the emulator this script started; fails unless it exits 0.
#   bg_start NAME CMD...     run CMD (a command or a function) in the background, in its own
#                            process group, its stdout+stderr into a pipe that bg_* read.
#   bg_expect NAME ERE [S]   read NAME's lines (each passed to bg_print) until one matches the
#                            extended regex ERE (kept in BG_LINE); fail after S seconds (20).
#   bg_finish NAME [S]       read NAME's remaining lines until it exits; return its exit status.
#   die MESSAGE              print "NAME: error: MESSAGE" on stderr and exit 1.
#
# Everything started here is stopped on exit, whether the script succeeds, fails or is
# interrupted; only the processes this script started are signalled.

unset AZHUB_OUTPUT  # the examples read text output
if [[ -n ${AZHUB_BIN:-} ]]; then PATH="$(cd "$(dirname "$AZHUB_BIN")" && pwd):$PATH"; fi

EX_NAME=${EX_NAME:-$(basename "$0" .sh)}

die() {
  printf '%s: error: %s\n' "$EX_NAME" "$*" >&2
  exit 1
}

command -v azhub >/dev/null || die "azhub is not on PATH (build it with scripts/build.sh release, then
  export PATH=\"\$PWD/build/release/cli:\$PATH\", or set AZHUB_BIN=/path/to/azhub)"
command -v python3 >/dev/null || die "python3 is needed to read the emulator's ready line"

EX_TMP=$(mktemp -d "${TMPDIR:-/tmp}/azhub-$EX_NAME.XXXXXX")
EMU_PID=""
declare -A BG_PID=() BG_FD=()
BG_LINE=""
EX_CLEANUP=()  # extra commands to run on exit (eval'd, last first)

# Shows one line of a background command's output; scripts may redefine it. Every line is also
# kept in $EX_TMP/NAME.log.
bg_print() { printf '  [%s] %s\n' "$1" "$2"; }
ex_bg_line() {
  printf '%s\n' "$2" >>"$EX_TMP/$1.log"
  bg_print "$1" "$2"
}

# SIGTERM to PID (with "group": to its process group), SIGKILL after 5 s.
ex_stop_pid() {
  local pid=$1 target=$1 i
  [[ ${2:-} == group ]] && target=-$1
  kill -TERM -- "$target" 2>/dev/null || return 0
  for ((i = 0; i < 50; i++)); do
    kill -0 -- "$target" 2>/dev/null || break
    sleep 0.1
  done
  kill -0 -- "$target" 2>/dev/null && kill -KILL -- "$target" 2>/dev/null
  wait "$pid" 2>/dev/null || true
}

ex_cleanup() {
  local status=$? name i
  trap - EXIT INT TERM
  for ((i = ${#EX_CLEANUP[@]} - 1; i >= 0; i--)); do eval "${EX_CLEANUP[i]}" || true; done
  for name in "${!BG_PID[@]}"; do ex_stop_pid "${BG_PID[$name]}" group; done
  if [[ -n $EMU_PID ]]; then
    ex_stop_pid "$EMU_PID"
    if ((status != 0)) && [[ -s $EX_TMP/emulator.log ]]; then
      echo "--- emulator log (last 20 lines) ---" >&2
      tail -n 20 "$EX_TMP/emulator.log" >&2
    fi
  fi
  rm -rf "$EX_TMP"
  exit "$status"
}
trap ex_cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Reads the emulator's ready line (JSON) into SVC, DEV and AZHUB_SERVICE_CONNECTION_STRING.
ex_read_ready() {
  local vars
  vars=$(python3 - "$1" <<'PY'
import json, shlex, sys
try:
    r = json.loads(sys.argv[1])
    assert r.get("event") == "ready"
    print("export AZHUB_SERVICE_CONNECTION_STRING=" + shlex.quote(r["serviceConnectionString"]))
    print("EMU_CA_FILE=" + shlex.quote(r["caFile"]))
    print("EMU_HTTPS_PORT=%d" % r["ports"]["https"])
    print("EMU_MQTTS_PORT=%d" % r["ports"]["mqtts"])
    print("EMU_AMQPS_PORT=%d" % r["ports"]["amqps"])
except Exception:
    sys.exit("not an azhub emulate ready line: %.60s" % sys.argv[1])
PY
  ) || return 1
  eval "$vars"
  SVC=(--port "$EMU_HTTPS_PORT" --ca-file "$EMU_CA_FILE")
  DEV=(--port "$EMU_MQTTS_PORT" --ca-file "$EMU_CA_FILE")
  AMQP=(--amqp-port "$EMU_AMQPS_PORT")
}

emulator_attach() {
  local line
  if [[ -n ${AZHUB_EMULATOR_READY:-} ]]; then
    if [[ ${AZHUB_EMULATOR_READY} == \{* ]]; then
      line=$AZHUB_EMULATOR_READY
    else
      [[ -r $AZHUB_EMULATOR_READY ]] || die "AZHUB_EMULATOR_READY: cannot read '$AZHUB_EMULATOR_READY'"
      line=$(head -n 1 "$AZHUB_EMULATOR_READY")
    fi
    ex_read_ready "$line" || die "AZHUB_EMULATOR_READY: expected the line printed by 'azhub -o json emulate'"
    return 0
  fi
  mkfifo "$EX_TMP/emulator.out"
  azhub -o json emulate --in-memory --mqtt-port 0 --https-port 0 --amqp-port 0 \
    >"$EX_TMP/emulator.out" 2>"$EX_TMP/emulator.log" </dev/null &
  EMU_PID=$!
  exec {EMU_FD}<"$EX_TMP/emulator.out"
  local st=0
  IFS= read -r -t 30 -u "$EMU_FD" line || st=$?
  ((st <= 128)) || die "the emulator did not print its ready line within 30 s"
  ((st == 0)) || die "the emulator exited before it was ready"
  ex_read_ready "$line" || die "the emulator's first line is not its ready line"
}

emulator_stop() {
  [[ -n $EMU_PID ]] || return 0
  local rc=0
  kill -TERM "$EMU_PID"
  wait "$EMU_PID" || rc=$?
  EMU_PID=""
  ((rc == 0)) || die "the emulator exited with status $rc"
}

bg_start() {
  local name=$1 fd
  shift
  mkfifo "$EX_TMP/$name.out"
  # Its own process group (set -m), so that stopping it also stops whatever it started.
  set -m
  "$@" >"$EX_TMP/$name.out" 2>&1 </dev/null &
  BG_PID[$name]=$!
  set +m
  exec {fd}<"$EX_TMP/$name.out"
  BG_FD[$name]=$fd
}

bg_expect() {
  local name=$1 pattern=$2 deadline=$((SECONDS + ${3:-20})) line left st
  while :; do
    left=$((deadline - SECONDS))
    ((left > 0)) || die "$name: no line matching /$pattern/ within ${3:-20} s"
    line=""
    st=0
    IFS= read -r -t "$left" -u "${BG_FD[$name]}" line || st=$?
    ((st > 128)) && continue                       # timed out: the deadline check fails
    ((st != 0)) && [[ -z $line ]] && die "$name: exited before printing a line matching /$pattern/"
    ex_bg_line "$name" "$line"
    if [[ $line =~ $pattern ]]; then
      BG_LINE=$line
      return 0
    fi
  done
}

bg_finish() {
  local name=$1 deadline=$((SECONDS + ${2:-20})) line left st rc=0
  while :; do
    left=$((deadline - SECONDS))
    ((left > 0)) || die "$name: still running after ${2:-20} s"
    line=""
    st=0
    IFS= read -r -t "$left" -u "${BG_FD[$name]}" line || st=$?
    ((st > 128)) && continue                       # timed out: the deadline check fails
    [[ $st -eq 0 || -n $line ]] && ex_bg_line "$name" "$line"
    ((st == 0)) || break                           # end of output: the command has exited
  done
  wait "${BG_PID[$name]}" || rc=$?
  local fd=${BG_FD[$name]}
  exec {fd}<&-
  unset "BG_PID[$name]" "BG_FD[$name]"
  return "$rc"
}
