#!/usr/bin/env bash
# A lab of N nodes behind one shaped uplink, in network namespaces on this host
# (scripts/lab/netns-lab.sh): the hub namespace runs nginx serving a directory
# bucket (read-only); the uplink hub <-> gateway namespace is shaped with tc HTB
# to --uplink in both directions; a LAN bridge in the gateway namespace links N
# node namespaces at --lan. Every node starts holding the base version (pulled
# from the directory bucket before the run). Then two runs, one version each:
#
#   gateway  `deltaswarm gateway` in the gateway namespace follows the hub's
#            nginx and serves the nodes (its HTTP as their bucket, its swarm
#            endpoint plus 2 other nodes as their peers); one delta is published
#   direct   the nodes use the hub's nginx as their bucket, no peers: each
#            downloads the next delta over the uplink itself
#
# The swarm is closed (docs/SECURITY.md): a cluster CA made for the run, a
# certificate for the gateway (its LAN address among its hosts) and for each
# node, versions published as TLS torrents of that CA with its revocation
# list; the gateway serves its metadata over HTTPS, only to clients with a
# certificate of the CA (--require-client-cert, --tls-crl), and the nodes use
# its https:// URL as their bucket with their certificate and the CA (flags
# over configs/lab-node.yaml). The hub's nginx stays plain HTTP.
#
# Per run it reports: the bytes the hub's nginx served for that version (body
# bytes of every request under <model>/versions/<id>/ in its access log) over
# the version's chunk bytes (index + chunks of its artifacts, from the
# manifest); the bytes that crossed the uplink (the hub eth0 TX counter) over
# the same; the time from `publish` writing refs/latest until every node has applied and
# verified the version (its on_update ran), against the bound chunk bytes /
# uplink rate (N x that for direct). Every node's current/model.safetensors is
# checked against the synthesized version's SHA-256. The last line is
#   lab: nodes=<N> uplink_bytes_x=<X> time_s=<T> direct_uplink_bytes_x=<Y>
# (exit 0), or `lab: FAILED: ...` on stderr (exit 1).
#
#   scripts/lab-test.sh [--nodes 8] [--uplink 20mbit] [--lan 1gbit] [--params 50M]
#                       [--lr 5e-5] [--prefix dsl] [--timeout 120] [--keep-workdir]
#                       [--deltaswarm BIN]
#
#   --params/--lr  the synthetic bf16 checkpoint (50M = 100 MB) and the learning
#                  rate of each version (5e-5: a delta of 8.0 MB, 3.2 s at 20mbit)
#   --prefix       namespace prefix: PREFIX-hub, PREFIX-gw, PREFIX-n0..; refused if
#                  namespaces with it exist already
#   --timeout      seconds any single step or wait may take (synth, publish, a pull, ...)
#   --deltaswarm   the binary (default: $DELTASWARM, else build/deltaswarm)
#
# Root only; needs ip and tc (iproute2), nginx, python3, sha256sum. Traffic
# stays inside the namespaces it creates (none of their interfaces is in the root
# namespace). On exit, also on failure, INT or TERM, it stops every process it
# started (by PID), kills what still runs in the namespaces, deletes them and
# removes its work directory (unless --keep-workdir). Every wait is bounded.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
LAB=$ROOT/scripts/lab/netns-lab.sh

NODES=8
UPLINK=20mbit
LAN=1gbit
PARAMS=50M
LR=5e-5
PREFIX=dsl
TIMEOUT=120
KEEP=0
DS=${DELTASWARM:-$ROOT/build/deltaswarm}
MODEL=lab
HTTP_PORT=80      # nginx in the hub namespace
GW_HTTP_PORT=8090 # the gateway's metadata server
SWARM_PORT=6881   # every swarm endpoint in the lab

usage() { sed -n '2,49p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }
log() { echo "lab: $*"; }
fail() { echo "lab: FAILED: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
  case $1 in
    --nodes) NODES=$2; shift 2;;
    --uplink) UPLINK=$2; shift 2;;
    --lan) LAN=$2; shift 2;;
    --params) PARAMS=$2; shift 2;;
    --lr) LR=$2; shift 2;;
    --prefix) PREFIX=$2; shift 2;;
    --timeout) TIMEOUT=$2; shift 2;;
    --keep-workdir) KEEP=1; shift;;
    --deltaswarm) DS=$2; shift 2;;
    -h|--help) usage 0;;
    *) echo "lab: unknown argument '$1' (see --help)" >&2; exit 2;;
  esac
