# shellcheck shell=bash
# Shared by mpi_test.sh and slurm_test.sh (source it; bash, set -euo pipefail):
# a temporary directory, a cluster CA, a signed 2M-parameter checkpoint in a
# directory bucket published as a closed swarm (TLS torrents of that CA), one
# `deltaswarm seed` on 127.0.0.1 with its certificate, free loopback ports, checks of
# the launchers' report lines and stores, and cleanup of every process started
# here (by PID, also on failure or signal).
#
#   fx_init NAME DELTASWARM   TMP=$(mktemp -d), traps; fail() says "NAME: FAILED:"
#   fx_spawn CMD...           run CMD in the background, stopped by fx_stop_all
#   fx_stop_all               SIGTERM to every fx_spawn'ed PID (newest first),
#                             5 s each, then SIGKILL; fails if one needed SIGKILL
#   fx_free_ports N           a base port with N free consecutive loopback ports
#   fx_checkpoint             ca init ($TMP/ca) + synth + keygen + publish v0 into
#                             $TMP/bucket with --tls-ca/--tls-crl; sets WANT, CA_PEM
#   fx_issue NAME             a certificate of the CA: $TMP/certs/NAME.pem and .key
#   fx_start_seed             `deltaswarm seed` on 127.0.0.1:0 with certificate
#                             "seed"; sets SEED_EP
#   fx_check_reports WORD N FILE [SKIP]
#                             N (or MIN-MAX) distinct `WORD <i>: version <v>
#                             sha256 <sha>` lines in FILE, every sha = $WANT,
#                             none for <i> = SKIP
#   fx_check_failure WORD I WHERE DEST RC FILE
#                             FILE has exactly one `WORD <i>: FAILED:` line: for
#                             I, with `(pull exit RC; WHERE` and naming DEST
#   fx_store_state DIR        sets STATE=complete (current holds $WANT) or
#                             STATE=none (no current yet); fails on anything else
#   fx_strays                 PIDs of processes, not fx_spawn'ed, whose command
#                             line mentions $TMP (should be none)
#   fx_cmdline_pids STRING    PIDs of running processes (not zombies, not this
#                             shell) whose command line contains STRING
#   fx_forget PID             drop PID (reaped already) from fx_stop_all's list
# FX_KEEP=1 in the environment keeps $TMP (for debugging).

fail() { echo "${FX_NAME:-test}: FAILED: $*" >&2; exit 1; }

