#!/usr/bin/env bash
# Delta codec benchmark, side by side with zstd and xdelta3 in the same run.
#
#   scripts/bench_delta.sh [--params 500M] [--small-params 50M] [--big-params 2G]
#                          [--runs 3] [--workdir DIR] [--no-big] [--no-synth]
#                          [--real DIR] [--real-step 2] [--build-dir build]
#
# Makes synthetic AdamW pairs (bf16) of about 1 GB at lr 1e-6 (~1 % changed)
# and 4e-6 (~3.5 %), and prints for each: delta size, ratio full/delta, the
# order-0 bound N*h(K/N) + K*H0(d) and the exponent-context bound of the same
# pair, diff and apply wall time (medians of --runs), peak RSS; beside them
# zstd -3 -T0 of NEW (time, size), zstd -d of that to a file + fsync, and
# xdelta3 -9 -B <size>; on a ~100 MB pair also zstd -19 --long=31 --patch-from.
# A ~4 GB pair checks that peak RSS stays flat with size. Inputs are in the
# page cache for every tool alike. Exits non-zero if a result is not byte-exact.
# --real DIR: also real pairs of a 10.9M-parameter GPT trained on real text
# (scripts/real_pairs.py --out DIR makes them when DIR lacks them, 7-30 min):
# bf16 v(K-1) -> vK at lr 1e-6 and 5e-6 (K = --real-step), reported as above,
# and the fp32 masters at lr 1e-6 beside byte planes of zigzag ordinal
# differences + zstd -3 (issue 13's fp32 reference). --no-synth: real pairs only.
# --build-dir: where deltaswarm and order0_bound are built (default build).
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PARAMS=500M; SMALL=50M; BIG=2G; RUNS=3; WORK=/tmp/deltaswarm-bench; DO_BIG=1
DO_SYNTH=1; REAL=""; REAL_STEP=2; BUILD=build
while [ $# -gt 0 ]; do
  case "$1" in
    --params) PARAMS=$2; shift 2 ;;
    --small-params) SMALL=$2; shift 2 ;;
    --big-params) BIG=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    --no-big) DO_BIG=0; shift ;;
    --no-synth) DO_SYNTH=0; DO_BIG=0; shift ;;
    --real) REAL=$2; shift 2 ;;
    --real-step) REAL_STEP=$2; shift 2 ;;
    --build-dir) BUILD=$2; shift 2 ;;
    -h|--help) sed -n '2,21p' "$0"; exit 0 ;;
    *) echo "bench_delta: unknown argument $1" >&2; exit 2 ;;
  esac
done

