#!/usr/bin/env bash
# scripts/slurm/deltaswarm.sbatch under a private single-host Slurm: 4 emulated
# nodes (n0..n3, one slurmd each, all on 127.0.0.1, auth/none + cred/none: CI
# only) pull a 2M-parameter checkpoint (published as v0 into a directory
# bucket) from one `deltaswarm seed` and from each other (3 peers per task).
# Checks that `sbatch --wait` exits 0, that 4 distinct tasks print
# `task <i>: version <v> sha256 <sha>` and that every sha256 is the
# synthesized checkpoint's. Fails (exit 1, one line) if slurmctld is missing:
# scripts/install-deps.sh installs it (slurm-wlm munge).
#   slurm_test.sh DELTASWARM_BINARY SBATCH_SCRIPT
set -euo pipefail
DS=$(realpath "$1")
SCRIPT=$(realpath "$2")
NN=4
fail() { echo "slurm_test: FAILED: $*" >&2; exit 1; }

for c in slurmctld slurmd sbatch sinfo scontrol srun; do
  command -v "$c" >/dev/null ||
    fail "$c not found: run scripts/install-deps.sh (installs slurm-wlm munge)"
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/deltaswarm-slurm-test-XXXXXX")
PIDS=()   # slurmd's, slurmctld, the seed: all our children (run in the foreground)
alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }
cleanup() {
  local rc=$? p
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${PIDS[$i]}" 2>/dev/null || true; done
  for p in "${PIDS[@]+"${PIDS[@]}"}"; do
    for _ in $(seq 50); do alive "$p" || break; sleep 0.1; done
    kill -KILL "$p" 2>/dev/null || true
    wait "$p" 2>/dev/null || true
  done
  if [ "$rc" != 0 ] && [ -d "$TMP/log" ]; then
    for f in "$TMP"/log/*.log; do echo "--- $f" >&2; tail -n 5 "$f" >&2; done
  fi
  rm -rf "$TMP"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# 1 + NN + NN free consecutive loopback ports: slurmctld, the slurmd's, the tasks.
BASE=$(python3 - $((1 + 2 * NN)) <<'PY'
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
PY
) || true
[[ "$BASE" =~ ^[0-9]+$ ]] || fail "no $((1 + 2 * NN)) free consecutive loopback ports"
CTLD_PORT=$BASE
SLURMD_PORT=$((BASE + 1))
TASK_PORT=$((BASE + 1 + NN))

# ---- a private Slurm: every path under $TMP, no cgroups, no accounting
S=$TMP/slurm
mkdir -p "$S"/{state,spool} "$TMP/log"
cat >"$S/slurm.conf" <<CONF
ClusterName=dsci
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$CTLD_PORT
SlurmdPort=$SLURMD_PORT
SlurmUser=root
SlurmdUser=root
AuthType=auth/none
CredType=cred/none
StateSaveLocation=$S/state
SlurmdSpoolDir=$S/spool/slurmd-%n
SlurmctldPidFile=$S/slurmctld.pid
SlurmdPidFile=$S/slurmd-%n.pid
SlurmctldLogFile=$TMP/log/slurmctld.log
SlurmdLogFile=$TMP/log/slurmd-%n.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SlurmdParameters=config_overrides
CommunicationParameters=NoInAddrAny
ReturnToService=2
InactiveLimit=0
KillWait=5
MinJobAge=30
NodeName=n[0-$((NN - 1))] NodeHostname=localhost NodeAddr=127.0.0.1 Port=[$SLURMD_PORT-$((SLURMD_PORT + NN - 1))] CPUs=4 RealMemory=1000 State=UNKNOWN
PartitionName=debug Nodes=n[0-$((NN - 1))] Default=YES MaxTime=INFINITE State=UP
CONF
export SLURM_CONF=$S/slurm.conf
slurmctld -D -f "$SLURM_CONF" >"$TMP/log/slurmctld.out" 2>&1 &
PIDS+=($!)
for ((i = 0; i < NN; i++)); do
  mkdir -p "$S/spool/slurmd-n$i"
  slurmd -D -f "$SLURM_CONF" -N "n$i" >"$TMP/log/slurmd-n$i.out" 2>&1 &
  PIDS+=($!)
done
for _ in $(seq 120); do   # up to 30 s until every node is idle
  [ "$(sinfo -h -o '%T %D' 2>/dev/null)" = "idle $NN" ] && break
  for p in "${PIDS[@]}"; do alive "$p" || fail "a Slurm daemon exited at start (pid $p)"; done
  sleep 0.25
done
[ "$(sinfo -h -o '%T %D' 2>/dev/null)" = "idle $NN" ] ||
  fail "Slurm nodes not idle within 30 s: $(sinfo -h -N -o '%N %T' 2>&1 | tr '\n' ' ')"

# ---- checkpoint, bucket, seed
"$DS" synth --params 2M --versions 0 --seed 1 -o "$TMP/ckpt" -q || fail "synth failed"
"$DS" keygen -o "$TMP/key" -q || fail "keygen failed"
"$DS" publish --bucket "$TMP/bucket" --model m --key "$TMP/key" --state "$TMP/publisher" -q \
  "$TMP/ckpt/v0/model.safetensors" || fail "publish failed"
want=$(sha256sum "$TMP/ckpt/v0/model.safetensors" | cut -d' ' -f1)

"$DS" seed --bucket "$TMP/bucket" --model m --trust "$TMP/key.pub" --dir "$TMP/seed" \
  --listen 127.0.0.1:0 --ready-file "$TMP/seed.ready" -q >"$TMP/log/seed.log" 2>&1 &
SEED_PID=$!
PIDS+=("$SEED_PID")
for _ in $(seq 300); do
  [ -s "$TMP/seed.ready" ] && break
  alive "$SEED_PID" || { tail -n 5 "$TMP/log/seed.log" >&2; fail "seed exited before serving"; }
  sleep 0.1
done
[ -s "$TMP/seed.ready" ] || fail "seed not ready within 30 s"
SEED_EP=$(head -n 1 "$TMP/seed.ready")

# ---- the job
rc=0
start=$SECONDS
DSSLURM_BUCKET=$TMP/bucket DSSLURM_MODEL=m DSSLURM_TRUST=$TMP/key.pub \
DSSLURM_DEST_ROOT=$TMP/dest DSSLURM_SEED=$SEED_EP DSSLURM_BASE_PORT=$TASK_PORT \
DSSLURM_PEERS=3 DSSLURM_LINGER=3 DELTASWARM=$DS \
  timeout 150 sbatch --wait -N "$NN" --chdir "$TMP" --output "$TMP/job.out" --error "$TMP/job.err" \
    "$SCRIPT" -q -j 1 >"$TMP/sbatch.out" 2>&1 || rc=$?
cat "$TMP/job.out" 2>/dev/null || true
if [ "$rc" != 0 ]; then
  tail -n 20 "$TMP/sbatch.out" "$TMP/job.err" >&2 2>/dev/null || true
  fail "sbatch --wait exited $rc after $((SECONDS - start)) s"
fi

lines=$(grep -E '^task [0-9]+: version [0-9]+ sha256 [0-9a-f]{64}$' "$TMP/job.out" || true)
tasks=$(awk '{ print $2 }' <<<"$lines" | sort -u | grep -c . || true)
[ "$tasks" = "$NN" ] || fail "$tasks distinct 'task <i>:' lines, expected $NN"
bad=$(awk -v w="$want" '$6 != w' <<<"$lines")
[ -z "$bad" ] || fail "sha256 differs from the synthesized checkpoint ($want): $(head -n 1 <<<"$bad")"
echo "slurm_test: ok ($NN nodes, $want, sbatch $((SECONDS - start)) s)"
