#!/usr/bin/env bash
# The main job on an embedded default: synthesize a checkpoint and versions of
# it, publish each into a directory bucket (a keyframe, then signed deltas),
# pull every version into a node's store from the bucket, verify byte-exact,
# and print a summary. (The swarm issue turns the pull into a local swarm.)
#   scripts/demo.sh [--params 250M] [--versions 3] [--lr 1e-6] [--workdir DIR]
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
    -h|--help) sed -n '2,7p' "$0"; exit 0 ;;
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
json() { python3 -c "import json,sys; print(json.loads(sys.stdin.read().strip().splitlines()[-1])['result']['$1'])"; }

echo "demo: synthesizing $PARAMS params, $((VERSIONS + 1)) versions (lr $LR) in $WORK"
"$DS" synth --params "$PARAMS" --versions "$VERSIONS" --lr "$LR" --seed 1 -o "$WORK/ckpt" -q
"$DS" keygen -o "$WORK/key" -q
BUCKET=$WORK/bucket

printf '%-8s %14s %14s %8s %10s %10s %14s  %s\n' version full_bytes published ratio publish_s pull_s pulled_bytes sha256
for v in $(seq 0 "$VERSIONS"); do
  t=$(now)
  out=$("$DS" publish --bucket "$BUCKET" --model demo --key "$WORK/key" --state "$WORK/publisher" \
        --keyframe-every 10 --json "$WORK/ckpt/v$v/model.safetensors")
  pt=$(elapsed "$t")
  id=$(echo "$out" | json version); full=$(echo "$out" | json target_bytes)
  delta=$(echo "$out" | json delta_bytes); key=$(echo "$out" | json keyframe_bytes)
  sent=$((delta > 0 ? delta : key))
  t=$(now)
  pulled=$("$DS" pull --bucket "$BUCKET" --model demo --dest "$WORK/node" --trust "$WORK/key.pub" --json | json downloaded_bytes)
  lt=$(elapsed "$t")
  cmp -s "$WORK/node/current/model.safetensors" "$WORK/ckpt/v$v/model.safetensors" || { echo "demo: version $id differs" >&2; exit 1; }
  printf '%-8s %14s %14s %8.1f %10s %10s %14s  %s\n' "$id" "$full" "$sent" "$(awk -v a="$full" -v b="$sent" 'BEGIN{print a/b}')" \
    "$pt" "$lt" "$pulled" "$(sha256sum "$WORK/node/current/model.safetensors" | cut -c1-16)"
done
sha=$(sha256sum "$WORK/node/current/model.safetensors" | cut -d' ' -f1)
[ "$sha" = "$(sha256sum "$WORK/ckpt/v$VERSIONS/model.safetensors" | cut -d' ' -f1)" ] || exit 1
echo "demo: 1 nodes verified $sha"
