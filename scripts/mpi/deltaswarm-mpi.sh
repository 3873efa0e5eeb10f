#!/usr/bin/env bash
# One rank of an MPI-launched `deltaswarm pull`: run it under mpirun, one
# process per rank. It reads only the environment Open MPI sets
# (OMPI_COMM_WORLD_RANK, OMPI_COMM_WORLD_SIZE, OMPI_COMM_WORLD_LOCAL_RANK) and
# never calls MPI_Init, so it also works inside network namespaces.
#
#   mpirun -np N scripts/mpi/deltaswarm-mpi.sh --bucket URL --model NAME \
#     --trust KEY.pub --dest-root DIR --rdv SHARED_DIR --seed IP:PORT [options] [-- pull args]
#
# Each rank r:
#   1. listens on HOST:(BASE_PORT + local rank) and writes that ip:port
#      atomically (tmp + mv) to RDV/JOBID/rank-<r>;
#   2. picks K peers deterministically: ranks r-1, r-2, ..., r-K (mod size),
#      never all-to-all, and waits (bounded) for their rendezvous files;
#   3. runs `deltaswarm pull --dest DEST_ROOT/rank-<r> --listen HOST:PORT
#      --peer SEED --peer <each peer> --fallback-after -1 --linger L
#      [--tls-cert C --tls-key K --tls-ca CA] ...`;
#   4. prints `rank <r>: version <v> sha256 <sha>` (sha256 of
#      current/*.safetensors; with several shards, the sha256 of their sorted
#      `sha256sum` listing) and exits with pull's exit code.
# Failures: a rank that cannot start or whose pull fails prints one line
# `rank <r>: FAILED: <reason> (pull exit <code>; host H[, dest D])` to stderr
# and exits non-zero (pull's code; 2 for a launcher error). mpirun then stops
# the other ranks (SIGTERM to each rank's process group, then SIGKILL; a rank
# that gets to report prints `rank <r>: stopped by SIGTERM ...`) and exits
# with the failed rank's code.
# If mpirun dies without stopping its ranks (SIGKILL, or a second SIGTERM or
# SIGINT within 5 s), each rank stops its pull within about 1 s on its own.
# A stopped rank's store keeps its previous `current` (or none): run again.
#
# Options (environment variable in brackets; the option wins):
#   --bucket URL        bucket [DSMPI_BUCKET]
#   --model NAME        model name [DSMPI_MODEL]
#   --trust KEY.pub     trusted public key [DSMPI_TRUST]
#   --dest-root DIR     each rank uses DIR/rank-<r> [DSMPI_DEST_ROOT]
#   --rdv DIR           rendezvous directory on a filesystem all ranks share [DSMPI_RDV]
#   --job-id ID         rendezvous subdirectory [DSMPI_JOB_ID; default
#                       $OMPI_MCA_orte_ess_jobid, else $PMIX_NAMESPACE]
#   --seed IP:PORT      the seed / publisher every rank connects to [DSMPI_SEED]
#   --base-port P       rank listens on P + local rank [DSMPI_BASE_PORT; default 6881]
#   --host IP           address to advertise and listen on [DSMPI_HOST; default:
#                       first address of `hostname -I`]
#   --peers K           peers per rank besides the seed [DSMPI_PEERS; default 3]
#   --linger S          seconds to keep seeding after the pull [DSMPI_LINGER; default 5]
#   --wait S            seconds to wait for the peers' rendezvous files
#                       [DSMPI_WAIT; default 60]; a missing peer is skipped
#   --tls-cert FILE     this rank's certificate from the cluster CA, needed in
#                       a closed swarm (TLS torrents; docs/SECURITY.md) [DSMPI_TLS_CERT]
#   --tls-key FILE      its private key [DSMPI_TLS_KEY]
#   --tls-ca FILE       the cluster CA certificate (ca.pem) [DSMPI_TLS_CA]
#                       In these three paths `%h` becomes the host name
#                       (`hostname`) and `%r` the rank, so that each node or
#                       rank has its own: --tls-cert /etc/deltaswarm/%h.pem.
#                       Unset, pull gets no such flag: keys tls_cert, tls_key,
#                       tls_ca of a `-- --config FILE` then apply (read by
#                       pull as written, without %h/%r); without either, a
#                       rank's pull of a closed swarm's version fails at once
#                       (`rank <r>: FAILED: torrent ...: a closed swarm (TLS
#                       torrent) needs this role's cluster certificate ...`, exit 2).
#   --deltaswarm BIN    the binary [DELTASWARM; default: build/deltaswarm of
#                       this checkout if present, else `deltaswarm` on PATH]
#   -- ARGS             passed through to `deltaswarm pull` (e.g. -q, --json, -j 2,
#                       --config FILE)
set -uo pipefail

