#!/usr/bin/env bash
# The main job: builds azhub and shows what it does.
set -euo pipefail
cd "$(dirname "$0")/.."
bin="$(scripts/build.sh release)/cli/azhub"

say() { printf '\n\033[1m# %s\033[0m\n' "$*"; }
say "A device SAS token, valid for one hour"
cs='HostName=contoso-hub.azure-devices.net;DeviceId=thermostat-01;SharedAccessKey=9QQWSB5MeRS/paxVrjnXI11Vo2o8VmGkJRB+J8pDQtA='
echo "\$ azhub sas -c '$cs'"
"$bin" sas -c "$cs"
say "The same with a fixed expiry, as JSON"
echo "\$ azhub sas -c '...' --expiry 1700000000 -o json"
"$bin" sas -c "$cs" --expiry 1700000000 -o json
