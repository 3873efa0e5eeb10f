#!/usr/bin/env bash
# One task of scripts/slurm/deltaswarm.sbatch (see its --help): run by
# `srun --ntasks-per-node=1`, one per node. Reads SLURM_PROCID, SLURM_NODEID,
# SLURMD_NODENAME, SLURM_JOB_NODELIST, SLURM_JOB_ID and the DSSLURM_* settings.
#   srun --ntasks-per-node=1 deltaswarm-task.sh [PULL_ARGS]
# --tls-cert/--tls-key/--tls-ca among PULL_ARGS, else DSSLURM_TLS_CERT/_KEY/_CA,
# go to pull with `%h` replaced by SLURMD_NODENAME.
# Needs scripts/lib/pull-and-report.sh (../lib from this file). On failure it
# prints `task <i>: FAILED: <reason> (pull exit <code>; node <name>[, dest D])`
# to stderr and exits with pull's code (2 for a setup error). If its parent
# (slurmstepd) dies without stopping it, the task stops its pull within ~1 s.
set -uo pipefail

case "${1:-}" in -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;; esac

PROCID=${SLURM_PROCID:-}
LIB=$(dirname "${BASH_SOURCE[0]}")/../lib/pull-and-report.sh
# shellcheck source-path=SCRIPTDIR source=../lib/pull-and-report.sh
. "$LIB" || { echo "deltaswarm-task${PROCID:+[task $PROCID]}: error: cannot read $LIB" >&2; exit 2; }
die() {
  if [ -n "$PROCID" ]; then ds_failed "task $PROCID" "$* (node ${SLURMD_NODENAME:-?})"
  else echo "deltaswarm-task: error: $*" >&2; fi
  exit 2
}

for v in SLURM_PROCID SLURM_NODEID SLURMD_NODENAME SLURM_JOB_NODELIST SLURM_JOB_ID; do
  [ -n "${!v:-}" ] || die "$v not set: run under srun inside a job (see deltaswarm.sbatch --help)"
done
BUCKET=${DSSLURM_BUCKET:-}
MODEL=${DSSLURM_MODEL:-}
TRUST=${DSSLURM_TRUST:-}
DEST_ROOT=${DSSLURM_DEST_ROOT:-}
SEED=${DSSLURM_SEED:-}
BASE_PORT=${DSSLURM_BASE_PORT:-6881}
K=${DSSLURM_PEERS:-3}
LINGER=${DSSLURM_LINGER:-5}
for v in BUCKET MODEL TRUST DEST_ROOT SEED; do
  [ -n "${!v}" ] || die "DSSLURM_$v is required"
done
[[ "$BASE_PORT" =~ ^[0-9]+$ ]] || die "DSSLURM_BASE_PORT must be a number"
[[ "$K" =~ ^[0-9]+$ ]] || die "DSSLURM_PEERS must be a number"
TLS_CERT=${DSSLURM_TLS_CERT:-}
TLS_KEY=${DSSLURM_TLS_KEY:-}
TLS_CA=${DSSLURM_TLS_CA:-}
# PULL_ARGS without --tls-cert/--tls-key/--tls-ca, whose values win over DSSLURM_TLS_*
ARGS=()
while [ $# -gt 0 ]; do
  case $1 in
    --tls-cert|--tls-key|--tls-ca)
      [ $# -ge 2 ] || die "$1 needs a value"
      case $1 in --tls-cert) TLS_CERT=$2 ;; --tls-key) TLS_KEY=$2 ;; --tls-ca) TLS_CA=$2 ;; esac
      shift 2 ;;
    --tls-cert=*) TLS_CERT=${1#*=}; shift ;;
    --tls-key=*) TLS_KEY=${1#*=}; shift ;;
    --tls-ca=*) TLS_CA=${1#*=}; shift ;;
    *) ARGS+=("$1"); shift ;;
  esac
done
TLS=()
tls_flag() {  # tls_flag FLAG PATH: FLAG PATH (%h expanded) onto TLS, unless PATH is empty
  [ -z "$2" ] || TLS+=("$1" "${2//%h/$SLURMD_NODENAME}")
}
tls_flag --tls-cert "$TLS_CERT"
tls_flag --tls-key "$TLS_KEY"
tls_flag --tls-ca "$TLS_CA"
DS=${DELTASWARM:-$(ds_default_binary)}
command -v "$DS" >/dev/null || die "deltaswarm binary '$DS' not found (set DELTASWARM)"

# ---- the job's nodes, in order (SLURM_NODEID indexes this list), and their addresses
mapfile -t NODES < <(scontrol show hostnames "$SLURM_JOB_NODELIST")
N=${#NODES[@]}
[ "$N" -gt 0 ] || die "cannot expand SLURM_JOB_NODELIST=$SLURM_JOB_NODELIST"
declare -A ADDR=()
while read -r name addr; do ADDR[$name]=$addr; done < <(
  scontrol -o show node "$SLURM_JOB_NODELIST" |
    sed -n 's/^NodeName=\([^ ]*\) .*NodeAddr=\([^ ]*\).*/\1 \2/p')
ME=$SLURM_NODEID
[ "$ME" -lt "$N" ] || die "SLURM_NODEID $ME outside the node list ($N nodes)"
HOST=${ADDR[$SLURMD_NODENAME]:-${ADDR[${NODES[$ME]}]:-}}
[ -n "$HOST" ] || die "no NodeAddr for $SLURMD_NODENAME"
PORT=$((BASE_PORT + ME))
[ "$PORT" -le 65535 ] || die "port $PORT out of range"

# ---- K other nodes, a random subset seeded by the job id and our node id
CHOSEN=$(awk -v n="$N" -v me="$ME" -v k="$K" -v seed="$SLURM_JOB_ID" 'BEGIN {
  srand(seed * 7919 + me); m = 0
  for (i = 0; i < n; i++) if (i != me) o[m++] = i
  for (i = m - 1; i > 0; i--) { j = int(rand() * (i + 1)); t = o[i]; o[i] = o[j]; o[j] = t }
  for (i = 0; i < k && i < m; i++) print o[i]
}')
PEERS=()
for i in $CHOSEN; do
  a=${ADDR[${NODES[$i]}]:-}
  if [ -n "$a" ]; then PEERS+=(--peer "$a:$((BASE_PORT + i))")
  else echo "task $PROCID: warning: no NodeAddr for ${NODES[$i]}; skipping it" >&2; fi
done

# ---- pull, then report (scripts/lib/pull-and-report.sh)
DEST=$DEST_ROOT/$SLURMD_NODENAME
mkdir -p "$DEST_ROOT" || die "cannot create $DEST_ROOT"
ds_pull_and_report "task $PROCID" "node $SLURMD_NODENAME" "$DEST" \
  "$DS" pull --bucket "$BUCKET" --model "$MODEL" --trust "$TRUST" --dest "$DEST" \
  --listen "$HOST:$PORT" --peer "$SEED" "${PEERS[@]+"${PEERS[@]}"}" \
  --fallback-after -1 --linger "$LINGER" "${ARGS[@]+"${ARGS[@]}"}" "${TLS[@]+"${TLS[@]}"}"
exit $?
