#!/usr/bin/env bash
# Builds the libFuzzer targets with clang into build-fuzz and runs each for
# SECONDS (default 60). Exits non-zero if any target crashes or fails to build.
# Usage: scripts/fuzz.sh [SECONDS]
set -euo pipefail

seconds="${1:-60}"
root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="$root/build-fuzz"

targets=(safetensors_header_fuzz)
[[ -f "$root/tests/fuzz/frame_decode_fuzz.cc" ]] && targets+=(frame_decode_fuzz)

CC=clang CXX=clang++ cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
  -DDELTASWARM_FUZZ=ON -DDELTASWARM_TESTS=OFF >/dev/null
# Only the fuzz targets: the program is not needed here.
cmake --build "$build" -j"$(nproc)" --target "${targets[@]}"

# Seed corpora, read-only: libFuzzer writes new inputs to the first directory only.
seeds_for() {
  case "$1" in
    safetensors_header_fuzz) echo "$root/tests/golden/safetensors" ;;
    frame_decode_fuzz) [[ -d "$root/tests/golden/frame" ]] && echo "$root/tests/golden/frame" || true ;;
  esac
}

export ASAN_OPTIONS="${ASAN_OPTIONS:-abort_on_error=1:detect_leaks=1}"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}"
failed=()
for t in "${targets[@]}"; do
  corpus="$build/corpus/$t"
  artifacts="$build/artifacts/$t"
  mkdir -p "$corpus" "$artifacts"
  seeds="$(seeds_for "$t")"
  echo "== $t: ${seconds}s (corpus $corpus${seeds:+, seeds $seeds})"
  if "$build/fuzz/$t" -max_total_time="$seconds" -print_final_stats=1 \
      -artifact_prefix="$artifacts/" "$corpus" ${seeds:+"$seeds"} >"$build/$t.log" 2>&1; then
    grep -E "^(stat::number_of_executed_units|#[0-9]+ *DONE)" "$build/$t.log" || true
  else
    echo "!! $t failed; log $build/$t.log, crash inputs in $artifacts" >&2
    tail -n 40 "$build/$t.log" >&2
    failed+=("$t")
  fi
done

if ((${#failed[@]})); then
  echo "fuzz: FAILED: ${failed[*]}" >&2
  exit 1
fi
echo "fuzz: all targets ran ${seconds}s without a crash"
