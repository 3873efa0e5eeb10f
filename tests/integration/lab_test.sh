#!/usr/bin/env bash
# scripts/lab-test.sh at small settings: 4 node namespaces behind a 20mbit
# uplink, a 20M-parameter checkpoint (deltas of about 3 MB). Asserts the last
# line's numbers: behind the gateway the hub served at most 1.05 x a version's
# chunk bytes; without it (every node from the hub) at least 0.9 x N. Needs
# root, iproute2 and nginx; fails (not skips) without them. The namespace
# prefix carries this test's PID, so it never meets a developer's lab or a
# concurrent run.
#   lab_test.sh DELTASWARM_BINARY LAB_SCRIPT
set -euo pipefail
DS=$1
SCRIPT=$2
N=4
fail() { echo "lab_test: FAILED: $*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || fail "must run as root (network namespaces)"
OUT=$(mktemp "${TMPDIR:-/tmp}/deltaswarm-lab-test-XXXXXX")
trap 'rm -f "$OUT"' EXIT

# timeout sends TERM first, so lab-test.sh still tears its namespaces down
# (ctest's own TIMEOUT would kill it outright).
rc=0
timeout -k 20 200 bash "$SCRIPT" --deltaswarm "$DS" --nodes "$N" --uplink 20mbit --params 20M \
  --prefix "dslab$$" --timeout 60 >"$OUT" 2>&1 || rc=$?
cat "$OUT"
[ "$rc" = 0 ] || fail "lab-test.sh exited with $rc"
last=$(tail -n 1 "$OUT")
[[ $last =~ ^lab:\ nodes=([0-9]+)\ uplink_bytes_x=([0-9.]+)\ time_s=([0-9.]+)\ direct_uplink_bytes_x=([0-9.]+)$ ]] ||
  fail "unexpected last line: $last"
nodes=${BASH_REMATCH[1]} gw_x=${BASH_REMATCH[2]} direct_x=${BASH_REMATCH[4]}
[ "$nodes" = "$N" ] || fail "nodes=$nodes, want $N"
awk -v x="$gw_x" 'BEGIN { exit !(x <= 1.05) }' || fail "uplink_bytes_x=$gw_x > 1.05 behind the gateway"
awk -v x="$direct_x" -v n="$N" 'BEGIN { exit !(x >= 0.9 * n) }' || fail "direct_uplink_bytes_x=$direct_x < 0.9 x $N"
ip netns list | grep -q "^dslab$$-" && fail "namespaces dslab$$-* left behind"
echo "lab_test: ok: uplink_bytes_x=$gw_x direct_uplink_bytes_x=$direct_x (N=$N)"