done

# ---------------------------------------------------------------- checks
[ "$(id -u)" = 0 ] || fail "must run as root (creates network namespaces)"
for tool in ip tc nginx python3 sha256sum; do
  command -v "$tool" >/dev/null || fail "$tool not found (scripts/install-deps.sh installs it)"
done
[ -x "$DS" ] || fail "no deltaswarm binary at $DS (build it, or pass --deltaswarm BIN)"
DS=$(cd "$(dirname "$DS")" && pwd)/$(basename "$DS")
[[ $NODES =~ ^[0-9]+$ ]] && [ "$NODES" -ge 1 ] && [ "$NODES" -le 200 ] || fail "--nodes must be 1..200"
[[ $TIMEOUT =~ ^[0-9]+$ ]] || fail "--timeout must be whole seconds"
[[ $PREFIX =~ ^[A-Za-z][A-Za-z0-9_]{0,19}$ ]] || fail "--prefix must be 1-20 letters/digits/_ starting with a letter"
# never touch a lab this run did not create
if ip netns list | awk '{ print $1 }' | grep -qE "^$PREFIX-(hub|gw|n[0-9]+)\$"; then
  fail "namespaces $PREFIX-* exist (another run? scripts/lab/netns-lab.sh teardown -p $PREFIX removes them)"
fi

# rate_bps RATE: tc's rate units (bit, kbit, mbit, gbit; bps, kbps, mbps = bytes/s) in bits/s.
rate_bps() {
  awk -v r="$1" 'BEGIN {
    if (!match(r, /^[0-9.]+/)) exit 1
    n = substr(r, 1, RLENGTH); u = tolower(substr(r, RLENGTH + 1))
    m["bit"] = 1; m["kbit"] = 1e3; m["mbit"] = 1e6; m["gbit"] = 1e9
    m["bps"] = 8; m["kbps"] = 8e3; m["mbps"] = 8e6; m["gbps"] = 8e9
    if (!(u in m) || n <= 0) exit 1
    printf "%.0f", n * m[u] }'
}
UPLINK_BPS=$(rate_bps "$UPLINK") || fail "--uplink '$UPLINK': use a tc rate such as 20mbit"
rate_bps "$LAN" >/dev/null || fail "--lan '$LAN': use a tc rate such as 1gbit"

# ---------------------------------------------------------------- processes, teardown
# shellcheck source=scripts/lib/processes.sh
. "$ROOT/scripts/lib/processes.sh"  # PIDS, alive, forget, stop_pids
LAB_CREATED=0
WORK=""

cleanup() {
  local rc=$?
  trap - EXIT INT TERM
  if [ "${#PIDS[@]}" -gt 0 ]; then stop_pids "${PIDS[@]}"; fi
  # kills whatever is left inside the namespaces, then deletes them
  if [ "$LAB_CREATED" = 1 ]; then LAB_STATE=$WORK/lab "$LAB" teardown -p "$PREFIX" || true; fi
  if [ -n "$WORK" ]; then
    if [ "$KEEP" = 1 ]; then echo "lab: kept $WORK" >&2; else rm -rf "$WORK"; fi
  fi
  exit "$rc"
}
trap cleanup EXIT
trap 'echo "lab: FAILED: interrupted" >&2; exit 130' INT
trap 'echo "lab: FAILED: terminated" >&2; exit 143' TERM

tail_of() { [ -f "$1" ] && tail -n 8 "$1" | sed 's/^/    /' >&2 || true; }
# fmt_bytes N: human-readable (decimal units, as the README's tables)
fmt_bytes() { awk -v b="$1" 'BEGIN { split("B kB MB GB TB", u); i = 1; while (b >= 1000 && i < 5) { b /= 1000; i++ }
                                      printf (i == 1 ? "%d %s" : "%.2f %s"), b, u[i] }'; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.3f", a / b }'; }

# wait_file FILE PID WHAT: until FILE has LINES lines, while PID lives, bounded.
wait_file() {
  local file=$1 pid=$2 what=$3 lines=${4:-1} deadline=$((SECONDS + TIMEOUT))
  while :; do
    if [ -s "$file" ] && [ "$(wc -l <"$file")" -ge "$lines" ]; then return 0; fi
    alive "$pid" || { tail_of "$WORK/logs/$what.log"; fail "$what exited before it was ready"; }
    [ "$SECONDS" -lt "$deadline" ] || { tail_of "$WORK/logs/$what.log"; fail "$what not ready within $TIMEOUT s"; }
    sleep 0.1
  done
}

