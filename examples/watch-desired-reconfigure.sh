#!/usr/bin/env bash
# Reconfigure a running process from the device twin: watch desired properties, rewrite the
# process's config file, send it SIGHUP, and acknowledge by reporting the applied value.
#
#   examples/watch-desired-reconfigure.sh
#
# The agent (function `agent` below) is the part to reuse on a device:
#
#   azhub -o json twin watch --full | while IFS= read -r line; do
#     level=<desired.logLevel in $line>
#     rewrite the config file; kill -HUP "$child"
#     azhub twin patch "{\"logLevel\":{\"value\":\"$level\",\"ac\":200,\"av\":$version}}"
#   done
#
# --full makes the first line the whole twin, so the agent applies the desired state as it is at
# start, then each patch as it arrives (-o json: {"desired":{...,"$version":N},"full":false,
# "version":N} per patch). The acknowledgement follows IoT Plug and Play's convention for
# writable properties: value, ac (status code), av (the desired $version applied), ad.
#
# Run directly, it creates a device, sets logLevel=info, starts the agent, changes logLevel to
# debug from the cloud side and checks the device reported it back (examples/README.md says
# which emulator it uses).
set -euo pipefail
source "$(dirname "$0")/lib/emulator.sh"

conf=$EX_TMP/worker.conf

# Stands in for your daemon: rereads its config file on SIGHUP.
worker() {
  local LOG_LEVEL=unset
  trap 'source "$conf"; echo "worker: reloaded config, logLevel=$LOG_LEVEL"' HUP
  trap 'exit 0' TERM
  while :; do sleep 1 & wait $! || true; done
}

# desired_field LINE NAME: prints desired.$version and desired.NAME (empty when absent) from a
# `twin watch -o json` line (with jq: jq -r '[.desired."$version", .desired.NAME // ""] | @tsv').
desired_field() {
  python3 -c 'import json, sys
d = json.loads(sys.argv[1])["desired"]
v = d.get(sys.argv[2])
print(d.get("$version", 0), v if isinstance(v, str) else "")' "$1" "$2"
}

# The agent: each `twin watch` line is the desired state at start (first line) or a change.
# DEV holds the emulator's --port/--ca-file (leave it empty against a real hub); "$@" are extra
# twin watch options (the demo passes --count 1 --timeout 60s).
agent() {
  printf 'LOG_LEVEL=info\n' >"$conf"
  worker &
  local child=$! line level version
  azhub -o json twin watch --full "$@" "${DEV[@]}" | while IFS= read -r line; do
    read -r version level < <(desired_field "$line" logLevel) || continue
    [[ -n $level ]] || continue  # this change is not about logLevel
    if [[ ! $level =~ ^(debug|info|warning|error)$ ]]; then
      echo "agent: refusing logLevel '$level'"
      azhub twin patch "{\"logLevel\":{\"value\":\"$level\",\"ac\":400,\"av\":$version,\"ad\":\"unknown level\"}}" \
        "${DEV[@]}" >/dev/null
      continue
    fi
    printf 'LOG_LEVEL=%s\n' "$level" >"$conf.new" && mv "$conf.new" "$conf"  # atomic replace
    kill -HUP "$child"
    azhub twin patch "{\"logLevel\":{\"value\":\"$level\",\"ac\":200,\"av\":$version,\"ad\":\"applied\"}}" \
      "${DEV[@]}" >/dev/null
    echo "agent: applied logLevel=$level (desired version $version), reported it"
  done
  kill -TERM "$child"
  wait "$child" || true
}

# --- Demo: the cloud changes logLevel, the device applies it and reports back ------------------
emulator_attach
device=reconfigure-demo-$$
export AZHUB_CONNECTION_STRING
AZHUB_CONNECTION_STRING=$(azhub service device create "$device" "${SVC[@]}")
EX_CLEANUP+=("azhub service device delete '$device' ${SVC[*]@Q} >/dev/null")
azhub service twin update "$device" --desired '{"logLevel":"info"}' "${SVC[@]}" >/dev/null

echo "starting the agent (azhub -o json twin watch --full ...)"
bg_start agent agent --count 1 --timeout 60s
bg_expect agent 'applied logLevel=info'      # the initial state: the watch is now subscribed

echo "\$ azhub service twin update $device --desired '{\"logLevel\":\"debug\"}'"
azhub service twin update "$device" --desired '{"logLevel":"debug"}' "${SVC[@]}" >/dev/null
bg_expect agent 'applied logLevel=debug'
bg_finish agent || die "the agent failed"

reported=$(azhub -o json service twin show "$device" "${SVC[@]}")
[[ $reported == *'"logLevel":{'*'"value":"debug"'* && $reported == *'"ac":200'* ]] ||
  die "the twin does not show the acknowledged logLevel: $reported"
grep -q '^LOG_LEVEL=debug$' "$conf" || die "the config file was not rewritten"
echo "the twin reports logLevel=debug, acknowledged with ac=200"
