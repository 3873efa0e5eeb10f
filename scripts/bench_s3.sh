#!/usr/bin/env bash
# Pull from an S3-compatible server (s3rver, as the tests run it) side by side
# with curl of the same objects in the same run (curl signing SigV4 itself).
#
#   scripts/bench_s3.sh [--params 500M] [--runs 3] [--workdir DIR]
#
# Synthesizes a bf16 checkpoint, starts s3rver (scripts/install-deps.sh puts
# it under .deps/s3rver) on a free 127.0.0.1 port, publishes it as version 1
# (a keyframe) to s3://bench/hub, then per run: deltaswarm pull into an empty
# store, apply of a local copy of the keyframe,
# and curl --aws-sigv4 of the same objects + sync. Prints medians of --runs:
# the throughput of pull's download phase (timed from its --json events:
# downloads end where checking begins) against curl's, and pull end to end
# against curl + apply. Exits non-zero if a pulled checkpoint
# differs. s3rver is stopped by its PID on exit, also on failure.
# DELTASWARM=/path/to/deltaswarm uses that binary and skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PARAMS=500M; RUNS=3; WORK=/tmp/deltaswarm-bench-s3
while [ $# -gt 0 ]; do
  case "$1" in
    --params) PARAMS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "bench_s3: unknown argument $1" >&2; exit 2 ;;
  esac
done

bash scripts/install-deps.sh >/dev/null
if [ -n "${DELTASWARM:-}" ]; then
  DS=$(realpath "$DELTASWARM")
else
  [ -f build/CMakeCache.txt ] || cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
  cmake --build build -j"$(nproc)" --target deltaswarm >/dev/null
  DS=$ROOT/build/deltaswarm
