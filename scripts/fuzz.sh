#!/usr/bin/env bash
# Builds the libFuzzer targets (tests/fuzz/*_fuzz.cc) with clang, ASan and
# UBSan into build-fuzz and runs each for SECONDS (default 60), seeded with
# its committed corpus tests/fuzz/corpus/<target>/ (read-only; new inputs go
# to build-fuzz/corpus/<target>/). Prints per target the executions, exec/s,
# new inputs and crashes; exits non-zero if any target crashes (or times out,
# runs out of memory, or fails to build). Crash inputs land in
# build-fuzz/artifacts/<target>/: once fixed, add one to the corpus as
# tests/fuzz/corpus/<target>/regress-<what> (ctest then replays it).
# Usage: scripts/fuzz.sh [SECONDS] [TARGET...]   (default: all targets)
set -euo pipefail

seconds="${1:-60}"
shift || true
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"
seeds_root="$root/tests/fuzz/corpus"

if (($#)); then
  targets=("$@")
else
  targets=()
  for src in "$root"/tests/fuzz/*_fuzz.cc; do targets+=("$(basename "$src" .cc)"); done
fi

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDELTASWARM_FUZZ=ON -DDELTASWARM_TESTS=OFF >/dev/null
# Only the fuzz targets: the program is not needed here.
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

# A stat of libFuzzer's -print_final_stats, or "-" when the run ended without them (a crash).
final_stat() { grep -m1 "^stat::$1:" "$2" | awk '{print $2}' || true; }

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
summary=()
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  seeds="$seeds_root/$t"
  mkdir -p "$corpus" "$artifacts"
  [[ -d "$seeds" ]] || { echo "!! $t: no seed corpus $seeds (scripts/make_fuzz_corpus.sh)" >&2; seeds=""; }
  echo "== $t: ${seconds}s (corpus $corpus${seeds:+, seeds $seeds})"
  log="$build/$t.log"
  stamp="$build/$t.start"
  touch "$stamp"  # crash inputs of this run are newer
  rc=0
  # -timeout: an input running 10 s counts as a hang (a crash).
  "$build/fuzz/$t" -max_total_time="$seconds" -timeout=10 -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$corpus" ${seeds:+"$seeds"} >"$log" 2>&1 || rc=$?
  execs="$(final_stat number_of_executed_units "$log")"
  rate="$(final_stat average_exec_per_sec "$log")"
  new="$(final_stat new_units_added "$log")"
  crashes="$(find "$artifacts" -type f -newer "$stamp" \
              \( -name 'crash-*' -o -name 'leak-*' -o -name 'timeout-*' -o -name 'oom-*' \) | wc -l)"
  if ((rc != 0 && crashes == 0)); then crashes=1; fi  # died without writing an input
  line="$(printf '%-24s executions %10s  exec/s %7s  new %5s  crashes %d' "$t" "${execs:--}" "${rate:--}" \
          "${new:--}" "$crashes")"
  echo "$line"
  summary+=("$line")
  if ((rc != 0 || crashes != 0)); then
    echo "!! $t failed (exit $rc); log $log, crash inputs in $artifacts" >&2
    grep -E "ERROR|SUMMARY|runtime error|Test unit written" "$log" | head -n 20 >&2 || true
    failed+=("$t")
  fi
done

echo "== summary (${seconds}s per target)"
printf '%s\n' "${summary[@]}"
if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all ${#targets[@]} targets ran ${seconds}s without a crash"
