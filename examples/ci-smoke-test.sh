#!/usr/bin/env bash
# CI smoke test: one device's full round trip through an IoT Hub emulator, using only azhub.
# Every scenario is asserted; the first mismatch prints what was expected and what came back,
# and the script exits 1 (0 when everything matched).
#
#   examples/ci-smoke-test.sh                                   # starts its own emulator
#   AZHUB_EMULATOR_READY=ready.json examples/ci-smoke-test.sh   # uses a running one
#
# Scenarios: SAS token, telemetry with properties (device -> cloud), C2D message (cloud ->
# device), twin get and reported patch, desired update seen by the device, direct method.
set -euo pipefail
source "$(dirname "$0")/lib/emulator.sh"

passed=0
ok() { passed=$((passed + 1)); printf 'ok %d - %s\n' "$passed" "$1"; }
# expect_contains WHAT TEXT NEEDLE: TEXT must contain NEEDLE.
expect_contains() {
  [[ $2 == *"$3"* ]] || die "$1: expected to find
    $3
  in
    ${2//$'\n'/$'\n'    }"
}

emulator_attach
device=ci-smoke-$$

# Register the device; its connection string is what create prints.
cs=$(azhub service device create "$device" "${SVC[@]}")
expect_contains "device create" "$cs" "DeviceId=$device;SharedAccessKey="
export AZHUB_CONNECTION_STRING=$cs    # every device command below reads it
EX_CLEANUP+=("azhub service device delete '$device' ${SVC[*]@Q} >/dev/null")
ok "device create $device"

# 1. SAS: a device token for this device, accepted by the hub.
token=$(azhub sas --ttl 10m)
expect_contains "azhub sas" "$token" "SharedAccessSignature sr=localhost%2Fdevices%2F$device&sig="
twin=$(azhub twin get --hub localhost --device-id "$device" --sas-token "$token" "${DEV[@]}")
expect_contains "twin get with the SAS token" "$twin" '"desired"'
ok "sas token accepted by the hub"

# 2. Telemetry: a message with properties arrives, body and properties intact.
azhub send '{"temperature":21.5}' --prop alert=true --prop unit=celsius \
  --content-type application/json --content-encoding utf-8 "${DEV[@]}"
got=$(azhub service monitor --device-id "$device" --since-start --count 1 --timeout 15s "${SVC[@]}" "${AMQP[@]}")
expect_contains "telemetry body" "$got" "$device #"
expect_contains "telemetry body" "$got" ': {"temperature":21.5}'
expect_contains "telemetry properties" "$got" "alert=true"
expect_contains "telemetry properties" "$got" "unit=celsius"
expect_contains "telemetry content type" "$got" "contentType=application/json"
ok "telemetry with properties"

# 3. C2D: a queued message reaches the device with its properties.
azhub service c2d send "$device" 'led on' --prop color=red --message-id smoke-m1 "${SVC[@]}" "${AMQP[@]}" >/dev/null
got=$(azhub listen --count 1 --timeout 15s "${DEV[@]}")
expect_contains "c2d body" "$got" "led on"
expect_contains "c2d message id" "$got" "messageId: smoke-m1"
expect_contains "c2d property" "$got" "color=red"
ok "c2d message"

# 4. Twin: a reported patch returns the new version; the device and the service both see it.
version=$(azhub twin patch '{"firmware":"1.4.2","battery":{"level":87}}' "${DEV[@]}")
[[ $version =~ ^[0-9]+$ ]] || die "twin patch: expected a version number, got '$version'"
got=$(azhub -o json twin get "${DEV[@]}")
expect_contains "twin get (device)" "$got" '"firmware":"1.4.2"'
got=$(azhub -o json service twin show "$device" "${SVC[@]}")
expect_contains "twin show (service)" "$got" '"firmware":"1.4.2"'
expect_contains "twin show (service)" "$got" '"level":87'
ok "twin get and reported patch (version $version)"

# 5. Desired update: the watching device receives the patch. --full prints the twin once the
#    watch is subscribed, so the update is sent only after that line.
bg_start watch azhub -o json twin watch --full --count 1 --timeout 30s "${DEV[@]}"
bg_expect watch '"reported"'
azhub service twin update "$device" --desired '{"telemetryInterval":5}' "${SVC[@]}" >/dev/null
bg_expect watch '"telemetryInterval":5'
bg_finish watch || die "twin watch exited non-zero"
ok "desired update reached the device"

# 6. Direct method: the handler's answer (status and payload) comes back to the caller.
bg_start serve azhub method serve --method reboot \
  --handler 'printf "{\"method\":\"%s\",\"got\":%s}" "$AZHUB_METHOD_NAME" "$(cat)"' \
  --count 1 --timeout 30s "${DEV[@]}"
got=$(azhub -o json service invoke "$device" reboot '{"delay":1}' --connect-timeout 20s --timeout 10s "${SVC[@]}")
expect_contains "invoke status" "$got" '"status":200'
expect_contains "invoke payload" "$got" '"payload":{"got":{"delay":1},"method":"reboot"}'
bg_finish serve || die "method serve exited non-zero"
ok "direct method"

echo "all $passed checks passed"
