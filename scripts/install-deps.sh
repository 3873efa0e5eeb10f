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

# s3rver, the S3-compatible server the tests run (tests/s3_server.h), from
# npm into .deps/s3rver (git-ignored); pinned, and only installed once.
S3RVER_VERSION=3.7.1
S3RVER_DIR="$(cd "$(dirname "$0")/.." && pwd)/.deps/s3rver"
install_s3rver() {
  if ! command -v node >/dev/null || ! command -v npm >/dev/null; then
    # Debian's own (nodejs 18, npm); a Node.js from elsewhere (NodeSource) brings npm along.
    $SUDO apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends nodejs npm
  fi
  if [ "$(node -p "require('$S3RVER_DIR/node_modules/s3rver/package.json').version" 2>/dev/null)" != "$S3RVER_VERSION" ]; then
    echo "install-deps: installing s3rver $S3RVER_VERSION into $S3RVER_DIR"
    mkdir -p "$S3RVER_DIR"
    npm install --prefix "$S3RVER_DIR" --no-audit --no-fund --loglevel=error "s3rver@$S3RVER_VERSION" >/dev/null
  fi
}

missing=()
for p in "${PACKAGES[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ "${#missing[@]}" -eq 0 ] && [ "${1:-}" != "--update" ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages present"
  install_s3rver
  exit 0
fi
echo "install-deps: installing ${missing[*]}"
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
install_s3rver
