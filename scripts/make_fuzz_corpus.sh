#!/usr/bin/env bash
# Regenerates the committed seed corpora of the fuzz targets,
# tests/fuzz/corpus/<target>/, from real inputs made by the built tools:
# a tiny synthetic checkpoint published three times (keyframes and deltas,
# signed with the test key tests/fuzz/fuzz_key.pem) into a directory bucket
# and once more as a closed swarm (a TLS torrent with a revocation list),
# `deltaswarm diff` of single files (frames of every mode), nginx's JSON
# listings of that bucket, the HTTP requests of curl and of `deltaswarm pull`
# (HttpBucket and libtorrent's web seed) recorded by a small server, the
# example configs, and the golden safetensors files.
#
# Files named regress-* (inputs that once crashed a target) are kept; all
# else in the corpus is replaced. Timestamps and signatures differ from run
# to run, the structure does not. Needs python3, nginx and curl
# (scripts/install-deps.sh).
# Usage: scripts/make_fuzz_corpus.sh [BUILD_DIR]   (default build-fuzzreplay)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
build="${1:-$root/build-fuzzreplay}"
out="$root/tests/fuzz/corpus"

if [[ ! -f "$build/CMakeCache.txt" ]]; then
  cmake -S "$root" -B "$build" -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
fi
cmake --build "$build" -j"$(nproc)" --target deltaswarm fuzz_frame_seeds >/dev/null
ds="$build/deltaswarm"
frame_seeds="$build/fuzz-replay/fuzz_frame_seeds"

work="$(mktemp -d /tmp/deltaswarm-corpus-XXXXXX)"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  wait 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
cd "$work"

targets=(safetensors_header_fuzz frame_decode_fuzz delta_index_fuzz manifest_fuzz latest_fuzz torrent_fuzz
         autoindex_listing_fuzz bucket_request_fuzz config_fuzz)
for t in "${targets[@]}"; do
  mkdir -p "$out/$t"
  find "$out/$t" -type f ! -name 'regress-*' -delete
done

# --- Checkpoints: three versions of a 32k-parameter model, as directories
# (a tensor file, a config that grows, a file added), and a fast-changing pair
# (dense frames).
"$ds" synth --params 30000 --versions 2 --seed 7 -o synth -j1 -q
"$ds" synth --params 10000 --versions 1 --seed 8 --lr 0.05 -o fast -j1 -q
for v in 0 1 2; do
  mkdir -p "c$v"
  cp "synth/v$v/model.safetensors" "c$v/"
  printf '{"step": %d%s}\n' "$v" "$(printf ', "pad": 1%.0s' $(seq 0 "$v"))" >"c$v/config.json"
done
echo "added in version 3" >c2/notes.txt

# --- Published: versions 1 and 3 get keyframes, 2 and 3 deltas.
cp "$root/tests/fuzz/fuzz_key.pem" "$root/tests/fuzz/fuzz_key.pem.pub" .
chmod 600 fuzz_key.pem
publish=(--model m --key fuzz_key.pem --keyframe-every 2 --frame-size 4Ki --chunk-size 16Ki -j1 -q)
for v in 0 1 2; do
  "$ds" publish "c$v" --bucket "$work/bucket" --state "$work/state" "${publish[@]}"
done
# A closed swarm: TLS torrents carrying the CA and a revocation list with one entry.
"$ds" ca init -o ca -q
"$ds" ca issue --ca ca -o node.pem --name node-1 -q
"$ds" ca revoke --ca ca node.pem -q
"$ds" publish c0 --bucket "$work/tls-bucket" --state "$work/tls-state" --tls-ca ca/ca.pem --tls-crl ca/crl.pem \
  "${publish[@]}"

