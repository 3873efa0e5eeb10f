#!/usr/bin/env bash
# The main job, as a local closed swarm on loopback: synthesize a checkpoint
# and two later versions of it, make a cluster CA and a certificate for every
# role (the publisher's seed, the gateway, each node), publish the first as a
# keyframe into a directory bucket with `publish --seed` (TLS torrents of that
# CA: only certificate holders join), start a seed-only `deltaswarm gateway`
# (it fetches each version from the publisher's seed once and serves the
# metadata over HTTPS, to clients with a cluster certificate only) and 8
# `deltaswarm node` processes behind it (each knows only the gateway and 2
# other nodes, and uses the gateway's https:// URL as its bucket), then
# publish the next two versions as signed deltas; each time wait until every
# node holds the new version. Prints bytes and times per version and every
# node's SHA-256, and ends with `demo: <N> nodes verified <sha256>` (exit 0)
# or an error (exit 1).
#
#   scripts/demo.sh [--params 150M] [--nodes 8] [--workdir DIR] [--keep]
#
# Environment (the flags above win):
#   DEMO_PARAMS    parameters of the synthetic bf16 checkpoint (default 150M = 300 MB)
#   DEMO_NODES     nodes in the swarm (default 8)
#   DEMO_LR        learning rate of each synthetic step (default 1e-6: ~1.1 % of elements change)
#   DEMO_TIMEOUT   seconds any single wait may take (default 600)
#   DEMO_WORKDIR   an empty work directory, not removed (default: mktemp -d under $TMPDIR, removed)
#   DEMO_KEEP=1    keep the work directory (logs, bucket, CA, certificates, nodes' stores)
#   DELTASWARM     a built deltaswarm binary: skips installing and building
#
# Without DELTASWARM it installs what is missing (scripts/install-deps.sh) and
# configures and builds build/deltaswarm when it is missing or older than its
# sources. Every process it starts is stopped (by PID) on exit, and every wait
# is bounded. Network: 127.0.0.1 only; every file of the run (bucket, stores,
# logs, the CA and the certificates) is under the work directory.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD

PARAMS=${DEMO_PARAMS:-150M}
NODES=${DEMO_NODES:-8}
LR=${DEMO_LR:-1e-6}
TIMEOUT=${DEMO_TIMEOUT:-600}
WORK=${DEMO_WORKDIR:-}
KEEP=${DEMO_KEEP:-0}
VERSIONS=2  # synthesized versions after the base: v0 (keyframe), v1, v2 (deltas)
MODEL=demo

while [ $# -gt 0 ]; do
  case "$1" in
    --params) PARAMS=$2; shift 2 ;;
    --nodes) NODES=$2; shift 2 ;;
    --workdir) WORK=$2; shift 2 ;;
    --keep) KEEP=1; shift ;;
    -h|--help) sed -n '2,31p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "demo: unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
[[ "$NODES" =~ ^[0-9]+$ && "$NODES" -ge 3 ]] || { echo "demo: --nodes must be a number >= 3" >&2; exit 2; }

# ---------------------------------------------------------------- processes
# shellcheck source=scripts/lib/processes.sh
. "$ROOT/scripts/lib/processes.sh"  # PIDS, alive, forget, stop_pids
OWN_WORK=0
log() { echo "demo: $*"; }
fail() { echo "demo: FAILED: $*" >&2; exit 1; }

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "${#PIDS[@]}" -gt 0 ]; then stop_pids "${PIDS[@]}"; fi
  if [ "$KEEP" = 1 ]; then
    [ -n "$WORK" ] && echo "demo: kept $WORK" >&2
  elif [ "$OWN_WORK" = 1 ] && [ -n "$WORK" ]; then
    rm -rf "$WORK"
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

now() { date +%s.%N; }
since() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f", b - a }'; }
tail_of() { [ -f "$1" ] && tail -n 5 "$1" | sed 's/^/    /' >&2 || true; }

