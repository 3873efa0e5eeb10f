# shellcheck shell=bash
# The background processes of a script, stopped by PID (demo.sh, lab-test.sh):
# source it, add every PID started to PIDS, and stop what is left from the
# EXIT trap with `stop_pids "${PIDS[@]}"`.
#   alive PID         true while PID runs (a zombie counts as gone)
#   forget PID        drops PID from PIDS
#   stop_pids PID...  SIGTERM, SIGKILL after 10 s, reap, forget

PIDS=()  # every background process still to stop

alive() {
  kill -0 "$1" 2>/dev/null || return 1
  local state
  state=$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null) || return 1
  [ "$state" != Z ]
}

forget() {
  local keep=() p
  for p in "${PIDS[@]}"; do [ "$p" = "$1" ] || keep+=("$p"); done
  PIDS=("${keep[@]+"${keep[@]}"}")
}

stop_pids() {
  local p deadline=$((SECONDS + 10))
  for p in "$@"; do kill -TERM "$p" 2>/dev/null || true; done
  for p in "$@"; do
    while alive "$p" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if alive "$p"; then kill -KILL "$p" 2>/dev/null || true; fi
    wait "$p" 2>/dev/null || true
    forget "$p"
  done
}