# ---------------------------------------------------------------- work directory, versions
WORK=$(mktemp -d "${TMPDIR:-/tmp}/deltaswarm-lab-XXXXXX")
mkdir -p "$WORK"/{logs,run,applied,nodes}
BUCKET=$WORK/bucket
KEY=$WORK/key
HUB_IP="" GW_IP="" NODE_IPS=()
t_start=$SECONDS
log "work directory $WORK; $NODES nodes, uplink $UPLINK, LAN $LAN; binary $DS"

# v0 is the base (version 1, a keyframe); v1 and v2 are the measured versions.
timeout "$TIMEOUT" "$DS" synth --params "$PARAMS" --versions 2 --lr "$LR" --seed 1 -o "$WORK/ckpt" -q || fail "synth failed"
timeout "$TIMEOUT" "$DS" keygen -o "$KEY" -q || fail "keygen failed"
# A closed swarm: the run's cluster CA, a certificate per node (the
# gateway's is issued once the lab's addresses are known).
CA=$WORK/ca CERTS=$WORK/certs
timeout "$TIMEOUT" "$DS" ca init -o "$CA" -q || fail "ca init failed"
mkdir -p "$CERTS"
issue() {  # issue NAME [--host H]: CERTS/NAME.pem and CERTS/NAME.key
  local name=$1
  shift
  timeout "$TIMEOUT" "$DS" ca issue --ca "$CA" --name "$name" "$@" -o "$CERTS/$name.pem" -q ||
    fail "ca issue $name failed"
}
for ((i = 0; i < NODES; i++)); do issue "n$i"; done
# tls_of NAME: TLS=(the flags of NAME's certificate, its key and the CA)
tls_of() { TLS=(--tls-cert "$CERTS/$1.pem" --tls-key "$CERTS/$1.key" --tls-ca "$CA/ca.pem"); }

publish() {  # publish CHECKPOINT: the next version (TLS torrents of the CA); keyframes only for version 1
  timeout "$TIMEOUT" "$DS" publish --bucket "$BUCKET" --model "$MODEL" --key "$KEY" --state "$WORK/publisher" \
    --keyframe-every 1000000 --tls-ca "$CA/ca.pem" --tls-crl "$CA/crl.pem" -q "$1" >>"$WORK/logs/publish.log" 2>&1 ||
    { tail_of "$WORK/logs/publish.log"; fail "publish $1 failed"; }
}
publish "$WORK/ckpt/v0/model.safetensors"

# Place the base: every node's store, straight from the directory bucket (the
# gateway's follows once the lab is up). Two pulls at a time (2 cores); each is bounded.
place_base() {
  local i k pids=() nodes=() TLS
  for ((i = 0; i < NODES; i++)); do
    tls_of "n$i"
    timeout "$TIMEOUT" "$DS" pull --bucket "$BUCKET" --model "$MODEL" --trust "$KEY.pub" --dest "$WORK/nodes/n$i" \
      "${TLS[@]}" -j 1 -q >"$WORK/logs/place-n$i.log" 2>&1 &
    pids+=($!) nodes+=("$i")
    PIDS+=($!)
    if [ "${#pids[@]}" = 2 ] || [ "$i" = $((NODES - 1)) ]; then
      for k in "${!pids[@]}"; do
        wait "${pids[k]}" || { tail_of "$WORK/logs/place-n${nodes[k]}.log"; fail "placing the base on node ${nodes[k]} failed"; }
        forget "${pids[k]}"
      done
      pids=() nodes=()
    fi
  done
}
place_base
log "base version placed on $NODES nodes ($((SECONDS - t_start)) s)"

# ---------------------------------------------------------------- the lab
LAB_CREATED=1   # from here on, teardown runs on exit (setup cleans up its own failure)
LAB_STATE=$WORK/lab "$LAB" setup -n "$NODES" -p "$PREFIX" --down "$UPLINK" --up "$UPLINK" --lan "$LAN" \
  >"$WORK/logs/netns.log" 2>&1 || { LAB_CREATED=0; tail_of "$WORK/logs/netns.log"; fail "lab setup failed"; }
