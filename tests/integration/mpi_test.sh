#!/usr/bin/env bash
# scripts/mpi/deltaswarm-mpi.sh under mpirun: 8 ranks on 127.0.0.1 pull a
# 2M-parameter checkpoint (published as v0 into a directory bucket) from one
# `deltaswarm seed` and from each other (3 peers per rank). The swarm is
# closed: the version's torrents are TLS torrents of a cluster CA, the seed and
# every rank have a certificate of it (rank r: --tls-cert certs/rank-%r.pem,
# the CA from DSMPI_TLS_CA). Two runs into the same dest root:
#  1. a failing rank: rank 5's store path DEST/rank-5 is a regular file, so its
#     pull fails for real ("Not a directory"). Checks that mpirun exits
#     non-zero with that rank's exit code; that exactly one FAILED line is
#     printed: `rank 5: FAILED: <pull's error, naming DEST/rank-5> (pull exit
#     <code>; host <h>)`; that every other rank's store is either complete with
#     the right sha256 or has no `current` (mpirun SIGTERMs the other ranks);
#     that no process of the run is left and that the seed still runs;
#  1b. a rank without a certificate (no --tls-* and no DSMPI_TLS_*; one rank):
#     mpirun exits 2, with exactly one line `rank 0: FAILED: torrent ...: a
#     closed swarm (TLS torrent) needs this role's cluster certificate ...
#     (pull exit 2; host <h>, dest D)`, and the store has no `current`;
#  2. the fault removed, the same command again (a retry over the stores left
#     by run 1): mpirun exits 0, all 8 ranks print
#     `rank <r>: version <v> sha256 <sha>` with the synthesized checkpoint's sha256;
#  3. mpirun dies without stopping its ranks: 4 ranks whose pulls stall (their
#     seed is a port nobody listens on; a directory bucket is no web seed),
#     then two SIGTERMs to mpirun 0.2 s apart (Open MPI 4.1 answers the second
#     with an immediate exit, like a double Ctrl-C or `timeout` + `kill`, and
#     signals no rank). Checks that within STOP_LIMIT s no process of that run
#     is left: no launcher and no pull (matched by the run's dest root in
#     /proc/*/cmdline) and nothing in the ranks' process groups (tee, watchdog).
# Fails (exit 1, one line) if mpirun is missing: scripts/install-deps.sh
# installs it (openmpi-bin).
#   mpi_test.sh DELTASWARM_BINARY MPI_SCRIPT
set -euo pipefail
DS=$(realpath "$1")
SCRIPT=$(realpath "$2")
NP=8
BAD=5
STOP_LIMIT=8   # seconds for the ranks of a dead mpirun to stop (step 3)
# shellcheck source-path=SCRIPTDIR source=cluster_fixture.sh
. "$(dirname "${BASH_SOURCE[0]}")/cluster_fixture.sh"
fx_init mpi_test "$DS"

command -v mpirun >/dev/null ||
  fail "mpirun not found: run scripts/install-deps.sh (installs openmpi-bin)"

fx_checkpoint
fx_start_seed
for ((r = 0; r < NP; r++)); do fx_issue "rank-$r"; done
# rank r's certificate by the launcher's %r; the CA through the environment
TLS=(--tls-cert "$TMP/certs/rank-%r.pem" --tls-key "$TMP/certs/rank-%r.key")
export DSMPI_TLS_CA=$CA_PEM