fi
S3RVER_JS=${DS_S3RVER_JS:-$ROOT/.deps/s3rver/node_modules/s3rver/bin/s3rver.js}
[ -f "$S3RVER_JS" ] || { echo "bench_s3: $S3RVER_JS is missing (scripts/install-deps.sh)" >&2; exit 1; }

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
DATA=$WORK/s3data CKPT=$WORK/ckpt V0=$WORK/ckpt/v0/model.safetensors
S3_PID=""
stop_s3() {
  [ -n "$S3_PID" ] || return 0
  local pid=$S3_PID; S3_PID=""
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }; sleep 0.1; done
  kill -KILL "$pid" 2>/dev/null || true
  wait "$pid" 2>/dev/null || true
}
cleanup() { stop_s3; rm -rf "$DATA" "$WORK"/state "$WORK"/node "$WORK"/curl "$WORK"/local_keyframe "$WORK"/applied "$WORK"/key "$WORK"/key.pub "$WORK"/s3rver.log; }
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup
mkdir -p "$DATA"

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
timed() { local t0; t0=$(now); "$@" >/dev/null; T=$(elapsed "$t0" "$(now)"); }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.3f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
size_of() { du -sb --apparent-size "$1" | cut -f1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
mbps() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.1f", (t > 0 ? n / t / 1e6 : 0) }'; }
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

for _ in 1 2 3; do
  PORT=$(free_port)
  # --openssl-legacy-provider: s3rver's continuation tokens use DES (tests/s3_server.cc).
  node --openssl-legacy-provider "$S3RVER_JS" --directory "$DATA" --address 127.0.0.1 --port "$PORT" --silent \
    --configure-bucket bench >>"$WORK/s3rver.log" 2>&1 &
  S3_PID=$!
  for _ in $(seq 150); do
    kill -0 "$S3_PID" 2>/dev/null || break
    curl -s -o /dev/null "http://127.0.0.1:$PORT/" && break 2
    sleep 0.1
  done
  stop_s3
done
[ -n "$S3_PID" ] || { echo "bench_s3: s3rver did not start:" >&2; cat "$WORK/s3rver.log" >&2; exit 1; }
export AWS_ACCESS_KEY_ID=S3RVER AWS_SECRET_ACCESS_KEY=S3RVER
unset AWS_SESSION_TOKEN AWS_PROFILE
URL="s3://bench/hub?endpoint=http://127.0.0.1:$PORT"
SIGN=(--aws-sigv4 aws:amz:us-east-1:s3 --user S3RVER:S3RVER -H x-amz-content-sha256:UNSIGNED-PAYLOAD)

echo "bench_s3: $(nproc) cores, runs=$RUNS, workdir $WORK, s3rver pid $S3_PID on port $PORT"
[ -f "$V0" ] || "$DS" synth --params "$PARAMS" --versions 0 -o "$CKPT" --force -q
"$DS" keygen -o "$WORK/key" -q
"$DS" publish --bucket "$URL" --model m --key "$WORK/key" --state "$WORK/state" --keyframe-every 10 "$V0" -q
KF=$DATA/bench/hub/m/versions/1/keyframe
mapfile -t KF_OBJECTS < <(cd "$KF" && ls | sed -n 's/\._S3rver_object$//p')
mkdir -p "$WORK/local_keyframe"
for o in "${KF_OBJECTS[@]}"; do cp "$KF/$o._S3rver_object" "$WORK/local_keyframe/$o"; done
KF_BYTES=$(size_of "$WORK/local_keyframe")
cat "$V0" >/dev/null

# phase_times: reads pull's --json events, prints the seconds from the start
# to the end of its download phase (the first event of the next phase) and to the end.
phase_times() {
  /usr/bin/python3 -c '
import json, sys, time
t0, download_end = time.monotonic(), None
for line in sys.stdin:
    phase = json.loads(line).get("phase")
    if download_end is None and phase not in (None, "download"):
        download_end = time.monotonic() - t0
print("%.3f %.3f" % (download_end or 0, time.monotonic() - t0))'
}

pulls=() downloads=() applies=() curls=()
for _ in $(seq "$RUNS"); do
  rm -rf "$WORK/node" "$WORK/applied"
  read -r D T < <("$DS" pull --bucket "$URL" --model m --dest "$WORK/node" --trust "$WORK/key.pub" --json | phase_times)
  pulls+=("$T"); downloads+=("$D")
  cmp -s "$WORK/node/current/model.safetensors" "$V0" || { echo "bench_s3: pulled checkpoint differs from $V0" >&2; exit 1; }
  timed "$DS" apply "$WORK/local_keyframe" -o "$WORK/applied" -q; applies+=("$T")
  rm -rf "$WORK/node" "$WORK/applied" "$WORK/curl"; mkdir -p "$WORK/curl"
  t0=$(now)
  for o in "${KF_OBJECTS[@]}"; do
    curl -s -f "${SIGN[@]}" -o "$WORK/curl/$o" "http://127.0.0.1:$PORT/bench/hub/m/versions/1/keyframe/$o"
  done
  sync "$WORK/curl"/*
  curls+=("$(elapsed "$t0" "$(now)")")
  [ "$(size_of "$WORK/curl")" = "$KF_BYTES" ] || { echo "bench_s3: curl fetched $(size_of "$WORK/curl") bytes, not $KF_BYTES" >&2; exit 1; }
done
PULL_T=$(median "${pulls[@]}"); APPLY_T=$(median "${applies[@]}"); CURL_T=$(median "${curls[@]}")
XFER_T=$(median "${downloads[@]}")
printf '\n== %s: keyframe %s bytes (%s objects), s3rver on loopback, medians of %s ==\n' \
  "$PARAMS" "$KF_BYTES" "${#KF_OBJECTS[@]}" "$RUNS"
printf 'pull end to end            %8.3f s\n' "$PULL_T"
printf 'apply of a local copy      %8.3f s\n' "$APPLY_T"
printf 'pull download phase        %8.3f s  %8s MB/s\n' "$XFER_T" "$(mbps "$KF_BYTES" "$XFER_T")"
printf 'curl --aws-sigv4 + sync    %8.3f s  %8s MB/s\n' "$CURL_T" "$(mbps "$KF_BYTES" "$CURL_T")"
printf 'curl + apply of local copy %8.3f s\n' "$(awk -v a="$CURL_T" -v b="$APPLY_T" 'BEGIN { printf "%.3f", a + b }')"
printf 'pull download throughput / curl: %s x (target >= 0.8)\n' "$(ratio "$CURL_T" "$XFER_T")"
printf 'pull end to end / (curl + apply): %s x\n' "$(ratio "$PULL_T" "$(awk -v a="$CURL_T" -v b="$APPLY_T" 'BEGIN { print a + b }')")"
