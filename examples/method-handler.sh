#!/usr/bin/env bash
# A direct-method handler written in bash, for `azhub method serve --handler`.
#
# azhub runs the handler once per call (through /bin/sh), with
#   stdin               the request payload, JSON (`null` when the caller sent none)
#   AZHUB_METHOD_NAME   the method name
#   AZHUB_REQUEST_ID    this call's request id
# and answers the caller with what the handler did:
#   exit 0              status 200, payload = the JSON printed on stdout (nothing printed: null)
#   exit non-zero       status 500, payload = {"error": "<what the handler printed on stderr>"}
#   still running after --handler-timeout (default 30s): killed, status 504
#
# Serve it on a device (until Ctrl-C, or --count N / --timeout DURATION):
#   export AZHUB_CONNECTION_STRING='HostName=...;DeviceId=dev1;SharedAccessKey=...'
#   azhub method serve --handler 'bash examples/method-handler.sh'
#   azhub method serve --handler 'bash examples/method-handler.sh' --method reboot   # others get 404
# and call it from the cloud side:
#   azhub service invoke dev1 reboot '{"delaySeconds":5}'
#
# Run it directly (no AZHUB_METHOD_NAME) to see it answer three calls: it creates a device,
# serves itself on it and invokes each method once (see examples/README.md for the emulator).

if [[ -n ${AZHUB_METHOD_NAME:-} ]]; then
  payload=$(cat)
  case $AZHUB_METHOD_NAME in
    getStatus)
      read -r uptime _ </proc/uptime
      printf '{"state":"running","uptimeSeconds":%d,"requestId":"%s"}\n' "${uptime%.*}" "$AZHUB_REQUEST_ID"
      ;;
    reboot)
      # Validate before acting: a refusal is a clear message on stderr and a non-zero exit.
      if [[ $payload =~ \"delaySeconds\"[[:space:]]*:[[:space:]]*([0-9]+)[[:space:]]*[,}] ]]; then
        delay=${BASH_REMATCH[1]}
      elif [[ $payload == null ]]; then
        delay=0
      else
        echo "reboot: delaySeconds must be a whole number of seconds" >&2
        exit 1
      fi
      # A real device would schedule it here, e.g. systemd-run --on-active="$delay" systemctl reboot
      printf '{"scheduled":true,"delaySeconds":%d}\n' "$delay"
      ;;
    echo)
      printf '%s\n' "$payload"  # the payload is already JSON: answer with it unchanged
      ;;
    *)
      echo "unknown method '$AZHUB_METHOD_NAME'" >&2
      exit 1
      ;;
  esac
  exit 0
fi

# --- Demo: serve this handler on a fresh device and call it ------------------------------------
set -euo pipefail
source "$(dirname "$0")/lib/emulator.sh"
emulator_attach

device=method-demo-$$
export AZHUB_CONNECTION_STRING
AZHUB_CONNECTION_STRING=$(azhub service device create "$device" "${SVC[@]}")
EX_CLEANUP+=("azhub service device delete '$device' ${SVC[*]@Q} >/dev/null")

printf -v handler 'bash %q' "$(cd "$(dirname "$0")" && pwd)/$(basename "$0")"
echo "\$ azhub method serve --handler '$handler' --count 3 &"
bg_start serve azhub method serve --handler "$handler" --count 3 --timeout 60s "${DEV[@]}"

# --connect-timeout: the hub waits for the device to connect and subscribe before calling it.
invoke() {
  echo "\$ azhub service invoke $device $*"
  azhub service invoke "$device" "$@" --connect-timeout 20s --timeout 10s "${SVC[@]}"
}
invoke getStatus
invoke reboot '{"delaySeconds":5}'
if invoke reboot '{"delaySeconds":"soon"}'; then
  die "a refused call must make azhub service invoke exit non-zero"
fi
echo "(exit status 1: the handler refused the call)"
bg_finish serve || die "azhub method serve failed"
