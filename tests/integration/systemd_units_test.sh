#!/usr/bin/env bash
# configs/systemd/*.service under `systemd-analyze verify`: each unit copied
# to a temporary directory with ExecStart pointing at the built binary (verify
# needs the executable to exist), then checked; any warning it prints fails
# the test. Also: every unit runs Type=notify as the deltaswarm user, restarts
# on failure and keeps its state in /var/lib/deltaswarm. Fails, not skips,
# without systemd-analyze (Debian package systemd).
set -euo pipefail
binary=$1
units_dir=$2
command -v systemd-analyze >/dev/null || { echo "systemd_units_test: systemd-analyze missing: apt-get install systemd" >&2; exit 1; }
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
status=0
for unit in "$units_dir"/*.service; do
  name=$(basename "$unit")
  sed "s|^ExecStart=/usr/local/bin/deltaswarm |ExecStart=$binary |" "$unit" > "$tmp/$name"
  grep -q "^ExecStart=$binary " "$tmp/$name" || { echo "$name: ExecStart is not /usr/local/bin/deltaswarm ..." >&2; status=1; }
  for want in Type=notify User=deltaswarm Restart=on-failure StateDirectory=deltaswarm ProtectSystem=strict \
      ReadWritePaths=/var/lib/deltaswarm NoNewPrivileges=yes PrivateTmp=yes; do
    grep -qx "$want" "$unit" || { echo "$name: no line $want" >&2; status=1; }
  done
  role=${name#deltaswarm-}; role=${role%.service}
  grep -q -- "--config /etc/deltaswarm/$role.yaml" "$unit" || { echo "$name: not configured from /etc/deltaswarm/$role.yaml" >&2; status=1; }
  out=$(systemd-analyze verify --man=no "$tmp/$name" 2>&1) || { echo "$name: systemd-analyze verify failed:" >&2; echo "$out" >&2; status=1; continue; }
  # verify exits 0 on some problems it only warns about: those fail here.
  if [ -n "$(echo "$out" | grep -v '^$' | grep -iv 'failed to .* cgroup\|No such file or directory.*/proc' || true)" ]; then
    echo "$name: systemd-analyze verify said:" >&2; echo "$out" >&2; status=1
  else
    echo "$name: ok"
  fi
done
exit $status
