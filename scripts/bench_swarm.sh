#!/usr/bin/env bash
# Swarm benchmark (issue targets: time near the fluid bound, seed upload ~1.0x).
# Usage: scripts/bench_swarm.sh [--nodes N] [--size-mb F] [--rate-mbytes U] [--runs R] [--kill-at P]
#        [--baseline] [--tls | --compare-tls] [--swarm-only] [--plot FILE.png] [--json-out FILE]
#        [--work DIR] [--port P]
# See scripts/bench_swarm.py --help; DELTASWARM=path overrides build/deltaswarm.
set -euo pipefail
exec python3 "$(dirname "$0")/bench_swarm.py" "$@"
