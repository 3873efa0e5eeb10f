#!/usr/bin/env bash
# Pull and publish of a 1 % delta through a directory bucket, against the
# codec alone, in the same run (issue 13's "verify once" targets).
#
#   scripts/bench_pull.sh [--params 500M] [--runs 3] [--workdir DIR]
#
# Synthesizes a bf16 pair (synth --versions 1 --lr 1e-6, ~1 % changed; 500M
# params = 1.0 GB), publishes v0 as version 1 (a keyframe) to a directory
# bucket and pulls it into a node store once, then per run times:
#   diff v0 v1; a plain copy of the delta's objects into the bucket
#   directory + fsync (the upload); publish of v1 as version 2 (the state
#   store holding version 1 as the publish left it); apply of the delta alone;
#   pull of version 2, end to end, into a store holding version 1 (a
#   hard-linked copy of the store the first pull left, so inodes and mtimes
#   are as a node has them).
# Prints medians of --runs (wall and CPU seconds), the phases of the last pull and publish (seconds
# since start, from their --json progress events), the bytes the pull re-read
# to check the held version, and the ratios against the targets:
# pull <= 1.3 x apply, publish <= 1.2 x (diff + upload). Inputs are in the
# page cache for every tool alike, and each timed step starts after a sync.
# Exits non-zero if a result differs from v1.
# DELTASWARM=/path/to/deltaswarm uses that binary and skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PARAMS=500M; RUNS=3; WORK=/tmp/deltaswarm-bench-pull
while [ $# -gt 0 ]; do
  case "$1" in
    --params) PARAMS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    -h|--help) sed -n '2,22p' "$0"; exit 0 ;;
    *) echo "bench_pull: unknown argument $1" >&2; exit 2 ;;
  esac
done

if [ -n "${DELTASWARM:-}" ]; then
  DS=$(realpath "$DELTASWARM")