# shellcheck disable=SC1091
. "$WORK/lab/lab.env"
HUB_NS=$LAB_HUB_NS GW_NS=$LAB_GW_NS HUB_IP=$LAB_HUB_IP GW_IP=$LAB_GW_IP
read -r -a NODE_IPS <<<"$LAB_NODE_IPS"
node_ns() { echo "$PREFIX-n$1"; }

# The gateway's certificate names its LAN address: nodes dial https://GW_IP:PORT/
# and check it. Then prime the gateway with the base (root namespace: the
# bucket is a directory here).
issue gateway --host "$GW_IP"
tls_of gateway
GW_TLS=("${TLS[@]}")
timeout "$TIMEOUT" "$DS" gateway --once --bucket "$BUCKET" --model "$MODEL" --trust "$KEY.pub" --dir "$WORK/gateway" \
  "${GW_TLS[@]}" -q >"$WORK/logs/gateway-once.log" 2>&1 ||
  { tail_of "$WORK/logs/gateway-once.log"; fail "priming the gateway failed (gateway --once)"; }
log "gateway primed with the base; certificates from the CA $CA for the gateway (host $GW_IP) and $NODES nodes"

# nginx in the hub: the directory bucket, read-only, one access-log line per request with its body bytes.
mkdir -p "$WORK/nginx/tmp"
cat >"$WORK/nginx/nginx.conf" <<EOF
daemon off;
pid $WORK/nginx/nginx.pid;
error_log $WORK/nginx/error.log;
user root;  # the work directory is private to root
worker_processes 1;
events {}
http {
  log_format lab '\$request_uri \$status \$body_bytes_sent \$remote_addr \$msec';
  access_log $WORK/nginx/access.log lab;
  client_body_temp_path $WORK/nginx/tmp; proxy_temp_path $WORK/nginx/tmp; fastcgi_temp_path $WORK/nginx/tmp;
  uwsgi_temp_path $WORK/nginx/tmp; scgi_temp_path $WORK/nginx/tmp;
  types { application/octet-stream dsc dsi torrent; application/json json; }
  default_type application/octet-stream;
  server {
    listen $HUB_IP:$HTTP_PORT;
    root $BUCKET;
    location / { limit_except GET HEAD { deny all; } autoindex on; autoindex_format json; }
  }
}
EOF
ip netns exec "$HUB_NS" nginx -e "$WORK/nginx/error.log" -c "$WORK/nginx/nginx.conf" >"$WORK/logs/nginx.log" 2>&1 &
NGINX_PID=$!
PIDS+=("$NGINX_PID")
HUB_URL=http://$HUB_IP:$HTTP_PORT
deadline=$((SECONDS + TIMEOUT))
until ip netns exec "$GW_NS" timeout 2 bash -c "exec 3<>/dev/tcp/$HUB_IP/$HTTP_PORT" 2>/dev/null; do
  alive "$NGINX_PID" || { tail_of "$WORK/nginx/error.log"; fail "nginx exited in $HUB_NS"; }
  [ "$SECONDS" -lt "$deadline" ] || fail "nginx not reachable at $HUB_URL within $TIMEOUT s"
  sleep 0.1
done
log "lab $PREFIX up: hub $HUB_IP (nginx), gateway $GW_IP, nodes ${NODE_IPS[0]}..${NODE_IPS[NODES - 1]}"

# ---------------------------------------------------------------- measuring
tx_bytes() {  # tx_bytes NS DEV: the interface's TX byte counter
  ip -n "$1" -s link show dev "$2" | awk '/TX:/ { getline; print $1; exit }'
}
served_bytes() {  # served_bytes ID: body bytes nginx sent for requests under MODEL/versions/ID/
  awk -v p="/$MODEL/versions/$1/" 'index($1, p) == 1 { s += $3 } END { printf "%d", s }' "$WORK/nginx/access.log"
}
served_until() {  # served_until ID T0: seconds from T0 until nginx finished the version's last request
  awk -v p="/$MODEL/versions/$1/" -v t0="$2" 'index($1, p) == 1 && $5 > t { t = $5 } END { printf "%.1f", t - t0 }' \
    "$WORK/nginx/access.log"
}
served_requests() {
  awk -v p="/$MODEL/versions/$1/" 'index($1, p) == 1 { n++ } END { printf "%d", n }' "$WORK/nginx/access.log"
}
# version_bytes ID: "chunk_bytes meta_bytes": index + chunks of every artifact; manifest + torrents
version_bytes() {
  python3 - "$BUCKET/$MODEL/versions/$1/manifest.json" <<'EOF'
import json, os, sys
m = json.load(open(sys.argv[1]))
chunks = sum(a["index_size"] + sum(c["size"] for c in a["chunks"]) for a in m["artifacts"])
meta = os.path.getsize(sys.argv[1]) + sum(a["torrent_size"] for a in m["artifacts"])
print(chunks, meta)
EOF
}

