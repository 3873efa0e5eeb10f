#!/usr/bin/env bash
# Hub bucket benchmark over nginx, side by side with curl in the same run.
#
#   scripts/bench_bucket.sh [--params 500M] [--runs 3] [--workdir DIR] [--port N]
#
# Synthesizes a bf16 pair (lr 1e-6, ~1 % changed), starts its own nginx on
# 127.0.0.1 (WebDAV PUT/DELETE/MOVE, as tests/nginx_server.cc) serving a bucket
# under WORKDIR, publishes v0 as version 1 (a keyframe), then per run:
# pull of that keyframe into an empty store vs curl of the same objects + sync
# (pull transfer = pull end to end - apply of a local copy of the keyframe;
# the download phase seen in pull's --json events is printed beside it), and
# publish of v1 as version 2 (a delta) vs diff alone and a curl -T upload of the
# delta. Prints medians of --runs and the ratios; exits non-zero if a pulled
# checkpoint differs from the synthesized one. nginx is stopped by its PID and
# everything but WORKDIR/ckpt is removed on exit, also on failure.
# DELTASWARM=/path/to/deltaswarm uses that binary and skips the build.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PARAMS=500M; RUNS=3; WORK=/tmp/deltaswarm-bench-bucket; PORT=""
while [ $# -gt 0 ]; do
  case "$1" in
    --params) PARAMS=$2; shift 2 ;;
    --runs) RUNS=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    --port) PORT=$2; shift 2 ;;
    -h|--help) sed -n '2,16p' "$0"; exit 0 ;;
    *) echo "bench_bucket: unknown argument $1" >&2; exit 2 ;;
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
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

mkdir -p "$WORK"
WORK=$(cd "$WORK" && pwd)
RUN=$WORK/run BUCKET=$WORK/bucket CKPT=$WORK/ckpt
V0=$CKPT/v0/model.safetensors V1=$CKPT/v1/model.safetensors
NGINX_PID=""

stop_nginx() {
  [ -n "$NGINX_PID" ] || return 0
  local pid=$NGINX_PID; NGINX_PID=""
  kill -TERM "$pid" 2>/dev/null || return 0
  for _ in $(seq 50); do kill -0 "$pid" 2>/dev/null || { wait "$pid" 2>/dev/null || true; return 0; }; sleep 0.1; done
  kill -KILL -- "-$pid" 2>/dev/null || kill -KILL "$pid" 2>/dev/null || true  # its own process group
  wait "$pid" 2>/dev/null || true
}
cleanup() {
  stop_nginx
  rm -rf "$RUN" "$BUCKET" "$WORK"/state "$WORK"/state.v1 "$WORK"/latest.v1 "$WORK"/node "$WORK"/curl "$WORK"/local_keyframe \
         "$WORK"/applied "$WORK"/delta "$WORK"/key "$WORK"/key.pub
}
trap cleanup EXIT
trap 'exit 130' INT TERM
cleanup  # leftovers of a run killed with SIGKILL
mkdir -p "$RUN/tmp" "$BUCKET"

now() { echo "$EPOCHREALTIME"; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", b - a }'; }
# timed CMD...: runs CMD (stdout discarded), sets T (wall seconds).
timed() { local t0; t0=$(now); "$@" >/dev/null; T=$(elapsed "$t0" "$(now)"); }
median() { printf '%s\n' "$@" | sort -g | awk '{a[NR]=$1} END {printf "%.3f", (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
size_of() { du -sb --apparent-size "$1" | cut -f1; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", (b > 0 ? a / b : 0) }'; }
mbps() { awk -v n="$1" -v t="$2" 'BEGIN { printf "%.1f", (t > 0 ? n / t / 1e6 : 0) }'; }
add() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a + b }'; }

# Wall time and per-phase first/last event times of a --json command (scripts/lib/tsrun.py).
# stamped NAME CMD...: sets T (wall s) and PH_<phase>_END (s since start).
stamped() {
  local name=$1; shift
  python3 "$ROOT/scripts/lib/tsrun.py" "$RUN/$name.jsonl" "$@" >"$RUN/$name.phases"
  T=$(awk '$1 == "total" {print $2}' "$RUN/$name.phases")
}
phase_end() { awk -v p="$2" '$1 == p {print $3}' "$RUN/$1.phases"; }
phase_start() { awk -v p="$2" '$1 == p {print $2}' "$RUN/$1.phases"; }

# nginx on a free loopback port, configured as tests/nginx_server.cc does.
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
write_conf() {
  {
    [ "$(id -u)" -eq 0 ] && echo "user root;"
    cat <<EOF
daemon off;
worker_processes 1;
pid $RUN/nginx.pid;
error_log $RUN/error.log;
events { worker_connections 256; }
http {
  access_log $RUN/access.log;
  client_body_temp_path $RUN/tmp; proxy_temp_path $RUN/tmp;
  fastcgi_temp_path $RUN/tmp; uwsgi_temp_path $RUN/tmp; scgi_temp_path $RUN/tmp;
  sendfile on;
  server {
    listen 127.0.0.1:$1;
    root $BUCKET;
    client_max_body_size 0;
    location / {
      dav_methods PUT DELETE MOVE;
      create_full_put_path on;
      dav_access user:rw group:r all:r;
      autoindex on;
      autoindex_format json;
    }
  }
}
EOF
  } >"$RUN/nginx.conf"
}
start_nginx() {  # start_nginx PORT: 0 when nginx answers on PORT
  write_conf "$1"
  # setsid: nginx leads its own process group (the SIGKILL fallback); no fork here.
  setsid "$NGINX" -p "$RUN" -e "$RUN/error.log" -c "$RUN/nginx.conf" >>"$RUN/stderr.log" 2>&1 &
  NGINX_PID=$!
  for _ in $(seq 50); do
    kill -0 "$NGINX_PID" 2>/dev/null || { wait "$NGINX_PID" 2>/dev/null || true; NGINX_PID=""; return 1; }
    curl -s -o /dev/null "http://127.0.0.1:$1/" && return 0
    sleep 0.1
  done
  stop_nginx; return 1
}
if [ -n "$PORT" ]; then
  start_nginx "$PORT" || { echo "bench_bucket: nginx did not start on port $PORT:" >&2; cat "$RUN/error.log" "$RUN/stderr.log" >&2; exit 1; }
else
  for _ in 1 2 3 4 5; do PORT=$(free_port); start_nginx "$PORT" && break; PORT=""; done
  [ -n "$PORT" ] || { echo "bench_bucket: nginx did not start:" >&2; cat "$RUN/error.log" "$RUN/stderr.log" >&2; exit 1; }
fi
URL=http://127.0.0.1:$PORT/hub
MODEL=m
MDIR=$BUCKET/hub/$MODEL

echo "bench_bucket: $(nproc) cores, runs=$RUNS, workdir $WORK, nginx pid $NGINX_PID on port $PORT"
[ -f "$V1" ] || "$DS" synth --params "$PARAMS" --versions 1 --lr 1e-6 -o "$CKPT" --force -q
"$DS" keygen -o "$WORK/key" -q
"$DS" publish --bucket "$URL" --model "$MODEL" --key "$WORK/key" --state "$WORK/state" --keyframe-every 10 "$V0" -q
[ -f "$MDIR/versions/1/keyframe/index.dsi" ] || { echo "bench_bucket: no keyframe at $MDIR/versions/1/keyframe" >&2; exit 1; }
cp -a "$WORK/state" "$WORK/state.v1"
cp "$MDIR/refs/latest" "$WORK/latest.v1"  # the signed statement naming version 1
cp -a "$MDIR/versions/1/keyframe" "$WORK/local_keyframe"
KF_BYTES=$(size_of "$MDIR/versions/1/keyframe")
mapfile -t KF_OBJECTS < <(cd "$MDIR/versions/1/keyframe" && ls)
cat "$WORK/ckpt/v0/model.safetensors" "$V1" >/dev/null  # inputs in the page cache for every tool alike

# (a) pull of the keyframe vs (b) curl of the same objects.
pulls=() applies=() downs=() curls=()
for _ in $(seq "$RUNS"); do
  rm -rf "$WORK/node" "$WORK/applied"
  stamped pull "$DS" pull --bucket "$URL" --model "$MODEL" --dest "$WORK/node" --trust "$WORK/key.pub" --json
  pulls+=("$T"); downs+=("$(phase_end pull download)")
  cmp -s "$WORK/node/current/model.safetensors" "$V0" || { echo "bench_bucket: pulled checkpoint differs from $V0" >&2; exit 1; }
  timed "$DS" apply "$WORK/local_keyframe" -o "$WORK/applied" -q; applies+=("$T")
  cmp -s "$WORK/applied" "$V0" || { echo "bench_bucket: applied keyframe differs from $V0" >&2; exit 1; }
  rm -rf "$WORK/node" "$WORK/applied" "$WORK/curl"; mkdir -p "$WORK/curl"
  t0=$(now)
  for o in "${KF_OBJECTS[@]}"; do curl -s -f -o "$WORK/curl/$o" "$URL/$MODEL/versions/1/keyframe/$o"; done
  sync "$WORK/curl"/*
  curls+=("$(elapsed "$t0" "$(now)")")
  [ "$(size_of "$WORK/curl")" = "$KF_BYTES" ] || { echo "bench_bucket: curl fetched $(size_of "$WORK/curl") bytes, not $KF_BYTES" >&2; exit 1; }
  rm -rf "$WORK/curl"
done
PULL_T=$(median "${pulls[@]}"); APPLY_T=$(median "${applies[@]}"); DOWN_T=$(median "${downs[@]}")
CURL_T=$(median "${curls[@]}")
XFER_T=$(awk -v a="$PULL_T" -v b="$APPLY_T" 'BEGIN { printf "%.3f", a - b }')
# where the pull's time went (last run): first/last event of each phase, s since start
PULL_PHASES=$(awk '$1 != "total" && $1 != "cpu" {printf "%s %s-%s  ", $1, $2, $3}' "$RUN/pull.phases")

# (c) publish of v1 as version 2 (a delta) vs diff alone and the upload alone.
publishes=() diffs=() uploads=()
for _ in $(seq "$RUNS"); do
  rm -rf "$MDIR/versions/2" "$WORK/state"
  cp "$WORK/latest.v1" "$MDIR/refs/latest"
  cp -a "$WORK/state.v1" "$WORK/state"
  stamped publish "$DS" publish --bucket "$URL" --model "$MODEL" --key "$WORK/key" --state "$WORK/state" \
    --keyframe-every 10 "$V1" --json
  publishes+=("$T")
  [ "$(sed -n 's/.*"version":\([0-9]*\).*/\1/p' "$MDIR/refs/latest")" = 2 ] || { echo "bench_bucket: publish did not make version 2" >&2; exit 1; }
  rm -rf "$WORK/delta"
  timed "$DS" diff "$V0" "$V1" -o "$WORK/delta" -q; diffs+=("$T")
  mapfile -t D_OBJECTS < <(cd "$WORK/delta" && ls chunk-* && echo index.dsi)
  t0=$(now)
  for o in "${D_OBJECTS[@]}"; do curl -s -f -o /dev/null -T "$WORK/delta/$o" "http://127.0.0.1:$PORT/scratch/$o"; done
  uploads+=("$(elapsed "$t0" "$(now)")")
  rm -rf "$BUCKET/scratch"
done
PUB_T=$(median "${publishes[@]}"); DIFF_T=$(median "${diffs[@]}"); UP_T=$(median "${uploads[@]}")
D_BYTES=$(size_of "$WORK/delta")
PUB_PHASES=$(awk '$1 != "total" && $1 != "cpu" {printf "%s %s-%s  ", $1, $2, $3}' "$RUN/publish.phases")
FULL=$(size_of "$V0")

printf '\n== %s: %s bytes; keyframe %s bytes (%s objects), delta %s bytes ==\n' \
  "$PARAMS" "$FULL" "$KF_BYTES" "${#KF_OBJECTS[@]}" "$D_BYTES"
printf '%-44s %12s %9s %9s\n' tool bytes time_s MB/s
printf '%-44s %12s %9s %9s\n' "deltaswarm pull (keyframe, end to end)" "$KF_BYTES" "$PULL_T" "$(mbps "$KF_BYTES" "$PULL_T")"
printf '%-44s %12s %9s %9s\n' "deltaswarm apply of a local keyframe copy" "$KF_BYTES" "$APPLY_T" "$(mbps "$KF_BYTES" "$APPLY_T")"
printf '%-44s %12s %9s %9s\n' "pull transfer (pull - apply)" "$KF_BYTES" "$XFER_T" "$(mbps "$KF_BYTES" "$XFER_T")"
printf '%-44s %12s %9s %9s\n' "pull download phase (--json timestamps)" "$KF_BYTES" "$DOWN_T" "$(mbps "$KF_BYTES" "$DOWN_T")"
printf '%-44s %12s %9s %9s\n' "curl -o, same objects, sequential + sync" "$KF_BYTES" "$CURL_T" "$(mbps "$KF_BYTES" "$CURL_T")"
printf '%-44s %12s %9s %9s\n' "deltaswarm publish (delta, end to end)" "$D_BYTES" "$PUB_T" ""
printf '%-44s %12s %9s %9s\n' "deltaswarm diff v0 v1" "$D_BYTES" "$DIFF_T" "$(mbps "$FULL" "$DIFF_T")"
printf '%-44s %12s %9s %9s\n' "curl -T of the delta's objects" "$D_BYTES" "$UP_T" "$(mbps "$D_BYTES" "$UP_T")"
printf 'pull phases (last run, s since start): %s\n' "$PULL_PHASES"
printf 'publish phases (last run, s since start): %s\n' "$PUB_PHASES"
printf 'targets: pull transfer/curl throughput %s (>= 0.8; download phase/curl %s)  publish/(diff + upload) %s (<= 1.2)\n' \
  "$(ratio "$CURL_T" "$XFER_T")" "$(ratio "$CURL_T" "$DOWN_T")" "$(ratio "$PUB_T" "$(add "$DIFF_T" "$UP_T")")"