# True while PID runs (a zombie counts as gone); builtins only, no fork.
fx_alive() {
  local st
  read -r st 2>/dev/null <"/proc/$1/stat" || return 1
  st=${st##*) }
  [ "${st%% *}" != Z ]
}

fx_init() {
  FX_NAME=$1
  FX_DS=$2
  FX_PIDS=()
  TMP=$(mktemp -d "${TMPDIR:-/tmp}/deltaswarm-$FX_NAME-XXXXXX")
  mkdir -p "$TMP/log"
  trap fx_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

fx_spawn() {
  "$@" &
  FX_PIDS+=($!)
}

fx_stop_all() {
  local i p n killed=0
  for ((i = ${#FX_PIDS[@]} - 1; i >= 0; i--)); do kill -TERM "${FX_PIDS[$i]}" 2>/dev/null || true; done
  for p in "${FX_PIDS[@]+"${FX_PIDS[@]}"}"; do
    for ((n = 0; n < 50; n++)); do fx_alive "$p" || break; sleep 0.1; done
    if fx_alive "$p"; then
      echo "$FX_NAME: pid $p ignored SIGTERM for 5 s: SIGKILL" >&2
      kill -KILL "$p" 2>/dev/null || true
      killed=1
    fi
    wait "$p" 2>/dev/null || true
  done
  FX_PIDS=()
  return "$killed"
}

fx_cleanup() {
  local rc=$? f
  fx_stop_all || true
  if [ "$rc" != 0 ] && [ -d "${TMP:-}/log" ]; then
    for f in "$TMP"/log/*.log; do [ -s "$f" ] && { echo "--- $f" >&2; tail -n 5 "$f" >&2; }; done
  fi
  [ -n "${TMP:-}" ] && [ -z "${FX_KEEP:-}" ] && rm -rf "$TMP"
  exit "$rc"
}

fx_free_ports() {
  local base
  base=$(python3 - "$1" <<'PY'
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
  [[ "$base" =~ ^[0-9]+$ ]] || fail "no $1 free consecutive loopback ports"
  echo "$base"
}

fx_issue() {
  mkdir -p "$TMP/certs"
  "$FX_DS" ca issue --ca "$TMP/ca" --name "$1" -o "$TMP/certs/$1.pem" -q || fail "ca issue $1 failed"
}

fx_checkpoint() {
  "$FX_DS" ca init -o "$TMP/ca" -q || fail "ca init failed"
  # shellcheck disable=SC2034  # used by the tests
  CA_PEM=$TMP/ca/ca.pem
  "$FX_DS" synth --params 2M --versions 0 --seed 1 -o "$TMP/ckpt" -q || fail "synth failed"
  "$FX_DS" keygen -o "$TMP/key" -q || fail "keygen failed"
  "$FX_DS" publish --bucket "$TMP/bucket" --model m --key "$TMP/key" --state "$TMP/publisher" -q \
    --tls-ca "$TMP/ca/ca.pem" --tls-crl "$TMP/ca/crl.pem" \
    "$TMP/ckpt/v0/model.safetensors" || fail "publish failed"
  WANT=$(sha256sum "$TMP/ckpt/v0/model.safetensors" | cut -d' ' -f1)
}

fx_start_seed() {
  local n
  fx_issue seed
  fx_spawn "$FX_DS" seed --bucket "$TMP/bucket" --model m --trust "$TMP/key.pub" --dir "$TMP/seed" \
    --tls-cert "$TMP/certs/seed.pem" --tls-key "$TMP/certs/seed.key" --tls-ca "$TMP/ca/ca.pem" \
    --listen 127.0.0.1:0 --ready-file "$TMP/seed.ready" -q >"$TMP/log/seed.log" 2>&1
  SEED_PID=${FX_PIDS[-1]}
  for ((n = 0; n < 300; n++)); do
    [ -s "$TMP/seed.ready" ] && break
    fx_alive "$SEED_PID" || fail "seed exited before serving"
    sleep 0.1
  done
  [ -s "$TMP/seed.ready" ] || fail "seed not ready within 30 s"
  # shellcheck disable=SC2034  # used by the tests
  SEED_EP=$(head -n 1 "$TMP/seed.ready")
}

fx_check_reports() {
  local word=$1 n=$2 file=$3 skip=${4:-} lines got bad
  lines=$(grep -E "^$word [0-9]+: version [0-9]+ sha256 [0-9a-f]{64}\$" "$file" || true)
  got=$(awk '{ print $2 }' <<<"$lines" | sort -u | grep -c . || true)
  [ "$got" -ge "${n%-*}" ] && [ "$got" -le "${n#*-}" ] ||
    fail "$got distinct '$word <i>:' report lines, expected $n"
  if [ -n "$skip" ] && grep -q "^$word $skip: version" <<<"$lines"; then
    fail "$word $skip reported a version although it failed"
  fi
  bad=$(awk -v w="$WANT" '$6 != w' <<<"$lines")
  [ -z "$bad" ] || fail "sha256 differs from the synthesized checkpoint ($WANT): $(head -n 1 <<<"$bad")"
}

fx_check_failure() {
  local word=$1 i=$2 where=$3 dest=$4 rc=$5 file=$6 lines
  lines=$(grep -E "^$word [0-9]+: FAILED: " "$file" || true)
  [ -n "$lines" ] || fail "no '$word <i>: FAILED:' line"
  [ "$(grep -c . <<<"$lines")" = 1 ] || fail "more than one FAILED line: $(tr '\n' '|' <<<"$lines")"
  grep -qF "$word $i: FAILED: " <<<"$lines" && grep -qF "(pull exit $rc; $where" <<<"$lines" &&
    grep -qF "$dest" <<<"$lines" ||
    fail "the FAILED line does not name $word $i, '$where', $dest and exit $rc: $lines"
}

# shellcheck disable=SC2034  # STATE is read by the tests
fx_store_state() {
  local dir=$1 f sha
  STATE=none
  [ -e "$dir/current" ] || [ -L "$dir/current" ] || return 0
  f=$dir/current/model.safetensors
  [ -f "$f" ] || fail "$dir/current exists but holds no model.safetensors"
  sha=$(sha256sum "$f" | cut -d' ' -f1)
  [ "$sha" = "$WANT" ] || fail "$dir/current has sha256 $sha, expected $WANT"
  STATE=complete
}

fx_strays() {
  local f p
  # One grep over all command lines (NUL-separated arguments, hence -z).
  for f in $(grep -lzF -- "$TMP" /proc/[0-9]*/cmdline 2>/dev/null); do
    p=${f#/proc/}
    p=${p%/cmdline}
    [ "$p" = "$$" ] && continue
    case " ${FX_PIDS[*]-} " in *" $p "*) continue ;; esac
    fx_alive "$p" && echo "$p"
  done
  return 0
}

fx_cmdline_pids() {
  local f p
  for f in $(grep -lzF -- "$1" /proc/[0-9]*/cmdline 2>/dev/null); do
    p=${f#/proc/}
    p=${p%/cmdline}
    [ "$p" = "$$" ] || [ "$p" = "$BASHPID" ] && continue
    fx_alive "$p" && echo "$p"
  done
  return 0
}

fx_forget() {
  local p keep=()
  for p in "${FX_PIDS[@]+"${FX_PIDS[@]}"}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  FX_PIDS=("${keep[@]+"${keep[@]}"}")
}
