#!/usr/bin/env bash
# scripts/mpi/deltaswarm-mpi.sh under mpirun: 8 ranks on 127.0.0.1 pull a
# 2M-parameter checkpoint (published as v0 into a directory bucket) from one
# `deltaswarm seed` and from each other (3 peers per rank). Checks that mpirun
# exits 0, that all 8 ranks print `rank <r>: version <v> sha256 <sha>` and that
# every sha256 is the synthesized checkpoint's. Fails (exit 1, one line) if
# mpirun is missing: scripts/install-deps.sh installs it (openmpi-bin).
#   mpi_test.sh DELTASWARM_BINARY MPI_SCRIPT
set -euo pipefail
DS=$1
SCRIPT=$2
NP=8
fail() { echo "mpi_test: FAILED: $*" >&2; exit 1; }

command -v mpirun >/dev/null ||
  fail "mpirun not found: run scripts/install-deps.sh (installs openmpi-bin)"

TMP=$(mktemp -d "${TMPDIR:-/tmp}/deltaswarm-mpi-test-XXXXXX")
SEED_PID=""
cleanup() {
  local rc=$?
  if [ -n "$SEED_PID" ]; then
    kill -TERM "$SEED_PID" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$SEED_PID" 2>/dev/null || break; sleep 0.1; done
    kill -KILL "$SEED_PID" 2>/dev/null || true
    wait "$SEED_PID" 2>/dev/null || true
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

"$DS" synth --params 2M --versions 0 --seed 1 -o "$TMP/ckpt" -q || fail "synth failed"
"$DS" keygen -o "$TMP/key" -q || fail "keygen failed"
"$DS" publish --bucket "$TMP/bucket" --model m --key "$TMP/key" --state "$TMP/publisher" -q \
  "$TMP/ckpt/v0/model.safetensors" || fail "publish failed"
want=$(sha256sum "$TMP/ckpt/v0/model.safetensors" | cut -d' ' -f1)

"$DS" seed --bucket "$TMP/bucket" --model m --trust "$TMP/key.pub" --dir "$TMP/seed" \
  --listen 127.0.0.1:0 --ready-file "$TMP/seed.ready" -q >"$TMP/seed.log" 2>&1 &
SEED_PID=$!
for _ in $(seq 300); do
  [ -s "$TMP/seed.ready" ] && break
  kill -0 "$SEED_PID" 2>/dev/null || { tail -n 5 "$TMP/seed.log" >&2; fail "seed exited before serving"; }
  sleep 0.1
done
[ -s "$TMP/seed.ready" ] || fail "seed not ready within 30 s"
SEED_EP=$(head -n 1 "$TMP/seed.ready")

# A base port with NP free consecutive loopback ports after it.
BASE=$(python3 - "$NP" <<'EOF'
import random, socket, sys
n = int(sys.argv[1])
for _ in range(200):
    base = random.randint(20000, 60000)
    socks = []
    try:
        for p in range(base, base + n):
            s = socket.socket(); s.bind(("127.0.0.1", p)); socks.append(s)
    except OSError:
        continue
    finally:
        for s in socks: s.close()
    print(base); break
EOF
) || true
[[ "$BASE" =~ ^[0-9]+$ ]] || fail "no $NP free consecutive loopback ports"

rc=0
start=$SECONDS
timeout 150 mpirun --allow-run-as-root --oversubscribe -np "$NP" \
  bash "$SCRIPT" --deltaswarm "$DS" --bucket "$TMP/bucket" --model m --trust "$TMP/key.pub" \
  --dest-root "$TMP/dest" --rdv "$TMP/rdv" --job-id mpi-test --seed "$SEED_EP" \
  --base-port "$BASE" --host 127.0.0.1 --peers 3 --linger 3 -- -q -j 1 \
  >"$TMP/out" 2>"$TMP/err" || rc=$?
cat "$TMP/out"
if [ "$rc" != 0 ]; then
  tail -n 20 "$TMP/err" >&2
  fail "mpirun exited $rc after $((SECONDS - start)) s"
fi

lines=$(grep -E '^rank [0-9]+: version [0-9]+ sha256 [0-9a-f]{64}$' "$TMP/out" || true)
ranks=$(awk '{ print $2 }' <<<"$lines" | sort -u | grep -c . || true)
[ "$ranks" = "$NP" ] || fail "$ranks distinct 'rank <r>:' lines, expected $NP"
bad=$(awk -v w="$want" '$6 != w' <<<"$lines")
[ -z "$bad" ] || fail "sha256 differs from the synthesized checkpoint ($want): $(head -n 1 <<<"$bad")"
echo "mpi_test: ok ($NP ranks, $want, mpirun $((SECONDS - start)) s)"
