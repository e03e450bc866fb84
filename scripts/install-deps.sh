#!/usr/bin/env bash
# Installs what amstore needs to build and test on Debian 12, skipping what is present.
# Idempotent; needs root (or sudo) only when something is missing.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libboost-dev libdeflate-dev libisal-dev zlib1g-dev libssl-dev libcli11-dev nlohmann-json3-dev
  libgtest-dev libbenchmark-dev
  clang libclang-rt-14-dev   # libFuzzer, ASan, UBSan
)
# Node.js runs the interop tests against the real Automerge library.
command -v node >/dev/null 2>&1 || packages+=(nodejs)
command -v npm >/dev/null 2>&1 || packages+=(npm)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "installing: ${missing[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi
