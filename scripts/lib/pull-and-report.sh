# shellcheck shell=bash
# Shared by scripts/mpi/deltaswarm-mpi.sh and scripts/slurm/deltaswarm-task.sh:
# source it (bash), do not run it. Defines:
#
#   ds_failed WHO MESSAGE
#       prints `WHO: FAILED: MESSAGE` (one line) to stderr.
#   ds_default_binary
#       prints build/deltaswarm of this checkout if it is executable, else
#       `deltaswarm` (looked up on PATH).
#   ds_pull_and_report WHO WHERE DEST CMD [ARGS...]
#       runs CMD ARGS (a `deltaswarm pull --dest DEST ...`) in the background,
#       so that SIGTERM/SIGINT sent to the launcher reach it, and returns
#       pull's exit code. Pull's stdout and stderr pass through unchanged; then
#         exit 0:           stdout `WHO: version <v> sha256 <sha>` (sha256 of
#                           DEST/current/*.safetensors; with several shards,
#                           of their sorted `sha256sum` listing)
#         exit != 0:        stderr `WHO: FAILED: <pull's last stderr line>
#                           (pull exit <code>; WHERE[, dest DEST])` (DEST
#                           unless the message already names it)
#         SIGTERM/SIGINT:   stderr `WHO: stopped by SIG<name> (pull exit <code>;
#                           WHERE)`: the launcher (mpirun, srun) or the user
#                           ended it, e.g. because another rank failed.
#       After such a signal pull gets 10 s to stop, then SIGKILL.
#         parent gone:      stderr `WHO: stopped: parent process <pid> exited
#                           (pull exit <code>; WHERE)` (usually lost: that
#                           parent held the other end of stderr).
#       A watchdog (a background subshell, polling every 0.5 s) stops pull
#       the same way (SIGTERM, 10 s, SIGKILL) as soon as the launcher itself
#       has died or the launcher's parent (mpirun, orted, slurmstepd) has
#       exited: otherwise a launcher outlived by its parent is reparented to
#       PID 1, and nothing would ever signal it or pull. That happens when
#       mpirun is SIGKILLed or gets a second SIGTERM/SIGINT within 5 s
#       (Open MPI 4.1 then exits at once without stopping its ranks). So do
#       not start the launcher from a process that exits before it does.
#   ds_parent_gone
#       true when the launcher's parent has exited (the launcher was
#       reparented); for polling loops in the launchers.

ds_failed() { echo "$1: FAILED: $2" >&2; }

ds_default_binary() {
  local repo
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  if [ -x "$repo/build/deltaswarm" ]; then echo "$repo/build/deltaswarm"; else echo deltaswarm; fi
}

