#!/usr/bin/env bash
# Installs every Debian 12 package azhub needs to build, test and benchmark.
# Idempotent: packages already present are left alone; apt runs only when one is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git ca-certificates
  clang libclang-rt-14-dev clang-format
  libcli11-dev libpaho-mqtt-dev libssl-dev nlohmann-json3-dev libfmt-dev doctest-dev
  libboost-dev libsqlite3-dev libqpid-proton11-dev
  mosquitto mosquitto-clients tinyproxy
  python3 nodejs npm
  mandoc groff-base bash-completion zsh fish
  procps psmisc time
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

# Node is sometimes installed outside Debian's packages; accept any node/npm on PATH.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do [[ $p == nodejs || $p == npm ]] || filtered+=("$p"); done
  missing=("${filtered[@]}")
fi

if ((${#missing[@]})); then
  if [[ $(id -u) -ne 0 ]]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 1
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
echo "setup: all build, test and benchmark packages present"

# Node packages of the interop tests (the official Azure IoT SDK), pinned by the lockfile.
# Installed when missing or when package-lock.json changed since the last install.
interop_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)/tests/interop"
if [[ -f $interop_dir/package-lock.json ]] &&
   [[ ! -d $interop_dir/node_modules || $interop_dir/package-lock.json -nt $interop_dir/node_modules ]]; then
  npm ci --prefix "$interop_dir" --no-audit --no-fund
  touch "$interop_dir/node_modules"
fi
echo "setup: interop test packages present (tests/interop/node_modules)"