m="$work/bucket/m"
cp "$m/versions/1/manifest.json" "$out/manifest_fuzz/keyframe-v1.json"
cp "$m/versions/2/manifest.json" "$out/manifest_fuzz/delta-v2.json"
cp "$m/versions/3/manifest.json" "$out/manifest_fuzz/delta-keyframe-v3.json"
cp "$work/tls-bucket/m/versions/1/manifest.json" "$out/manifest_fuzz/tls-v1.json"
cp "$m/refs/latest" "$out/latest_fuzz/latest-v3"
cp "$work/tls-bucket/m/refs/latest" "$out/latest_fuzz/latest-tls-v1"
printf '3\n' >"$out/latest_fuzz/unsigned-number"  # what refs/latest held before signed statements
cp "$m/versions/1/keyframe/index.dsi" "$out/delta_index_fuzz/keyframe-v1.dsi"
cp "$m/versions/3/delta/index.dsi" "$out/delta_index_fuzz/delta-v3.dsi"
cp "$m/versions/1/keyframe.torrent" "$out/torrent_fuzz/keyframe-v1.torrent"
cp "$m/versions/3/delta.torrent" "$out/torrent_fuzz/delta-v3.torrent"
cp "$work/tls-bucket/m/versions/1/keyframe.torrent" "$out/torrent_fuzz/tls-keyframe-v1.torrent"