# ---------------------------------------------------------------- tools, build
if [ -n "${DELTASWARM:-}" ]; then
  DS=$DELTASWARM
  [ -x "$DS" ] || fail "DELTASWARM=$DS is not an executable"
  command -v python3 >/dev/null || fail "python3 is needed (scripts/install-deps.sh installs it)"
else
  DS=$ROOT/build/deltaswarm
  stale=0
  if [ ! -x "$DS" ] || [ ! -f build/CMakeCache.txt ]; then
    stale=1
  elif [ -n "$(find CMakeLists.txt src peers include -newer "$DS" -type f -print -quit)" ]; then
    stale=1
  fi
  missing=0
  for tool in python3 sha256sum; do command -v "$tool" >/dev/null || missing=1; done
  if [ "$stale" = 1 ]; then
    for tool in cmake c++ pkg-config; do command -v "$tool" >/dev/null || missing=1; done
  fi
  if [ "$missing" = 1 ] || [ "$stale" = 1 ]; then
    bash scripts/install-deps.sh >&2 || fail "scripts/install-deps.sh failed"
  fi
  if [ "$stale" = 1 ]; then
    log "building build/deltaswarm (cmake, RelWithDebInfo)"
    mkdir -p build
    { cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo &&
        cmake --build build -j"$(nproc)" --target deltaswarm; } >build/demo-build.log 2>&1 ||
      { tail -n 30 build/demo-build.log >&2; fail "build failed (build/demo-build.log)"; }
  fi
fi

if [ -z "$WORK" ]; then
  WORK=$(mktemp -d "${TMPDIR:-/tmp}/deltaswarm-demo-XXXXXX")
  OWN_WORK=1
else
  mkdir -p "$WORK"
  WORK=$(cd "$WORK" && pwd)
  [ -z "$(ls -A "$WORK")" ] || fail "work directory $WORK is not empty"
fi
BUCKET=$WORK/bucket

# ---------------------------------------------------------------- checkpoint, key, ports
log "work directory $WORK; $NODES nodes on 127.0.0.1; binary $DS"
t=$(now)
"$DS" synth --params "$PARAMS" --versions "$VERSIONS" --lr "$LR" --seed 1 -o "$WORK/ckpt" -q ||
  fail "synth failed"
"$DS" keygen -o "$WORK/key" -q || fail "keygen failed"
FULL=$(stat -c %s "$WORK/ckpt/v0/model.safetensors")
log "synthesized $PARAMS parameters: v0, v1, v2 of model.safetensors ($FULL bytes each) in $(since "$t") s"

# ---------------------------------------------------------------- a closed swarm: CA, certificates
# One cluster CA (docs/SECURITY.md) and a certificate per role: the
# publisher's seed, the gateway (its HTTPS address 127.0.0.1 among its hosts,
# or nodes refuse it) and each node (its client certificate for the gateway's
# HTTPS and its identity in the TLS torrents).
CA=$WORK/ca
CERTS=$WORK/certs
"$DS" ca init -o "$CA" -q || fail "ca init failed"
mkdir -p "$CERTS"
issue() {  # issue NAME [--host H]: CERTS/NAME.pem and CERTS/NAME.key
  local name=$1
  shift
  "$DS" ca issue --ca "$CA" --name "$name" "$@" -o "$CERTS/$name.pem" -q || fail "ca issue $name failed"
}
issue publisher
issue gateway --host 127.0.0.1
for ((i = 0; i < NODES; i++)); do issue "node$i"; done
# tls_of NAME: TLS=(the flags of NAME's certificate, its key and the CA)
tls_of() { TLS=(--tls-cert "$CERTS/$1.pem" --tls-key "$CERTS/$1.key" --tls-ca "$CA/ca.pem"); }
log "cluster CA $CA; certificates for the publisher, the gateway (host 127.0.0.1) and $NODES nodes in $CERTS"