usage() { sed -n '2,63p' "$0" | sed 's/^# \{0,1\}//'; }

BUCKET=${DSMPI_BUCKET:-}
MODEL=${DSMPI_MODEL:-}
TRUST=${DSMPI_TRUST:-}
DEST_ROOT=${DSMPI_DEST_ROOT:-}
RDV=${DSMPI_RDV:-}
JOB_ID=${DSMPI_JOB_ID:-${OMPI_MCA_orte_ess_jobid:-${PMIX_NAMESPACE:-}}}
SEED=${DSMPI_SEED:-}
BASE_PORT=${DSMPI_BASE_PORT:-6881}
HOST=${DSMPI_HOST:-}
K=${DSMPI_PEERS:-3}
LINGER=${DSMPI_LINGER:-5}
WAIT=${DSMPI_WAIT:-60}
TLS_CERT=${DSMPI_TLS_CERT:-}
TLS_KEY=${DSMPI_TLS_KEY:-}
TLS_CA=${DSMPI_TLS_CA:-}
DS=${DELTASWARM:-}
PASS=()

R=${OMPI_COMM_WORLD_RANK:-}
LIB=$(dirname "${BASH_SOURCE[0]}")/../lib/pull-and-report.sh
# shellcheck source-path=SCRIPTDIR source=../lib/pull-and-report.sh
. "$LIB" || { echo "deltaswarm-mpi${R:+[rank $R]}: error: cannot read $LIB" >&2; exit 2; }
die() {
  if [ -n "$R" ]; then ds_failed "rank $R" "$*"; else echo "deltaswarm-mpi: error: $*" >&2; fi
  exit 2
}

while [ $# -gt 0 ]; do
  case "$1" in
    -h|--help) usage; exit 0 ;;
    --) shift; PASS=("$@"); break ;;
    --bucket|--model|--trust|--dest-root|--rdv|--job-id|--seed|--base-port|--host|--peers|--linger|--wait|\
    --tls-cert|--tls-key|--tls-ca|--deltaswarm)
      [ $# -ge 2 ] || die "$1 needs a value"
      case "$1" in
        --bucket) BUCKET=$2 ;; --model) MODEL=$2 ;; --trust) TRUST=$2 ;;
        --dest-root) DEST_ROOT=$2 ;; --rdv) RDV=$2 ;; --job-id) JOB_ID=$2 ;;
        --seed) SEED=$2 ;; --base-port) BASE_PORT=$2 ;; --host) HOST=$2 ;;
        --peers) K=$2 ;; --linger) LINGER=$2 ;; --wait) WAIT=$2 ;; --deltaswarm) DS=$2 ;;
        --tls-cert) TLS_CERT=$2 ;; --tls-key) TLS_KEY=$2 ;; --tls-ca) TLS_CA=$2 ;;
      esac
      shift 2 ;;
    *) die "unknown argument $1 (see --help)" ;;
  esac
done

[ -n "$R" ] && [ -n "${OMPI_COMM_WORLD_SIZE:-}" ] ||
  die "OMPI_COMM_WORLD_RANK/OMPI_COMM_WORLD_SIZE not set: run under mpirun (see --help)"
