#!/usr/bin/env bash
# Installs what is missing, configures, builds and runs every test (ctest).
#   scripts/test.sh            all tests
#   scripts/test.sh -L unit    only the fast unit tests (any ctest arguments pass through)
set -euo pipefail
cd "$(dirname "$0")/.."

bash scripts/install-deps.sh
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)"
cd build
ctest --output-on-failure -j"$(nproc)" "$@"
