#!/usr/bin/env bash
# scripts/mpi/deltaswarm-mpi.sh under mpirun: 8 ranks on 127.0.0.1 pull a
# 2M-parameter checkpoint (published as v0 into a directory bucket) from one
# `deltaswarm seed` and from each other (3 peers per rank). Two runs into the
# same dest root:
#  1. a failing rank: rank 5's store path DEST/rank-5 is a regular file, so its
#     pull fails for real ("Not a directory"). Checks that mpirun exits
#     non-zero with that rank's exit code; that exactly one FAILED line is
#     printed: `rank 5: FAILED: <pull's error, naming DEST/rank-5> (pull exit
#     <code>; host <h>)`; that every other rank's store is either complete with
#     the right sha256 or has no `current` (mpirun SIGTERMs the other ranks);
#     that no process of the run is left and that the seed still runs;
#  2. the fault removed, the same command again (a retry over the stores left
#     by run 1): mpirun exits 0, all 8 ranks print
#     `rank <r>: version <v> sha256 <sha>` with the synthesized checkpoint's sha256.
# Fails (exit 1, one line) if mpirun is missing: scripts/install-deps.sh
# installs it (openmpi-bin).
#   mpi_test.sh DELTASWARM_BINARY MPI_SCRIPT
set -euo pipefail
DS=$(realpath "$1")
SCRIPT=$(realpath "$2")
NP=8
BAD=5
# shellcheck source-path=SCRIPTDIR source=cluster_fixture.sh
. "$(dirname "${BASH_SOURCE[0]}")/cluster_fixture.sh"
fx_init mpi_test "$DS"

command -v mpirun >/dev/null ||
  fail "mpirun not found: run scripts/install-deps.sh (installs openmpi-bin)"

fx_checkpoint
fx_start_seed

# run_mpi RUN: one mpirun of NP ranks into $TMP/dest; RC, OUT, ERR, SECS
run_mpi() {
  local base start
  base=$(fx_free_ports "$NP")
  OUT=$TMP/$1.out ERR=$TMP/$1.err RC=0
  start=$SECONDS
  timeout 60 mpirun --allow-run-as-root --oversubscribe -np "$NP" \
    bash "$SCRIPT" --deltaswarm "$DS" --bucket "$TMP/bucket" --model m --trust "$TMP/key.pub" \
    --dest-root "$TMP/dest" --rdv "$TMP/rdv" --job-id "mpi-test-$1" --seed "$SEED_EP" \
    --base-port "$base" --host 127.0.0.1 --peers 3 --linger 3 -- -q -j 1 \
    >"$OUT" 2>"$ERR" || RC=$?
  SECS=$((SECONDS - start))
}

# ---- 1. rank BAD cannot create its store
mkdir -p "$TMP/dest"
: >"$TMP/dest/rank-$BAD"
run_mpi fail
[ "$RC" != 0 ] || { cat "$OUT"; fail "mpirun exited 0 although rank $BAD failed"; }
[ "$RC" != 124 ] || fail "mpirun did not end within 60 s after rank $BAD failed"
grep -h "^rank $BAD: FAILED: " "$ERR" || true
fx_check_failure rank "$BAD" "host $(hostname)" "$TMP/dest/rank-$BAD" "$RC" "$ERR"
complete=0 stopped=0
for ((r = 0; r < NP; r++)); do
  [ "$r" = "$BAD" ] && continue
  fx_store_state "$TMP/dest/rank-$r"
  if [ "$STATE" = complete ]; then complete=$((complete + 1)); else stopped=$((stopped + 1)); fi
done
# A complete store's rank may still have been stopped while it lingered (seeding).
fx_check_reports rank "0-$complete" "$OUT" "$BAD"
strays=$(fx_strays)
[ -z "$strays" ] || fail "processes left after mpirun: $(ps -o pid=,args= -p "${strays//$'\n'/,}" 2>&1)"
fx_alive "$SEED_PID" || fail "the seed died during the failing run"
echo "mpi_test: failing rank ok (mpirun exit $RC after $SECS s; rank $BAD FAILED;" \
  "$complete other ranks complete, $stopped stopped without a current)"

# ---- 2. fault removed: the retry completes on all ranks
rm -f "$TMP/dest/rank-$BAD"
run_mpi ok
cat "$OUT"
if [ "$RC" != 0 ]; then
  tail -n 20 "$ERR" >&2
  fail "mpirun exited $RC after $SECS s"
fi
fx_check_reports rank "$NP" "$OUT"
echo "mpi_test: ok ($NP ranks, $WANT, mpirun $SECS s)"