bash scripts/install-deps.sh >/dev/null
cmake -S . -B "$BUILD" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$BUILD" -j"$(nproc)" --target deltaswarm order0_bound >/dev/null
case "$BUILD" in /*) ;; *) BUILD=$ROOT/$BUILD ;; esac
DS=$BUILD/deltaswarm
BOUND=$BUILD/order0_bound

mkdir -p "$WORK"
cleanup() { rm -rf "$WORK"/out* "$WORK"/delta* "$WORK"/*.zst "$WORK"/*.xd3 "$WORK"/*.dec "$WORK"/*.planes "$WORK"/time.txt; }
trap cleanup EXIT

# timed CMD...: runs CMD, sets T (wall seconds) and M (peak RSS KiB).
timed() {
  /usr/bin/time -f "%e %M" -o "$WORK/time.txt" "$@" >/dev/null
  read -r T M <"$WORK/time.txt"
}
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
size_of() { du -sb --apparent-size "$1" | cut -f1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }

pair() {  # pair NAME PARAMS LR: synthesizes WORK/NAME/v0, v1 once
  [ -f "$WORK/$1/v1/model.safetensors" ] || "$DS" synth --params "$2" --versions 1 --lr "$3" --seed 7 -o "$WORK/$1" --force -q
}

# Measures deltaswarm diff/apply on a pair; sets D_SIZE D_T A_T D_RSS A_RSS.
measure_ours() {
  local old=$1 new=$2 ts=() as=()
  for _ in $(seq "$RUNS"); do
    rm -rf "$WORK/delta" "$WORK/out"
    timed "$DS" diff "$old" "$new" -o "$WORK/delta" -q; ts+=("$T"); D_RSS=$M
    timed "$DS" apply "$old" "$WORK/delta" -o "$WORK/out" -q; as+=("$T"); A_RSS=$M
    cmp -s "$WORK/out" "$new" || { echo "bench_delta: apply result differs from NEW" >&2; exit 1; }
  done
  D_SIZE=$(size_of "$WORK/delta"); D_T=$(median "${ts[@]}"); A_T=$(median "${as[@]}")
}

report_pair() {  # report_pair NAME [OLD NEW]: default WORK/NAME/v0 -> v1
  local name=$1 old=${2:-$WORK/$1/v0/model.safetensors} new=${3:-$WORK/$1/v1/model.safetensors}
  local full; full=$(size_of "$new")
  measure_ours "$old" "$new"
  local bound_json; bound_json=$("$BOUND" "$old" "$new")
  local changed bound ctx
  # Fields by name: the bound printer may gain more (every other *_bytes field is printed below).
  changed=$(echo "$bound_json" | python3 -c 'import json,sys; print("%.3f" % (100*json.load(sys.stdin)["changed_fraction"]))')
  bound=$(echo "$bound_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["order0_bound_bytes"])')
  ctx=$(echo "$bound_json" | python3 -c 'import json,sys; print(json.load(sys.stdin)["exponent_context_bound_bytes"])')
  local extra; extra=$(echo "$bound_json" | python3 -c '
import json, sys
j = json.load(sys.stdin)
for k, v in j.items():
    if k.endswith("_bytes") and k not in ("order0_bound_bytes", "exponent_context_bound_bytes"):
        print("%s %.0f" % (k, v))')

  local zt=() zd=()
  for _ in $(seq "$RUNS"); do
    timed zstd -3 -T0 -q -f "$new" -o "$WORK/new.zst"; zt+=("$T")
    timed sh -c "zstd -d -q -f '$WORK/new.zst' -o '$WORK/new.dec' && sync '$WORK/new.dec'"; zd+=("$T")
  done
  local z_size; z_size=$(size_of "$WORK/new.zst")
  local Z_T; Z_T=$(median "${zt[@]}"); local ZD_T; ZD_T=$(median "${zd[@]}")
  timed xdelta3 -9 -B "$full" -e -f -s "$old" "$new" "$WORK/new.xd3"
  local x_size x_t=$T; x_size=$(size_of "$WORK/new.xd3")

  printf '\n== %s: %s bytes, %s %% of elements changed ==\n' "$name" "$full" "$changed"
  printf '%-34s %14s %9s %9s %10s\n' tool bytes ratio time_s rss_MiB
  printf '%-34s %14s %9s %9s %10s\n' "deltaswarm diff" "$D_SIZE" "$(ratio "$full" "$D_SIZE")" "$D_T" "$((D_RSS / 1024))"
  printf '%-34s %14s %9s %9s %10s\n' "deltaswarm apply (+verify, fsync)" "" "" "$A_T" "$((A_RSS / 1024))"
  printf '%-34s %14s %9s\n' "order-0 bound" "$bound" "$(ratio "$full" "$bound")"
  printf '%-34s %14s %9s\n' "exponent-context bound" "$ctx" "$(ratio "$full" "$ctx")"
  local k v
  while read -r k v; do
    [ -n "$k" ] && printf '%-34s %14s %9s\n' "  $k" "$v" "$(ratio "$full" "$v")"
  done <<<"$extra"
  printf '%-34s %14s %9s %9s\n' "zstd -3 -T0 NEW" "$z_size" "$(ratio "$full" "$z_size")" "$Z_T"
  printf '%-34s %14s %9s %9s\n' "zstd -d of that, to file + fsync" "" "" "$ZD_T"
  printf '%-34s %14s %9s %9s\n' "xdelta3 -9 -B size" "$x_size" "$(ratio "$full" "$x_size")" "$x_t"
  printf 'targets: delta/bound %s (<= 1.05)  delta/exponent-context bound %s (<= 1.05, issue 13)  xdelta3/delta %s (>= 8)  diff/zstd-3 time %s (<= 0.75)  apply/zstd-d time %s (<= 1.5)\n' \
    "$(ratio "$D_SIZE" "$bound")" "$(ratio "$D_SIZE" "$ctx")" "$(ratio "$x_size" "$D_SIZE")" "$(ratio "$D_T" "$Z_T")" "$(ratio "$A_T" "$ZD_T")"
  rm -f "$WORK/new.zst" "$WORK/new.dec" "$WORK/new.xd3"
}

report_patch_from() {  # zstd --patch-from is too slow for 1 GB: a ~100 MB pair
  local name=$1 old=$WORK/$1/v0/model.safetensors new=$WORK/$1/v1/model.safetensors
  local full; full=$(size_of "$new")
  measure_ours "$old" "$new"
  timed zstd -19 --long=31 -T0 -q -f --patch-from="$old" "$new" -o "$WORK/patch.zst"
  local p_size p_t=$T; p_size=$(size_of "$WORK/patch.zst")
  printf '\n== %s: %s bytes (patch-from comparison) ==\n' "$name" "$full"
  printf '%-34s %14s %9s %9s\n' "deltaswarm diff" "$D_SIZE" "$(ratio "$full" "$D_SIZE")" "$D_T"
  printf '%-34s %14s %9s %9s\n' "zstd -19 --long=31 --patch-from" "$p_size" "$(ratio "$full" "$p_size")" "$p_t"
  printf 'targets: patch-from/delta %s (>= 2)\n' "$(ratio "$p_size" "$D_SIZE")"
  rm -f "$WORK/patch.zst"
}

report_dense() {  # report_dense NAME OLD NEW: a pair where (nearly) every element changes (fp32 masters)
  local name=$1 old=$2 new=$3
  local full; full=$(size_of "$new")
  measure_ours "$old" "$new"
  # The reference: zigzag(ord(new) - ord(old)) of every element as byte planes (as the codec's
  # dense frames), over the whole data area, then one zstd -3 stream.
  /usr/bin/python3 scripts/real_pairs.py --planes "$old" "$new" "$WORK/ref.planes" >/dev/null
  timed zstd -3 -q -f "$WORK/ref.planes" -o "$WORK/ref.zst"
  local r_size r_t=$T; r_size=$(size_of "$WORK/ref.zst")
  timed zstd -3 -T0 -q -f "$new" -o "$WORK/new.zst"
  local z_size z_t=$T; z_size=$(size_of "$WORK/new.zst")
  printf '\n== %s: %s bytes, dense (fp32 masters) ==\n' "$name" "$full"
  printf '%-34s %14s %9s %9s %10s\n' tool bytes ratio time_s rss_MiB
  printf '%-34s %14s %9s %9s %10s\n' "deltaswarm diff" "$D_SIZE" "$(ratio "$full" "$D_SIZE")" "$D_T" "$((D_RSS / 1024))"
  printf '%-34s %14s %9s %9s %10s\n' "deltaswarm apply (+verify, fsync)" "" "" "$A_T" "$((A_RSS / 1024))"
  printf '%-34s %14s %9s %9s\n' "byte planes of ordinal diff+zstd-3" "$r_size" "$(ratio "$full" "$r_size")" "$r_t"
  printf '%-34s %14s %9s %9s\n' "zstd -3 -T0 NEW" "$z_size" "$(ratio "$full" "$z_size")" "$z_t"
  printf 'targets: planes+zstd-3/delta %s (>= 1.15, issue 13)\n' "$(ratio "$r_size" "$D_SIZE")"
  rm -f "$WORK/ref.planes" "$WORK/ref.zst" "$WORK/new.zst"
}

echo "bench_delta: $(nproc) cores, runs=$RUNS, workdir $WORK"
if [ "$DO_SYNTH" = 1 ]; then
  pair p1 "$PARAMS" 1e-6
  pair p35 "$PARAMS" 4e-6
  pair small1 "$SMALL" 1e-6
  report_pair p1
  report_pair p35
  report_patch_from small1
fi

if [ -n "$REAL" ]; then
  prev=$((REAL_STEP - 1))
  for d in bf16-lr1e-06 bf16-lr5e-06 fp32-lr1e-06; do
    if [ ! -f "$REAL/$d/v$REAL_STEP/model.safetensors" ] || [ ! -f "$REAL/summary.json" ]; then
      echo "bench_delta: making real pairs in $REAL (scripts/real_pairs.py)"
      /usr/bin/python3 scripts/real_pairs.py --out "$REAL" --steps "$((REAL_STEP > 3 ? REAL_STEP : 3))"
      break
    fi
  done
  python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
print("real pairs: %d parameters, corpus %d bytes of %s, warm-up %d steps at lr %g (loss %.3f)" % (
    s["parameters"], s["corpus"]["bytes"], s["corpus"]["sources"], s["warmup"]["steps"], s["warmup"]["lr"],
    s["warmup"]["final_loss"]))
for tag, r in sorted(s["runs"].items()):
    print("  %s: bf16 elements changed per step %s" % (tag, " ".join("%.2f%%" % (100 * c) for c in r["bf16_changed"])))
' "$REAL/summary.json"
  for lr in 1e-06 5e-06; do
    report_pair "real bf16 lr $lr v$prev->v$REAL_STEP" \
      "$REAL/bf16-lr$lr/v$prev/model.safetensors" "$REAL/bf16-lr$lr/v$REAL_STEP/model.safetensors"
  done
  report_dense "real fp32 masters lr 1e-06 v$prev->v$REAL_STEP" \
    "$REAL/fp32-lr1e-06/v$prev/model.safetensors" "$REAL/fp32-lr1e-06/v$REAL_STEP/model.safetensors"
fi

if [ "$DO_BIG" = 1 ]; then
  pair big "$BIG" 1e-6
  measure_ours "$WORK/big/v0/model.safetensors" "$WORK/big/v1/model.safetensors"
  big_d=$D_RSS big_a=$A_RSS
  measure_ours "$WORK/p1/v0/model.safetensors" "$WORK/p1/v1/model.safetensors"
  printf '\n== peak RSS, %s vs %s params ==\n' "$BIG" "$PARAMS"
  printf 'diff  %s MiB vs %s MiB: x%s (<= 1.25)\n' "$((big_d / 1024))" "$((D_RSS / 1024))" "$(ratio "$big_d" "$D_RSS")"
  printf 'apply %s MiB vs %s MiB: x%s (<= 1.25)\n' "$((big_a / 1024))" "$((A_RSS / 1024))" "$(ratio "$big_a" "$A_RSS")"
fi