# run_mpi RUN: one mpirun of NP ranks into $TMP/dest; RC, OUT, ERR, SECS
run_mpi() {
  local base start
  base=$(fx_free_ports "$NP")
  OUT=$TMP/$1.out ERR=$TMP/$1.err RC=0
  start=$SECONDS
  timeout 60 mpirun --allow-run-as-root --oversubscribe -np "$NP" -x DSMPI_TLS_CA \
    bash "$SCRIPT" --deltaswarm "$DS" --bucket "$TMP/bucket" --model m --trust "$TMP/key.pub" \
    --dest-root "$TMP/dest" --rdv "$TMP/rdv" --job-id "mpi-test-$1" --seed "$SEED_EP" \
    --base-port "$base" --host 127.0.0.1 --peers 3 --linger 3 "${TLS[@]}" -- -q -j 1 \
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

# ---- 1b. a rank without a certificate is refused by the closed swarm
base=$(fx_free_ports 1)
RC=0
env -u DSMPI_TLS_CA timeout 60 mpirun --allow-run-as-root --oversubscribe -np 1 \
  bash "$SCRIPT" --deltaswarm "$DS" --bucket "$TMP/bucket" --model m --trust "$TMP/key.pub" \
  --dest-root "$TMP/dest-nocert" --rdv "$TMP/rdv" --job-id mpi-test-nocert --seed "$SEED_EP" \
  --base-port "$base" --host 127.0.0.1 --linger 1 -- -q -j 1 \
  >"$TMP/nocert.out" 2>"$TMP/nocert.err" || RC=$?
[ "$RC" = 2 ] || { cat "$TMP/nocert.err" >&2; fail "mpirun exited $RC for a rank without a certificate, expected 2"; }
fx_check_failure rank 0 "host $(hostname)" "$TMP/dest-nocert/rank-0" 2 "$TMP/nocert.err"
grep -q "^rank 0: FAILED: .*a closed swarm (TLS torrent) needs this role's cluster certificate" "$TMP/nocert.err" ||
  fail "the FAILED line does not say that the closed swarm needs a certificate: $(grep FAILED "$TMP/nocert.err")"
fx_store_state "$TMP/dest-nocert/rank-0"
[ "$STATE" = none ] || fail "the rank without a certificate has a current"
echo "mpi_test: rank without a certificate ok ($(grep -h '^rank 0: FAILED: ' "$TMP/nocert.err"))"

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

# ---- 3. mpirun exits without stopping its ranks while their pulls stall
SNP=4
STALL=$TMP/dest-stall
base=$(fx_free_ports $((SNP + 1)))   # the last port is the (absent) seed's
mpirun --allow-run-as-root --oversubscribe -np "$SNP" -x DSMPI_TLS_CA \
  bash "$SCRIPT" --deltaswarm "$DS" --bucket "$TMP/bucket" --model m --trust "$TMP/key.pub" \
  --dest-root "$STALL" --rdv "$TMP/rdv" --job-id mpi-test-stall --seed "127.0.0.1:$((base + SNP))" \
  --base-port "$base" --host 127.0.0.1 --peers 3 --linger 1 "${TLS[@]}" -- -q -j 1 \
  >"$TMP/stall.out" 2>"$TMP/stall.err" &
MP=$!
FX_PIDS+=("$MP")   # stopped by the cleanup if this step fails early
pulls=()
for ((n = 0; n < 300; n++)); do
  mapfile -t pulls < <(fx_cmdline_pids "$STALL/rank-")
  [ "${#pulls[@]}" -ge "$SNP" ] && break
  fx_alive "$MP" || { cat "$TMP/stall.err" >&2; fail "mpirun exited before $SNP pulls ran"; }
  sleep 0.1
done
[ "${#pulls[@]}" = "$SNP" ] || fail "${#pulls[@]} pulls of the stalling run after 30 s, expected $SNP"
sleep 0.5
launchers=()
for p in "${pulls[@]}"; do launchers+=("$(ps -o ppid= -p "$p" | tr -d ' ')"); done
# Every process of the run: naming its dest root (launcher, pull, watchdog)
# or in a rank's process group (= its launcher's PID: also tee and sleep).
stall_left() {
  local p
  { fx_cmdline_pids "$STALL"
    ps -e -o pid=,pgid= | awk -v g=" ${launchers[*]} " 'index(g, " " $2 " ") { print $1 }'
  } | sort -u | while read -r p; do fx_alive "$p" && echo "$p"; done
  return 0
}
t0=${EPOCHREALTIME/./}
kill -TERM "$MP"
sleep 0.2
kill -TERM "$MP" 2>/dev/null || true
for ((n = 0; n < 100; n++)); do fx_alive "$MP" || break; sleep 0.1; done
fx_alive "$MP" && fail "mpirun still runs 10 s after two SIGTERMs"
outlived=0
for p in "${launchers[@]}"; do fx_alive "$p" && outlived=$((outlived + 1)); done
MRC=0
wait "$MP" || MRC=$?
fx_forget "$MP"
deadline=$((${t0:0:-6} + STOP_LIMIT))
while left=$(stall_left); [ -n "$left" ] && [ "${EPOCHREALTIME%.*}" -lt "$deadline" ]; do sleep 0.2; done
ms=$(((${EPOCHREALTIME/./} - t0) / 1000))
if [ -n "$left" ]; then
  ps -o pid=,pgid=,args= -p "${left//$'\n'/,}" >&2 || true
  mapfile -t strays <<<"$left"
  kill -TERM "${strays[@]}" 2>/dev/null || true
  sleep 1
  kill -KILL "${strays[@]}" 2>/dev/null || true
  fail "processes of the stalling run left $STOP_LIMIT s after mpirun was SIGTERMed (see above)"
fi
echo "mpi_test: dead mpirun ok (exit $MRC after two SIGTERMs; $outlived of $SNP launchers outlived it;" \
  "all processes of the run gone $ms ms after the first SIGTERM)"