# Free loopback ports: [0] the publisher's seed, [1..N] the nodes, [N+1] the
# gateway's seed, [N+2] its metadata server.
read -r -a PORTS < <(python3 - "$((NODES + 3))" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
)
[ "${#PORTS[@]}" -eq $((NODES + 3)) ] || fail "could not pick $((NODES + 3)) free loopback ports"
PUB_EP=127.0.0.1:${PORTS[0]}
GW_EP=127.0.0.1:${PORTS[NODES + 1]}
GW_HTTP=127.0.0.1:${PORTS[NODES + 2]}
GW_URL=https://$GW_HTTP/  # HTTPS: the gateway has a certificate naming 127.0.0.1
node_ep() { echo "127.0.0.1:${PORTS[$(( ($1 % NODES) + 1 ))]}"; }

# wait_ready FILE PID ERRLOG WHAT: until PID has written its --ready-file
# FILE, i.e. serves (bounded by TIMEOUT); fails if PID exits first.
wait_ready() {
  local file=$1 pid=$2 err=$3 what=$4 deadline=$((SECONDS + TIMEOUT))
  until [ -s "$file" ]; do
    alive "$pid" || { tail_of "$err"; fail "$what exited before serving"; }
    [ "$SECONDS" -lt "$deadline" ] || { tail_of "$err"; fail "$what did not serve within ${TIMEOUT} s"; }
    sleep 0.1
  done
}

# ---------------------------------------------------------------- publisher
PUB_PID=""
# publish_seed K: publishes ckpt/vK as the next version and keeps seeding it
# on PUB_EP in the background; returns once the seed serves (bounded).
publish_seed() {
  local k=$1 TLS
  tls_of publisher
  "$DS" publish --bucket "$BUCKET" --model "$MODEL" --key "$WORK/key" --state "$WORK/publisher" \
    --keyframe-every 10 --tls-crl "$CA/crl.pem" "${TLS[@]}" \
    --seed --listen "$PUB_EP" --ready-file "$WORK/pub$k.ready" --json \
    "$WORK/ckpt/v$k/model.safetensors" >"$WORK/pub$k.log" 2>"$WORK/pub$k.err" &
  PUB_PID=$!
  PIDS+=("$PUB_PID")
  wait_ready "$WORK/pub$k.ready" "$PUB_PID" "$WORK/pub$k.err" "publish of v$k"
}
# Stops the publisher's seed; it must end cleanly (its summary closes pubK.log).
stop_publisher() {
  local pid=$PUB_PID rc=0 deadline=$((SECONDS + 10))
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
  alive "$pid" && kill -KILL "$pid" 2>/dev/null
  wait "$pid" || rc=$?
  forget "$pid"
  PUB_PID=""
  [ "$rc" = 0 ] || fail "the publisher's seed ended with exit code $rc"
}

# ---------------------------------------------------------------- gateway
GW_PID=""
# Mirrors the bucket, fetching each version from the publisher's seed, and
# serves nodes (metadata over HTTPS, only to clients with a cluster
# certificate not revoked); returns once it serves (bounded).
start_gateway() {
  local TLS
  tls_of gateway
  "$DS" gateway --bucket "$BUCKET" --model "$MODEL" --trust "$WORK/key.pub" --dir "$WORK/gateway" \
    --listen "$GW_EP" --http "$GW_HTTP" --peer "$PUB_EP" --poll-interval 1 --keep 2 \
    "${TLS[@]}" --require-client-cert --tls-crl "$CA/crl.pem" \
    --ready-file "$WORK/gateway.ready" --json >"$WORK/gateway.log" 2>"$WORK/gateway.err" &
  GW_PID=$!
  PIDS+=("$GW_PID")
  wait_ready "$WORK/gateway.ready" "$GW_PID" "$WORK/gateway.err" "the gateway"
}