NODE_PIDS=()
# start_nodes RUN BUCKET_URL WITH_PEERS: N nodes, each recording in applied/RUN-nI when it switched.
start_nodes() {
  local run=$1 url=$2 with_peers=$3 i j peers name TLS
  NODE_PIDS=()
  for ((i = 0; i < NODES; i++)); do
    name=$run-n$i
    tls_of "n$i"
    peers=()
    if [ "$with_peers" = 1 ]; then
      # configs/lab-node.yaml is the node behind a lab gateway; the flags below
      # win over it (its tls_* keys are commented out: the certificate flags
      # give them). Peers: the gateway plus the next 2 nodes on a ring:
      # bounded, never all-to-all.
      peers=(--config "$ROOT/configs/lab-node.yaml" --peer "$GW_IP:$SWARM_PORT")
      for j in 1 2; do
        [ "$j" -lt "$NODES" ] && peers+=(--peer "${NODE_IPS[(i + j) % NODES]}:$SWARM_PORT")
      done
    fi
    ip netns exec "$(node_ns "$i")" "$DS" node --bucket "$url" --model "$MODEL" --trust "$KEY.pub" \
      --dest "$WORK/nodes/n$i" --listen "${NODE_IPS[i]}:$SWARM_PORT" "${peers[@]}" "${TLS[@]}" \
      --poll-interval 1 --fallback-after -1 -j 1 --ready-file "$WORK/run/$name.ready" \
      --on-update "echo \"\$DELTASWARM_VERSION \$(date +%s.%N)\" >>$WORK/applied/$name" \
      --json >"$WORK/logs/$name.log" 2>&1 &
    NODE_PIDS+=($!)
    PIDS+=($!)
  done
  for ((i = 0; i < NODES; i++)); do wait_file "$WORK/run/$run-n$i.ready" "${NODE_PIDS[i]}" "$run-n$i"; done
}

# wait_applied RUN ID: until every node of RUN has run on_update for ID; sets T_LAST, the last one's time.
T_LAST=""
wait_applied() {
  local run=$1 id=$2 i deadline=$((SECONDS + TIMEOUT)) done_n
  while :; do
    done_n=0
    for ((i = 0; i < NODES; i++)); do
      if [ -f "$WORK/applied/$run-n$i" ] && grep -q "^$id " "$WORK/applied/$run-n$i"; then
        done_n=$((done_n + 1))
      else
        alive "${NODE_PIDS[i]}" || { tail_of "$WORK/logs/$run-n$i.log"; fail "$run node $i exited before version $id"; }
      fi
    done
    [ "$done_n" = "$NODES" ] && break
    if [ "$SECONDS" -ge "$deadline" ]; then
      for ((i = 0; i < NODES; i++)); do
        grep -qs "^$id " "$WORK/applied/$run-n$i" || { echo "lab: $run node $i:" >&2; tail_of "$WORK/logs/$run-n$i.log"; }
      done
      if [ "$run" = gateway ]; then echo "lab: the gateway:" >&2; tail_of "$WORK/logs/gateway.log"; fi
      fail "$run: $done_n of $NODES nodes at version $id after $TIMEOUT s"
    fi
    sleep 0.1
  done
  T_LAST=$(cat "$WORK/applied/$run"-n* | awk -v id="$id" '$1 == id && $2 > t { t = $2 } END { printf "%.3f", t }')
}

# check_sha RUN ID CHECKPOINT: every node's current/model.safetensors is CHECKPOINT, byte for byte.
check_sha() {
  local run=$1 id=$2 want got i bad=0
  want=$(sha256sum "$3" | cut -d' ' -f1)
  for ((i = 0; i < NODES; i++)); do
    got=$(sha256sum "$WORK/nodes/n$i/current/model.safetensors" | cut -d' ' -f1)
    if [ "$got" != "$want" ]; then
      echo "lab: $run node $i: sha256 $got, want $want" >&2
      bad=$((bad + 1))
    fi
  done
  [ "$bad" = 0 ] || fail "$run: $bad of $NODES nodes do not hold version $id (sha256 $want)"
  log "$run: all $NODES nodes hold version $id, sha256 $want"
}