# --- Single-file deltas (index and frames): slow and fast change, a patch of a
# small file whose size changed.
"$ds" diff synth/v0/model.safetensors synth/v2/model.safetensors -o d-slow --frame-size 4Ki -q
"$ds" diff fast/v0/model.safetensors fast/v1/model.safetensors -o d-fast --frame-size 4Ki -q
"$ds" diff c0/config.json c2/config.json -o d-patch -q
golden="$root/tests/golden/delta"  # exponent-dependent changes: class-sparse frames
"$ds" diff "$golden/base2.safetensors" "$golden/target2.safetensors" -o d-class --frame-size 32Ki -q
cp d-slow/index.dsi "$out/delta_index_fuzz/file-slow.dsi"
cp d-patch/index.dsi "$out/delta_index_fuzz/file-patch.dsi"
fr="$out/frame_decode_fuzz"
"$frame_seeds" d-slow synth/v0/model.safetensors "$work/f-slow" 2 >/dev/null
"$frame_seeds" d-fast fast/v0/model.safetensors "$work/f-fast" 2 >/dev/null
"$frame_seeds" d-patch c0/config.json "$work/f-patch" 1 >/dev/null
"$frame_seeds" d-class "$golden/base2.safetensors" "$work/f-class" 2 >/dev/null
"$frame_seeds" "$m/versions/1/keyframe" - "$work/f-key" 2 >/dev/null
for d in f-slow f-fast f-patch f-key f-class; do
  for f in "$work/$d"/*; do cp "$f" "$fr/${d#f-}-$(basename "$f")"; done
done

# --- nginx's JSON listings of the bucket (autoindex_format json), as HttpBucket reads them.
mkdir -p "$work/bucket/m/empty" nginx/tmp
port="$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')"
{
  [[ "$(id -u)" == 0 ]] && echo "user root;"
  echo "daemon off; worker_processes 1; pid $work/nginx/nginx.pid; error_log $work/nginx/error.log;"
  echo "events { worker_connections 64; }"
  echo "http { access_log off; client_body_temp_path $work/nginx/tmp;"
  echo "  server { listen 127.0.0.1:$port; root $work/bucket; location / { autoindex on; autoindex_format json; } } }"
} >nginx/nginx.conf
nginx -p "$work/nginx" -e "$work/nginx/error.log" -c "$work/nginx/nginx.conf" &
pids+=($!)
for _ in $(seq 50); do curl -sf "http://127.0.0.1:$port/" >/dev/null && break; sleep 0.1; done
li="$out/autoindex_listing_fuzz"
curl -sf "http://127.0.0.1:$port/" -o "$li/root.json"
curl -sf "http://127.0.0.1:$port/m/" -o "$li/model.json"
curl -sf "http://127.0.0.1:$port/m/versions/" -o "$li/versions.json"
curl -sf "http://127.0.0.1:$port/m/versions/3/" -o "$li/version-3.json"
curl -sf "http://127.0.0.1:$port/m/empty/" -o "$li/empty.json"

# --- HTTP requests, as a metadata server receives them: a recording server
# (saves each request's bytes, answers from the bucket, one request per
# connection) in front of curl and of a real pull (HttpBucket's GETs, then
# libtorrent's web seed).
cat >recorder.py <<'EOF'
import os, socket, sys, threading
root, outdir, portfile = sys.argv[1:4]
srv = socket.socket(); srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
srv.bind(("127.0.0.1", 0)); srv.listen(64)
open(portfile, "w").write(str(srv.getsockname()[1]))
count = [0]; lock = threading.Lock()
def serve(c):
    c.settimeout(2)
    data = b""
    try:
        while b"\r\n\r\n" not in data:
            d = c.recv(65536)
            if not d: break
            data += d
        head = data.split(b"\r\n\r\n", 1)[0].decode("latin-1")
        length = 0
        for line in head.split("\r\n")[1:]:
            k, _, v = line.partition(":")
            if k.strip().lower() == "content-length": length = int(v.strip())
        while len(data) - len(head) - 4 < length:
            d = c.recv(65536)
            if not d: break
            data += d
    except (socket.timeout, ValueError):
        pass
    if data:
        with lock:
            count[0] += 1; n = count[0]
        open(os.path.join(outdir, "%03d" % n), "wb").write(data)
    parts = data.split(b" ")
    body = b""; status = b"404 Not Found"
    if len(parts) > 2 and parts[0] in (b"GET", b"HEAD"):
        path = os.path.normpath(os.path.join(root, parts[1].split(b"?")[0].decode("latin-1").lstrip("/")))
        if path.startswith(root) and os.path.isfile(path):
            status = b"200 OK"; body = open(path, "rb").read()
    reply = b"HTTP/1.1 " + status + b"\r\nContent-Length: %d\r\nConnection: close\r\n\r\n" % len(body)
    try:
        c.sendall(reply + (body if parts[0] == b"GET" else b""))
    except OSError:
        pass
    c.close()
while True:
    conn, _ = srv.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
EOF
mkdir -p requests
python3 recorder.py "$work/bucket" "$work/requests" "$work/recorder.port" &
pids+=($!)
for _ in $(seq 50); do [[ -s recorder.port ]] && break; sleep 0.1; done
rport="$(cat recorder.port)"
url="http://127.0.0.1:$rport"
curl -s "$url/m/refs/latest" -o /dev/null
curl -s -I "$url/m/versions/1/manifest.json" -o /dev/null
curl -s -0 "$url/m/versions/?x=1" -o /dev/null
curl -s --path-as-is "$url/m/../../etc/passwd" -o /dev/null
curl -s -X POST --data 'x=1' "$url/m/refs/latest" -o /dev/null
curl -s -H 'Range: bytes=0-99' "$url/m/versions/1/keyframe/index.dsi" -o /dev/null
timeout 60 "$ds" pull --bucket "$url/" --model m --dest "$work/pulled" --trust fuzz_key.pem.pub --fallback-after 0 \
  -j1 -q || echo "make_fuzz_corpus: pull through the recorder failed (requests kept)" >&2
rq="$out/bucket_request_fuzz"
declare -A seen=()
n=0
for f in requests/*; do  # the curl ones, then the pull's, one per method and path shape
  line="$(head -n1 "$f" | cut -d' ' -f1-2 | sed 's/[0-9]\+/N/g')"
  [[ -n "${seen[$line]:-}" ]] && continue
  seen[$line]=1
  cp "$f" "$rq/req-$(basename "$f")"
  n=$((n + 1))
  ((n >= 18)) && break
done
# Two requests on one keep-alive connection (pipelined), as the server reads them.
cat "$rq/req-001" "$rq/req-002" >"$rq/pipelined"

# --- Configs and safetensors headers.
cp "$root"/configs/*.yaml "$out/config_fuzz/"
cp "$root"/tests/golden/safetensors/*.safetensors "$out/safetensors_header_fuzz/"
cp fast/v0/model.safetensors "$out/safetensors_header_fuzz/synth-v0.safetensors"

for t in "${targets[@]}"; do
  printf '%-24s %3d files %7d bytes\n' "$t" "$(find "$out/$t" -type f | wc -l)" \
    "$(find "$out/$t" -type f -printf '%s\n' | awk '{s+=$1} END {print s+0}')"
done
echo "total $(du -sb "$out" | cut -f1) bytes in $out"
