#!/usr/bin/env bash
# Installs every Debian 12 package deltaswarm needs to build, test and benchmark.
# Idempotent: apt-get only installs what is missing.
set -euo pipefail

PACKAGES=(
  build-essential cmake pkg-config git
  libzstd-dev libxxhash-dev libssl-dev
  nlohmann-json3-dev libcli11-dev doctest-dev libcurl4-openssl-dev
  nginx-light curl opentracker
  libtorrent-rasterbar-dev libyaml-cpp-dev
  zstd xdelta3 time python3 python3-libtorrent python3-matplotlib python3-torch
  openmpi-bin slurm-wlm munge
  prometheus systemd
)

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ] && [ "${1:-}" != "--update" ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