# measure RUN ID CHECKPOINT BOUND_FACTOR: publish CHECKPOINT as version ID with
# the nodes running, wait for all of them, print the row, set X_SERVED and T.
X_SERVED="" X_LINK="" T=""
measure() {
  local run=$1 id=$2 ckpt=$3 factor=$4 tx0 tx1 up0 up1 t0 t1 served reqs link chunk meta bound
  tx0=$(tx_bytes "$HUB_NS" eth0) up0=$(tx_bytes "$GW_NS" wan0)
  publish "$ckpt"
  local made
  made=$(sed -n 's/.*"version":\([0-9]*\).*/\1/p' "$BUCKET/$MODEL/refs/latest")  # the signed statement's version
  [ "$made" = "$id" ] || fail "publish made version $made, expected $id"
  # the version exists from the moment refs/latest names it (publish still tidies its state after that)
  t0=$(stat -c %.9Y "$BUCKET/$MODEL/refs/latest")
  wait_applied "$run" "$id"
  t1=$T_LAST
  tx1=$(tx_bytes "$HUB_NS" eth0) up1=$(tx_bytes "$GW_NS" wan0)
  check_sha "$run" "$id" "$ckpt"
  read -r chunk meta <<<"$(version_bytes "$id")"
  served=$(served_bytes "$id")
  reqs=$(served_requests "$id")
  link=$((tx1 - tx0))
  X_SERVED=$(ratio "$served" "$chunk")
  X_LINK=$(ratio "$link" "$chunk")
  T=$(awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.1f", b - a }')
  bound=$(awk -v c="$chunk" -v f="$factor" -v r="$UPLINK_BPS" 'BEGIN { printf "%.1f", f * c * 8 / r }')
  log "$run: version $id: chunk bytes $(fmt_bytes "$chunk") (index + chunks; manifest + torrent $(fmt_bytes "$meta"))"
  log "$run:   hub nginx served $(fmt_bytes "$served") in $reqs requests = $X_SERVED x chunk bytes"
  log "$run:   uplink carried $(fmt_bytes "$link") down (hub eth0 TX, all traffic) = $X_LINK x chunk bytes;" \
    "$(fmt_bytes $((up1 - up0))) up (gateway wan0 TX)"
  log "$run:   all $NODES nodes applied+verified $T s after refs/latest named it; bound ${factor} x chunk bytes / $UPLINK = $bound s" \
    "(nginx handed the last byte to TCP at $(served_until "$id" "$t0") s)"
}

# ---------------------------------------------------------------- run 1: behind the gateway
GW_ID=2 DIRECT_ID=3
ip netns exec "$GW_NS" "$DS" gateway --bucket "$HUB_URL" --model "$MODEL" --trust "$KEY.pub" --dir "$WORK/gateway" \
  --http "$GW_IP:$GW_HTTP_PORT" --listen "$GW_IP:$SWARM_PORT" --poll-interval 1 \
  "${GW_TLS[@]}" --require-client-cert --tls-crl "$CA/crl.pem" \
  --ready-file "$WORK/run/gateway.ready" --json >"$WORK/logs/gateway.log" 2>&1 &
GATEWAY_PID=$!
PIDS+=("$GATEWAY_PID")
wait_file "$WORK/run/gateway.ready" "$GATEWAY_PID" gateway 2
GW_URL=$(sed -n 2p "$WORK/run/gateway.ready")
log "gateway: swarm $(head -n 1 "$WORK/run/gateway.ready"), bucket for the nodes $GW_URL"
start_nodes gateway "$GW_URL" 1
measure gateway "$GW_ID" "$WORK/ckpt/v1/model.safetensors" 1
GW_X=$X_SERVED GW_T=$T
stop_pids "${NODE_PIDS[@]}" "$GATEWAY_PID"

# ---------------------------------------------------------------- run 2: every node from the hub
start_nodes direct "$HUB_URL" 0
measure direct "$DIRECT_ID" "$WORK/ckpt/v2/model.safetensors" "$NODES"
DIRECT_X=$X_SERVED
stop_pids "${NODE_PIDS[@]}"

log "done in $((SECONDS - t_start)) s"
echo "lab: nodes=$NODES uplink_bytes_x=$GW_X time_s=$GW_T direct_uplink_bytes_x=$DIRECT_X"
