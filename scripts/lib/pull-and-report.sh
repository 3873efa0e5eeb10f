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

ds_failed() { echo "$1: FAILED: $2" >&2; }

ds_default_binary() {
  local repo
  repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
  if [ -x "$repo/build/deltaswarm" ]; then echo "$repo/build/deltaswarm"; else echo deltaswarm; fi
}

# True while PID runs (a zombie counts as gone).
ds_alive() { [ -r "/proc/$1/stat" ] && [ "$(awk '{ print $3 }' "/proc/$1/stat" 2>/dev/null)" != Z ]; }

ds_pull_and_report() {
  local who=$1 where=$2 dest=$3 errf wfd rfd efd tee pull rc=0 w i
  shift 3
  _ds_sig=

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

  exec {efd}>&- {wfd}>&-
  for ((i = 0; i < 50; i++)); do ds_alive "$tee" || break; sleep 0.1; done
  ds_alive "$tee" && kill -TERM "$tee" 2>/dev/null
  wait "$tee" 2>/dev/null

  if [ -n "$_ds_sig" ] && [ "$rc" != 0 ]; then
    echo "$who: stopped by SIG$_ds_sig (pull exit $rc; $where)" >&2
    exec {rfd}<&-
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
