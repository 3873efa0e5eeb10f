#!/usr/bin/env bash
# scripts/slurm/deltaswarm.sbatch under a private single-host Slurm: 4 emulated
# nodes (n0..n3, one slurmd each, all on 127.0.0.1, auth/none + cred/none: CI
# only) pull a 2M-parameter checkpoint (published as v0 into a directory
# bucket) from one `deltaswarm seed` and from each other (3 peers per task).
# The swarm is closed: the version's torrents are TLS torrents of a cluster
# CA, the seed and every node have a certificate of it (node nI:
# DSSLURM_TLS_CERT=certs/%h.pem -> certs/nI.pem; the CA as the job argument
# --tls-ca). Two jobs into the same dest root:
#  1. a failing task: node n2's store path DEST/n2 is a regular file, so the
#     pull of task 2 (on n2) fails for real ("Not a directory"). Checks that
#     `sbatch --wait` exits non-zero with that task's exit code; that the job
#     output has exactly one FAILED line, `task 2: FAILED: <pull's error,
#     naming DEST/n2> (pull exit <code>; node n2)`; that the other 3 tasks
#     still finish (srun --kill-on-bad-exit=0) and print
#     `task <i>: version <v> sha256 <sha>` with the synthesized checkpoint's
#     sha256, which their stores hold; that no pull is left and all 4 nodes
#     are idle again (not drained);
#  2. the fault removed, the same job again: exits 0, 4 distinct tasks print
#     the right sha256.
# Last, every daemon and the seed must stop on SIGTERM within 5 s each.
# Fails (exit 1, one line) if slurmctld is missing: scripts/install-deps.sh
# installs it (slurm-wlm munge).
#   slurm_test.sh DELTASWARM_BINARY SBATCH_SCRIPT
set -euo pipefail
DS=$(realpath "$1")
SCRIPT=$(realpath "$2")
NN=4
BAD=2   # `srun -N4 --ntasks-per-node=1` runs task i on node n<i>
# shellcheck source-path=SCRIPTDIR source=cluster_fixture.sh
. "$(dirname "${BASH_SOURCE[0]}")/cluster_fixture.sh"
fx_init slurm_test "$DS"

for c in slurmctld slurmd sbatch sinfo scontrol srun; do
  command -v "$c" >/dev/null ||
    fail "$c not found: run scripts/install-deps.sh (installs slurm-wlm munge)"
done

# 1 + NN + 2 * NN free consecutive loopback ports: slurmctld, the slurmd's,
# the tasks of job 1, those of job 2.
BASE=$(fx_free_ports $((1 + 3 * NN)))
CTLD_PORT=$BASE
SLURMD_PORT=$((BASE + 1))

# ---- a private Slurm: every path under $TMP, no cgroups, no accounting
S=$TMP/slurm
mkdir -p "$S"/{state,spool}
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
fx_spawn slurmctld -D -f "$SLURM_CONF" >"$TMP/log/slurmctld.out" 2>&1
for ((i = 0; i < NN; i++)); do
  mkdir -p "$S/spool/slurmd-n$i"
  fx_spawn slurmd -D -f "$SLURM_CONF" -N "n$i" >"$TMP/log/slurmd-n$i.out" 2>&1
done

# wait_idle WHAT: up to 30 s until all NN nodes are idle
wait_idle() {
  local n p
  for ((n = 0; n < 120; n++)); do
    [ "$(sinfo -h -o '%T %D' 2>/dev/null)" = "idle $NN" ] && return 0
    for p in "${FX_PIDS[@]}"; do fx_alive "$p" || fail "a Slurm daemon exited $1 (pid $p)"; done
    sleep 0.25
  done
  fail "Slurm nodes not idle within 30 s $1: $(sinfo -h -N -o '%N %T' 2>&1 | tr '\n' ' ')"
}
wait_idle "at start"

fx_checkpoint
fx_start_seed
for ((i = 0; i < NN; i++)); do fx_issue "n$i"; done

# run_job JOB: `sbatch --wait` of one task per node into $TMP/dest; RC, OUT, SECS
run_job() {
  local start
  OUT=$TMP/$1.out RC=0
  start=$SECONDS
  DSSLURM_BUCKET=$TMP/bucket DSSLURM_MODEL=m DSSLURM_TRUST=$TMP/key.pub \
  DSSLURM_DEST_ROOT=$TMP/dest DSSLURM_SEED=$SEED_EP DSSLURM_BASE_PORT=$2 \
  DSSLURM_PEERS=3 DSSLURM_LINGER=3 DELTASWARM=$DS \
  DSSLURM_TLS_CERT="$TMP/certs/%h.pem" DSSLURM_TLS_KEY="$TMP/certs/%h.key" \
    timeout 60 sbatch --wait -N "$NN" --chdir "$TMP" --output "$OUT" \
      "$SCRIPT" --tls-ca "$CA_PEM" -q -j 1 >"$TMP/$1.sbatch" 2>&1 || RC=$?
  SECS=$((SECONDS - start))
}

# ---- 1. the task on node n$BAD cannot create its store
mkdir -p "$TMP/dest"
: >"$TMP/dest/n$BAD"
run_job fail $((BASE + 1 + NN))
[ "$RC" != 0 ] || { cat "$OUT"; fail "sbatch --wait exited 0 although task $BAD failed"; }
[ "$RC" != 124 ] || fail "the job did not end within 60 s"
grep -h "^task $BAD: FAILED: " "$OUT" || true
fx_check_failure task "$BAD" "node n$BAD" "$TMP/dest/n$BAD" "$RC" "$OUT"
fx_check_reports task $((NN - 1)) "$OUT" "$BAD"
for ((i = 0; i < NN; i++)); do
  [ "$i" = "$BAD" ] && continue
  fx_store_state "$TMP/dest/n$i"
  [ "$STATE" = complete ] || fail "node n$i reported a version but its store has no current"
done
strays=$(fx_strays)
[ -z "$strays" ] || fail "processes left after the job: $(ps -o pid=,args= -p "${strays//$'\n'/,}" 2>&1)"
wait_idle "after the failing job"
echo "slurm_test: failing task ok (sbatch exit $RC after $SECS s; task $BAD on n$BAD FAILED," \
  "$((NN - 1)) other tasks complete; nodes idle)"

# ---- 2. fault removed: the same job completes on all nodes
rm -f "$TMP/dest/n$BAD"
run_job ok $((BASE + 1 + 2 * NN))
cat "$OUT" 2>/dev/null || true
if [ "$RC" != 0 ]; then
  tail -n 20 "$TMP/ok.sbatch" >&2 2>/dev/null || true
  fail "sbatch --wait exited $RC after $SECS s"
fi
fx_check_reports task "$NN" "$OUT"

# ---- the daemons and the seed stop on SIGTERM
fx_stop_all || fail "a daemon needed SIGKILL"
strays=$(fx_strays)
[ -z "$strays" ] || fail "processes left after stopping Slurm: $(ps -o pid=,args= -p "${strays//$'\n'/,}" 2>&1)"
echo "slurm_test: ok ($NN nodes, $WANT, sbatch $SECS s; daemons stopped)"