N=$OMPI_COMM_WORLD_SIZE
LR=${OMPI_COMM_WORLD_LOCAL_RANK:-0}
for v in BUCKET MODEL TRUST DEST_ROOT RDV SEED; do
  [ -n "${!v}" ] || die "--$(tr 'A-Z_' 'a-z-' <<<"$v") (or DSMPI_$v) is required"
done
[ -n "$JOB_ID" ] || die "no job id: pass --job-id (neither OMPI_MCA_orte_ess_jobid nor PMIX_NAMESPACE is set)"
JOB_ID=${JOB_ID//[^A-Za-z0-9._-]/_}
[[ "$BASE_PORT" =~ ^[0-9]+$ ]] || die "--base-port must be a number"
[[ "$K" =~ ^[0-9]+$ ]] || die "--peers must be a number"
[[ "$WAIT" =~ ^[0-9]+$ ]] || die "--wait must be whole seconds"
PORT=$((BASE_PORT + LR))
[ "$PORT" -le 65535 ] || die "port $PORT out of range"
if [ -z "$HOST" ]; then
  HOST=$(hostname -I 2>/dev/null | awk '{ print $1 }')
  [ -n "$HOST" ] || die "no address from hostname -I: pass --host"
fi
[ -n "$DS" ] || DS=$(ds_default_binary)

# ---- this rank's certificate: %h -> host name, %r -> rank
TLS=()
NAME=$(hostname)
tls_flag() {  # tls_flag FLAG PATH: FLAG PATH (expanded) onto TLS, unless PATH is empty
  local v=${2//%h/$NAME}
  [ -z "$2" ] || TLS+=("$1" "${v//%r/$R}")
}
tls_flag --tls-cert "$TLS_CERT"
tls_flag --tls-key "$TLS_KEY"
tls_flag --tls-ca "$TLS_CA"
command -v "$DS" >/dev/null || die "deltaswarm binary '$DS' not found (--deltaswarm or DELTASWARM)"

# ---- rendezvous: publish our endpoint atomically
JOBDIR=$RDV/$JOB_ID
mkdir -p "$JOBDIR" || die "cannot create $JOBDIR"
tmp=$JOBDIR/.rank-$R.$$.tmp
printf '%s:%s\n' "$HOST" "$PORT" >"$tmp" && mv -f "$tmp" "$JOBDIR/rank-$R" ||
  die "cannot write $JOBDIR/rank-$R"

# ---- choose K peers: r-1, r-2, ... (mod N), distinct, never ourselves
CHOSEN=()
for ((i = 1; i <= K && i < N; i++)); do CHOSEN+=($(( (R - i + N) % N ))); done

PEERS=()
deadline=$((SECONDS + WAIT))
for p in "${CHOSEN[@]+"${CHOSEN[@]}"}"; do
  f=$JOBDIR/rank-$p
  while [ ! -s "$f" ] && [ "$SECONDS" -lt "$deadline" ]; do
    ds_parent_gone && die "mpirun (parent process $_DS_PARENT) exited while waiting for rank $p"
    sleep 0.1
  done
  if [ -s "$f" ]; then
    ep=$(head -n 1 "$f")
    [ -n "$ep" ] && PEERS+=(--peer "$ep")
  else
    echo "rank $R: warning: rank $p did not register within ${WAIT} s; going on without it" >&2
  fi
done

# ---- pull, then report (scripts/lib/pull-and-report.sh)
DEST=$DEST_ROOT/rank-$R
mkdir -p "$DEST_ROOT" || die "cannot create $DEST_ROOT"
ds_pull_and_report "rank $R" "host $NAME" "$DEST" \
  "$DS" pull --bucket "$BUCKET" --model "$MODEL" --trust "$TRUST" --dest "$DEST" \
  --listen "$HOST:$PORT" --peer "$SEED" "${PEERS[@]+"${PEERS[@]}"}" \
  --fallback-after -1 --linger "$LINGER" "${TLS[@]+"${TLS[@]}"}" "${PASS[@]+"${PASS[@]}"}"
exit $?
