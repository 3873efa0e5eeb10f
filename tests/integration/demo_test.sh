#!/usr/bin/env bash
# scripts/demo.sh end to end on a small checkpoint: 8 nodes on loopback, with
# the built binary (DELTASWARM: no apt-get, no build). Checks that it exits 0,
# that its last line is `demo: 8 nodes verified <sha256>`, and that the sha256
# is the one of v2 synthesized independently with the demo's settings. The
# demo runs a closed swarm (its own CA and certificates, in its work
# directory), so the checks below also cover that nothing of it is left.
#   demo_test.sh DELTASWARM_BINARY DEMO_SCRIPT
set -euo pipefail
DS=$1
DEMO=$2
PARAMS=2M
TMP=$(mktemp -d "${TMPDIR:-/tmp}/deltaswarm-demo-test-XXXXXX")
trap 'rm -rf "$TMP"' EXIT

rc=0
env -u DEMO_WORKDIR -u DEMO_KEEP DELTASWARM="$DS" DEMO_PARAMS=$PARAMS DEMO_NODES=8 DEMO_LR=1e-6 DEMO_TIMEOUT=40 \
  TMPDIR="$TMP" bash "$DEMO" >"$TMP/out" 2>"$TMP/err" || rc=$?
cat "$TMP/out"
if [ "$rc" != 0 ]; then
  echo "demo_test: demo.sh exited $rc; stderr:" >&2
  cat "$TMP/err" >&2
  exit 1
fi
last=$(tail -n 1 "$TMP/out")
if ! [[ "$last" =~ ^demo:\ 8\ nodes\ verified\ ([0-9a-f]{64})$ ]]; then
  echo "demo_test: bad last line: '$last'" >&2
  exit 1
fi
got=${BASH_REMATCH[1]}

# The same synthetic checkpoint (synth is deterministic for any thread count).
"$DS" synth --params "$PARAMS" --versions 2 --lr 1e-6 --seed 1 -o "$TMP/ckpt" -q
want=$(sha256sum "$TMP/ckpt/v2/model.safetensors" | cut -d' ' -f1)
if [ "$got" != "$want" ]; then
  echo "demo_test: demo verified $got, but the synthesized v2 is $want" >&2
  exit 1
fi
# demo.sh removed its work directory (no DEMO_KEEP) and left no process behind.
if compgen -G "$TMP/deltaswarm-demo-*" >/dev/null; then
  echo "demo_test: demo.sh left its work directory behind" >&2
  exit 1
fi
if left=$(pgrep -a -f "$TMP/deltaswarm-demo-"); then
  echo "demo_test: demo.sh left processes behind:" >&2
  echo "$left" >&2
  exit 1
fi
echo "demo_test: ok ($got)"