else
  bash scripts/install-deps.sh >/dev/null
  [ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" --target deltaswarm >/dev/null
  DS=$ROOT/build/deltaswarm
fi

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
RUN=$WORK/run BUCKET=$WORK/bucket CKPT=$WORK/ckpt
V0=$CKPT/v0/model.safetensors V1=$CKPT/v1/model.safetensors
MODEL=m MDIR=$WORK/bucket/m
cleanup() {
  rm -rf "$RUN" "$BUCKET" "$WORK"/state "$WORK"/state.v1 "$WORK"/node "$WORK"/node.v1 "$WORK"/delta \
         "$WORK"/out "$WORK"/latest.v1 "$WORK"/key "$WORK"/key.pub
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup  # leftovers of a run killed with SIGKILL
mkdir -p "$RUN" "$BUCKET"

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# Each timed step starts with nothing of an earlier one left to write back.
settle() { sync -f "$WORK"; }
# timed CMD...: sets T (wall s) and C (CPU s, user + system).
timed() {
  settle
  /usr/bin/time -f "%e %U %S" -o "$RUN/time.txt" "$@" >/dev/null
  read -r T u s <"$RUN/time.txt"; C=$(add "$u" "$s")
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.3f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
size_of() { du -sb --apparent-size "$1" | cut -f1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }
# stamped NAME CMD...: sets T and C; RUN/NAME.phases has each phase's first and last event.
stamped() {
  local name=$1; shift
  settle
  python3 "$ROOT/scripts/lib/tsrun.py" "$RUN/$name.jsonl" "$@" >"$RUN/$name.phases"
  T=$(awk '$1 == "total" {print $2}' "$RUN/$name.phases")
  C=$(awk '$1 == "cpu" {print $2}' "$RUN/$name.phases")
}
phases() { awk '$1 != "total" && $1 != "cpu" {printf "%s %s-%s  ", $1, $2, $3}' "$RUN/$1.phases"; }
# summary_field NAME KEY: a member of the summary's result in RUN/NAME.jsonl ("-" if absent).
summary_field() {
  python3 -c 'import json,sys
for line in open(sys.argv[1]):
    ev = json.loads(line.split(" ", 1)[1])
    if ev.get("event") == "summary": print(ev["result"].get(sys.argv[2], "-"))' "$RUN/$1.jsonl" "$2"
}

echo "bench_pull: $(nproc) cores, runs=$RUNS, workdir $WORK, $DS"
[ -f "$V1" ] || "$DS" synth --params "$PARAMS" --versions 1 --lr 1e-6 --seed 7 -o "$CKPT" --force -q
"$DS" keygen -o "$WORK/key" -q
"$DS" publish --bucket "$BUCKET" --model "$MODEL" --key "$WORK/key" --state "$WORK/state" "$V0" -q
"$DS" pull --bucket "$BUCKET" --model "$MODEL" --dest "$WORK/node.v1" --trust "$WORK/key.pub" -q
cmp -s "$WORK/node.v1/current/model.safetensors" "$V0" || { echo "bench_pull: first pull differs from $V0" >&2; exit 1; }
cp -al "$WORK/state" "$WORK/state.v1"   # hard links: the files a publisher's store holds, unchanged
cp "$MDIR/refs/latest" "$WORK/latest.v1"
cat "$V0" "$V1" >/dev/null  # inputs in the page cache for every tool alike

diffs=() uploads=() publishes=() applies=() pulls=() diff_c=() pub_c=() apply_c=() pull_c=()
for _ in $(seq "$RUNS"); do
  rm -rf "$WORK/delta" "$BUCKET/scratch"
  timed "$DS" diff "$V0" "$V1" -o "$WORK/delta" -q; diffs+=("$T"); diff_c+=("$C")
  settle; t0=$(now)
  cp -r "$WORK/delta" "$BUCKET/scratch" && sync "$BUCKET/scratch"/* "$BUCKET/scratch"
  uploads+=("$(elapsed "$t0" "$(now)")")
  rm -rf "$BUCKET/scratch"

  rm -rf "$MDIR/versions/2" "$WORK/state"
  cp "$WORK/latest.v1" "$MDIR/refs/latest"
  cp -al "$WORK/state.v1" "$WORK/state"
  stamped publish "$DS" publish --bucket "$BUCKET" --model "$MODEL" --key "$WORK/key" --state "$WORK/state" "$V1" --json
  publishes+=("$T"); pub_c+=("$C")
  [ -f "$MDIR/versions/2/delta/index.dsi" ] || { echo "bench_pull: publish made no delta for version 2" >&2; exit 1; }

  rm -rf "$WORK/out"
  timed "$DS" apply "$V0" "$WORK/delta" -o "$WORK/out" -q; applies+=("$T"); apply_c+=("$C")
  cmp -s "$WORK/out" "$V1" || { echo "bench_pull: apply result differs from $V1" >&2; exit 1; }
  rm -rf "$WORK/out"

  rm -rf "$WORK/node"
  cp -al "$WORK/node.v1" "$WORK/node"
  stamped pull "$DS" pull --bucket "$BUCKET" --model "$MODEL" --dest "$WORK/node" --trust "$WORK/key.pub" --json
  pulls+=("$T"); pull_c+=("$C")
  cmp -s "$WORK/node/current/model.safetensors" "$V1" || { echo "bench_pull: pulled checkpoint differs from $V1" >&2; exit 1; }
done
DIFF_T=$(median "${diffs[@]}"); UP_T=$(median "${uploads[@]}"); PUB_T=$(median "${publishes[@]}")
APPLY_T=$(median "${applies[@]}"); PULL_T=$(median "${pulls[@]}")
DIFF_C=$(median "${diff_c[@]}"); PUB_C=$(median "${pub_c[@]}"); APPLY_C=$(median "${apply_c[@]}")
PULL_C=$(median "${pull_c[@]}")
D_BYTES=$(size_of "$WORK/delta") FULL=$(size_of "$V1")

printf '\n== %s: %s bytes, delta %s bytes ==\n' "$PARAMS" "$FULL" "$D_BYTES"
printf '%-44s %8s %7s   %s\n' step wall_s cpu_s "wall of each run"
printf '%-44s %8s %7s   %s\n' "deltaswarm diff v0 v1" "$DIFF_T" "$DIFF_C" "${diffs[*]}"
printf '%-44s %8s %7s   %s\n' "copy of the delta into the bucket + fsync" "$UP_T" "" "${uploads[*]}"
printf '%-44s %8s %7s   %s\n' "deltaswarm publish v1 (version 2)" "$PUB_T" "$PUB_C" "${publishes[*]}"
printf '%-44s %8s %7s   %s\n' "deltaswarm apply v0 delta" "$APPLY_T" "$APPLY_C" "${applies[*]}"
printf '%-44s %8s %7s   %s\n' "deltaswarm pull version 2 (holding 1)" "$PULL_T" "$PULL_C" "${pulls[*]}"
printf 'pull phases (last run, s since start): %s\n' "$(phases pull)"
printf 'publish phases (last run, s since start): %s\n' "$(phases publish)"
printf 'pull re-read of the held version (last run): %s bytes (%s); artifact bytes hashed: %s\n' \
  "$(summary_field pull held_check_bytes)" "$(summary_field pull held_check)" "$(summary_field pull artifact_hashed_bytes)"
printf 'targets: pull/apply %s (<= 1.3; cpu %s)  publish/(diff + upload) %s (<= 1.2; cpu publish/diff %s)\n' \
  "$(ratio "$PULL_T" "$APPLY_T")" "$(ratio "$PULL_C" "$APPLY_C")" \
  "$(ratio "$PUB_T" "$(add "$DIFF_T" "$UP_T")")" "$(ratio "$PUB_C" "$DIFF_C")"