# ---------------------------------------------------------------- nodes
start_nodes() {
  local i TLS
  for ((i = 0; i < NODES; i++)); do
    tls_of "node$i"
    "$DS" node --bucket "$GW_URL" --model "$MODEL" --dest "$WORK/node$i" --trust "$WORK/key.pub" \
      --listen "$(node_ep "$i")" --peer "$GW_EP" --peer "$(node_ep $((i + 1)))" --peer "$(node_ep $((i + 2)))" \
      --poll-interval 1 --fallback-after -1 --keep 1 --seed-versions 1 -j 1 "${TLS[@]}" \
      --ready-file "$WORK/node$i.ready" --json >"$WORK/node$i.log" 2>"$WORK/node$i.err" &
    NODE_PIDS[i]=$!
    PIDS+=("$!")
  done
}
# current_of I: the version node I holds (0: none yet), per `deltaswarm status`.
current_of() {
  local out
  out=$("$DS" status --dest "$WORK/node$1" --json 2>/dev/null) || { echo 0; return; }
  out=$(grep -o '"current":[0-9]*' <<<"$out" | head -n 1) || true
  out=${out#*:}
  echo "${out:-0}"
}
# wait_nodes ID: until every node holds version ID and has logged its pull (bounded).
wait_nodes() {
  local id=$1 deadline=$((SECONDS + TIMEOUT)) i pending=("${!NODE_PIDS[@]}")
  while [ "${#pending[@]}" -gt 0 ]; do
    local still=()
    for i in "${pending[@]}"; do
      alive "${NODE_PIDS[i]}" || { tail_of "$WORK/node$i.err"; fail "node $i exited"; }
      alive "$GW_PID" || { tail_of "$WORK/gateway.err"; fail "the gateway exited"; }
      if [ "$(current_of "$i")" -ge "$id" ] &&
         grep -q "\"type\":\"pulled\",\"version\":$id}" "$WORK/node$i.log" 2>/dev/null; then
        continue
      fi
      still+=("$i")
    done
    pending=("${still[@]+"${still[@]}"}")
    [ "${#pending[@]}" -eq 0 ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      for i in "${pending[@]}"; do echo "  node $i holds version $(current_of "$i")" >&2; tail_of "$WORK/node$i.err"; done
      fail "not every node reached version $id within ${TIMEOUT} s (DEMO_TIMEOUT)"
    fi
    sleep 0.25
  done
}

# ---------------------------------------------------------------- run
declare -a NODE_PIDS=()
: >"$WORK/times.tsv"
for k in $(seq 0 "$VERSIONS"); do
  id=$((k + 1))  # bucket versions count from 1
  # One seed port for every version: the previous seed stops first (every node
  # already holds its version and seeds it to the others).
  stop_publisher
  t=$(now)
  publish_seed "$k"
  publish_s=$(since "$t")
  t=$(now)
  if [ "$k" = 0 ]; then start_gateway; start_nodes; fi
  wait_nodes "$id"
  spread_s=$(since "$t")
  printf '%s\t%s\t%s\t%s\n' "$id" "$k" "$publish_s" "$spread_s" >>"$WORK/times.tsv"
  log "version $id (v$k): published in $publish_s s, on all $NODES nodes $spread_s s later"
done
stop_publisher

# ---------------------------------------------------------------- report
echo
python3 - "$WORK" "$NODES" "$MODEL" <<'EOF' || fail "could not read the logs"
import json, os, sys
work, nodes, model = sys.argv[1], int(sys.argv[2]), sys.argv[3]

def lines(path):
    out = []
    with open(path) as f:
        for line in f:
            line = line.strip()
            if line.startswith("{"):
                try: out.append(json.loads(line))
                except ValueError: pass
    return out

def human(n):
    n = float(n)
    for unit in ("B", "kB", "MB", "GB", "TB"):
        if abs(n) < 1000 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1000

gateway = lines(os.path.join(work, "gateway.log"))
rows = []
for line in open(os.path.join(work, "times.tsv")):
    vid, k, publish_s, spread_s = line.split("\t")
    vid, k = int(vid), int(k)
    events = lines(os.path.join(work, f"pub{k}.log"))
    summary = next((e for e in events if e.get("event") == "summary"), {})
    result = summary.get("result", {})
    seeding = False
    seed_up = 0
    for e in events:
        if e.get("event") == "seeding": seeding = True
        elif seeding and e.get("event") == "progress" and e.get("phase") == "upload":
            seed_up = e["done_bytes"]  # cumulative payload the seed sent
    full = result.get("target_bytes", 0)
    kind = "delta" if result.get("delta_bytes") else "keyframe"
    artifact = result.get("delta_bytes") or result.get("keyframe_bytes", 0)
    swarm = node_reads = 0
    for i in range(nodes):
        pulled = [e for e in lines(os.path.join(work, f"node{i}.log"))
                  if e.get("type") == "pulled" and e.get("version") == vid]
        if not pulled: sys.exit(f"node {i} logged no pull of version {vid}")
        swarm += pulled[-1]["pull"]["swarm_bytes"]
        node_reads += pulled[-1]["pull"]["downloaded_bytes"]  # chunks from the gateway's HTTP: none served
    mirrored = [e for e in gateway if e.get("type") == "mirrored" and e.get("version") == vid]
    if not mirrored: sys.exit(f"the gateway logged no mirror of version {vid}")
    bucket_chunks = mirrored[-1]["bucket_bytes"]
    # Metadata the gateway read from the bucket: the signed manifest and each
    # artifact's torrent (refs/latest polls, a few bytes, left out). Nodes
    # read theirs from the gateway.
    vdir = os.path.join(work, "bucket", model, "versions", str(vid))
    meta = os.path.getsize(os.path.join(vdir, "manifest.json"))
    meta += sum(os.path.getsize(os.path.join(vdir, f)) for f in os.listdir(vdir) if f.endswith(".torrent"))
    received = (swarm + node_reads) / nodes
    left = seed_up + bucket_chunks + meta
    rows.append((vid, k, kind, full, artifact, received, swarm, seed_up, bucket_chunks, meta, left,
                 float(publish_s), float(spread_s)))

hdr = ("version", "published", "checkpoint", "node got", "full/got", "nodes got", "left bucket",
       "= seed sent", "+ gw chunk reads", "+ gw meta reads", "publish s", "spread s")
fmt = "{:<8} {:<18} {:>10} {:>10} {:>8} {:>10} {:>11} {:>11} {:>16} {:>15} {:>9} {:>8}"
print(fmt.format(*hdr))
for (vid, k, kind, full, artifact, received, swarm, seed_up, chunks, meta, left, ps, ss) in rows:
    print(fmt.format(f"{vid} (v{k})", f"{kind} {human(artifact)}", human(full), human(received),
                     f"{full / received:.1f}" if received else "-", human(swarm), human(left),
                     human(seed_up), human(chunks), human(meta), f"{ps:.1f}", f"{ss:.1f}"))
total_full = sum(r[3] for r in rows) * nodes
total_left = sum(r[10] for r in rows)
if total_left:
    print(f"{len(rows)} versions x {nodes} nodes = {human(total_full)} of checkpoints delivered; "
          f"{human(total_left)} left the bucket ({total_full / total_left:.0f} x less)")
EOF

echo
want=$(sha256sum "$WORK/ckpt/v$VERSIONS/model.safetensors" | cut -d' ' -f1)
bad=0
for ((i = 0; i < NODES; i++)); do
  f=$WORK/node$i/current/model.safetensors
  got=$(sha256sum "$f" 2>/dev/null | cut -d' ' -f1) || got=missing
  [ -n "$got" ] || got=missing
  mark=ok; [ "$got" = "$want" ] || { mark=MISMATCH; bad=$((bad + 1)); }
  printf 'node %-3s %-15s version %-3s sha256 %s %s\n' "$i" "$(node_ep "$i")" "$(current_of "$i")" "$got" "$mark"
done
printf '%-33s sha256 %s\n' "synthesized v$VERSIONS" "$want"
[ "$bad" = 0 ] || fail "$bad of $NODES nodes do not hold v$VERSIONS byte for byte"
echo "demo: $NODES nodes verified $want"