# True while PID runs (a zombie counts as gone). Builtins only: no fork.
ds_alive() {
  local st
  read -r st 2>/dev/null <"/proc/$1/stat" || return 1
  st=${st##*) }          # after the command name: "STATE PPID ..."
  [ "${st%% *}" != Z ]
}

# The launcher's parent when this file was sourced (mpirun, orted, slurmstepd).
_DS_PARENT=$PPID
# True when that parent has exited: the launcher ($$, also in subshells) then
# has another parent (PID 1 or a subreaper). False when /proc cannot tell.
ds_parent_gone() {
  local st
  read -r st 2>/dev/null <"/proc/$$/stat" || return 1
  st=${st##*) }          # "STATE PPID ..."
  st=${st#* }
  [ "${st%% *}" != "$_DS_PARENT" ]
}

# Runs in the background next to pull: if the launcher ($$) dies or its parent
# exits, SIGTERM to pull, 10 s, SIGKILL. Ends when pull ends, or on SIGTERM
# (then without leaving its `sleep` behind).
_ds_watchdog() {
  local pull=$1 i nap=
  trap '[ -z "$nap" ] || kill "$nap" 2>/dev/null; exit 0' TERM
  _ds_nap() { sleep "$1" & nap=$!; wait "$nap"; nap=; }
  while ds_alive "$pull"; do
    if ! ds_alive "$$" || ds_parent_gone; then
      kill -TERM "$pull" 2>/dev/null
      for ((i = 0; i < 100; i++)); do ds_alive "$pull" || return 0; _ds_nap 0.1; done
      kill -KILL "$pull" 2>/dev/null
      return 0
    fi
    _ds_nap 0.5
  done
}

ds_pull_and_report() {
  local who=$1 where=$2 dest=$3 errf wfd rfd efd tee pull wd rc=0 w i gone=
  shift 3
  _ds_sig=
  if ds_parent_gone; then
    ds_failed "$who" "parent process $_DS_PARENT exited before the pull started ($where)"
    return 2
  fi

  # Pull's stderr goes through `tee` into an unlinked file (nothing to clean
  # up, even after SIGKILL), so that its last line can be quoted on failure.
  errf=$(mktemp "${TMPDIR:-/tmp}/deltaswarm-pull-err.XXXXXX") ||
    { ds_failed "$who" "cannot create a temporary file ($where)"; return 2; }
  # shellcheck disable=SC2094  # one writer (tee), one reader afterwards
  exec {wfd}>"$errf" {rfd}<"$errf"
  rm -f "$errf"
  exec {efd}> >(exec tee "/dev/fd/$wfd" >&2)
  tee=$!

  "$@" 2>&"$efd" {efd}>&- {wfd}>&- {rfd}<&- &
  pull=$!
  # The watchdog holds none of the pipes (stdout/stderr of mpirun or
  # slurmstepd, tee's input), so it cannot delay anyone's end-of-file.
  _ds_watchdog "$pull" </dev/null >/dev/null 2>&1 {efd}>&- {wfd}>&- {rfd}<&- &
  wd=$!
  trap '_ds_sig=TERM; kill -TERM "$pull" 2>/dev/null' TERM
  trap '_ds_sig=INT; kill -INT "$pull" 2>/dev/null' INT
  wait "$pull" || rc=$?
  if [ -n "$_ds_sig" ]; then
    # The trap interrupted wait: give pull 10 s to stop, then its own exit code.
    for ((i = 0; i < 100; i++)); do ds_alive "$pull" || break; sleep 0.1; done
    ds_alive "$pull" && kill -KILL "$pull" 2>/dev/null
    w=0
    wait "$pull" 2>/dev/null || w=$?
    [ "$w" = 127 ] || rc=$w   # 127: the first wait had already reaped it
  fi
  trap - TERM INT
  kill -TERM "$wd" 2>/dev/null
  wait "$wd" 2>/dev/null
  [ -z "$_ds_sig" ] && ds_parent_gone && gone=1

  exec {efd}>&- {wfd}>&-
  for ((i = 0; i < 50; i++)); do ds_alive "$tee" || break; sleep 0.1; done
  ds_alive "$tee" && kill -TERM "$tee" 2>/dev/null
  wait "$tee" 2>/dev/null

  if [ -n "$_ds_sig" ] && [ "$rc" != 0 ]; then
    echo "$who: stopped by SIG$_ds_sig (pull exit $rc; $where)" >&2
    exec {rfd}<&-
    return "$rc"
  fi
  if [ -n "$gone" ] && [ "$rc" != 0 ]; then
    exec {rfd}<&-
    echo "$who: stopped: parent process $_DS_PARENT exited (pull exit $rc; $where)" >&2
    return "$rc"
  fi
  if [ "$rc" != 0 ]; then
    local reason
    reason=$(grep -v '^[[:space:]]*$' "/dev/fd/$rfd" 2>/dev/null | tail -n 1)
    reason=${reason#deltaswarm pull: error: }
    if [ -z "$reason" ]; then
      if [ "$rc" -gt 128 ]; then reason="pull killed by signal $((rc - 128))"
      else reason="pull gave no message"; fi
    fi
    exec {rfd}<&-
    case $reason in *"$dest"*) ;; *) where="$where, dest $dest" ;; esac
    ds_failed "$who" "$reason (pull exit $rc; $where)"
    return "$rc"
  fi
  exec {rfd}<&-

  local ver sha files
  ver=$(basename "$(readlink "$dest/current" 2>/dev/null)")
  files=("$dest"/current/*.safetensors)
  [ -e "${files[0]}" ] || files=()
  case ${#files[@]} in
    0) sha=none ;;
    1) sha=$(sha256sum "${files[0]}" | cut -d' ' -f1) ;;
    *) sha=$(cd "$dest/current" && sha256sum -- *.safetensors | sha256sum | cut -d' ' -f1) ;;
  esac
  echo "$who: version ${ver:-unknown} sha256 $sha"
  return 0
}
