#!/usr/bin/env bash
# The main job on an embedded default: synthesize a checkpoint and versions of
# it, diff each version against the previous one (and a keyframe of the first),
# rebuild every version from the chain, verify byte-exact, print a summary.
#   scripts/demo.sh [--params 250M] [--versions 3] [--lr 1e-6] [--workdir DIR]
# (The swarm issue turns this into a local swarm on loopback.)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PARAMS=250M; VERSIONS=3; LR=1e-6; WORK=""
while [ $# -gt 0 ]; do
  case "$1" in
    --params) PARAMS=$2; shift 2 ;;
    --versions) VERSIONS=$2; shift 2 ;;
    --lr) LR=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    -h|--help) sed -n '2,6p' "$0"; exit 0 ;;
    *) echo "demo: unknown argument $1" >&2; exit 2 ;;
  esac
done
OWN_WORK=0
if [ -z "$WORK" ]; then WORK=$(mktemp -d /tmp/deltaswarm-demo-XXXXXX); OWN_WORK=1; fi
cleanup() { if [ "$OWN_WORK" = 1 ]; then rm -rf "$WORK"; fi; }
trap cleanup EXIT

bash scripts/install-deps.sh >/dev/null
cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j"$(nproc)" --target deltaswarm >/dev/null
DS=$ROOT/build/deltaswarm

now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.2f", b - a }'; }
bytes() { du -sb --apparent-size "$1" | cut -f1; }

echo "demo: synthesizing $PARAMS params, $VERSIONS versions (lr $LR) in $WORK"
"$DS" synth --params "$PARAMS" --versions "$VERSIONS" --lr "$LR" --seed 1 -o "$WORK/ckpt" -q

printf '%-8s %14s %14s %8s %9s %9s  %s\n' version full_bytes delta_bytes ratio diff_s apply_s sha256
t=$(now)
"$DS" diff --keyframe "$WORK/ckpt/v0/model.safetensors" -o "$WORK/delta/v0" -q
dt=$(elapsed "$t"); t=$(now)
"$DS" apply "$WORK/delta/v0" -o "$WORK/node/v0.safetensors" -q
at=$(elapsed "$t")
full=$(bytes "$WORK/ckpt/v0/model.safetensors"); d=$(bytes "$WORK/delta/v0")
printf '%-8s %14s %14s %8.1f %9s %9s  %s\n' "v0 (key)" "$full" "$d" "$(awk -v a="$full" -v b="$d" 'BEGIN{print a/b}')" \
  "$dt" "$at" "$(sha256sum "$WORK/node/v0.safetensors" | cut -c1-16)"

prev=$WORK/node/v0.safetensors
for v in $(seq 1 "$VERSIONS"); do
  t=$(now)
  "$DS" diff "$WORK/ckpt/v$((v - 1))/model.safetensors" "$WORK/ckpt/v$v/model.safetensors" -o "$WORK/delta/v$v" -q
  dt=$(elapsed "$t"); t=$(now)
  # The node rebuilds each version from its own previous one, never from the publisher's files.
  "$DS" apply "$prev" "$WORK/delta/v$v" -o "$WORK/node/v$v.safetensors" -q
  at=$(elapsed "$t")
  cmp -s "$WORK/node/v$v.safetensors" "$WORK/ckpt/v$v/model.safetensors" || { echo "demo: v$v differs" >&2; exit 1; }
  full=$(bytes "$WORK/ckpt/v$v/model.safetensors"); d=$(bytes "$WORK/delta/v$v")
  printf '%-8s %14s %14s %8.1f %9s %9s  %s\n' "v$v" "$full" "$d" "$(awk -v a="$full" -v b="$d" 'BEGIN{print a/b}')" \
    "$dt" "$at" "$(sha256sum "$WORK/node/v$v.safetensors" | cut -c1-16)"
  prev=$WORK/node/v$v.safetensors
done
sha=$(sha256sum "$prev" | cut -d' ' -f1)
[ "$sha" = "$(sha256sum "$WORK/ckpt/v$VERSIONS/model.safetensors" | cut -d' ' -f1)" ] || exit 1
echo "demo: 1 node verified $sha"
