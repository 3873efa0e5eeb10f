#!/usr/bin/env bash
# netns-lab.sh - a lab of N nodes behind one shaped uplink, on ONE host, with
# Linux network namespaces, veth pairs, a bridge and tc HTB (iproute2 only).
# Every veth is created directly inside the lab namespaces: the root namespace
# gets no interface, so lab traffic has no path off the host.
#
#   [PREFIX-hub]  eth0 NET.0.1/24                 the origin (the bucket lives here)
#        |  veth "uplink": hub->gw shaped to --down, gw->hub shaped to --up
#   [PREFIX-gw]   wan0 NET.0.2/24, br0 NET.1.1/24 (bridge = LAN switch), ip_forward=1
#        |  one veth per node: bridge port pI <-> node eth0, both directions shaped to --lan
#   [PREFIX-n0 .. PREFIX-n{N-1}]  eth0 NET.1.(10+I)/24, default route via NET.1.1
#
# Usage (root):
#   netns-lab.sh setup    [-n NODES] [-p PREFIX] [--down RATE] [--up RATE] [--lan RATE] [--net A.B] [--qlen PKTS]
#   netns-lab.sh teardown [-p PREFIX]          kill what runs inside the lab namespaces, delete them
#   netns-lab.sh status   [-p PREFIX]          namespaces, addresses, HTB counters
#   netns-lab.sh exec     [-p PREFIX] WHO CMD...   WHO = hub | gw | 0..N-1 | nI
# RATE in tc units: 20mbit, 500kbit, 1gbit ("mbps" would be megaBYTES/s); 0|none = unshaped.
# Defaults: -n 8, -p plab, --down 10mbit, --up 10mbit, --lan 1gbit, --net 10.210, --qlen 0 (txqueuelen 1000).
# `setup` refuses a PREFIX whose namespaces exist already (tear it down first) and
# writes $LAB_STATE (default /tmp/netns-lab-PREFIX)/lab.env; `teardown` removes it.
# This kernel has htb/tbf/ingress/ifb but no netem/fq_codel: rates only, no delay or loss.
# Adapted from the project's shared notes (notes/netns-lab.sh); `check` and `rank-exec` dropped.
set -euo pipefail

NODES=${LAB_NODES:-8}
PREFIX=${LAB_PREFIX:-plab}
DOWN=${LAB_DOWN:-10mbit}
UP=${LAB_UP:-10mbit}
LAN=${LAB_LAN:-1gbit}
NET=${LAB_NET:-10.210}
QLEN=${LAB_QLEN:-0}

die() { echo "netns-lab: $*" >&2; exit 1; }
usage() { sed -n '2,24p' "$0" | sed 's/^# \{0,1\}//'; exit "${1:-0}"; }

[ $# -ge 1 ] || usage 1
CMD=$1; shift
while [ $# -gt 0 ]; do
  case $1 in
    -n|--nodes) NODES=$2; shift 2;;
    -p|--prefix) PREFIX=$2; shift 2;;
    --down) DOWN=$2; shift 2;;
    --up) UP=$2; shift 2;;
    --lan) LAN=$2; shift 2;;
    --net) NET=$2; shift 2;;
    --qlen) QLEN=$2; shift 2;;
    -h|--help) usage 0;;
    --) shift; break;;
    *) break;;
  esac
done
[[ $PREFIX =~ ^[A-Za-z][A-Za-z0-9_]{0,19}$ ]] || die "prefix must be 1-20 letters/digits/_ starting with a letter"
STATE=${LAB_STATE:-/tmp/netns-lab-$PREFIX}
HUB=$PREFIX-hub GW=$PREFIX-gw
node_ns() { echo "$PREFIX-n$1"; }
node_ip() { echo "$NET.1.$((10 + $1))"; }
HUB_IP=$NET.0.1 GW_WAN_IP=$NET.0.2 GW_LAN_IP=$NET.1.1

need_root() {
  [ "$(id -u)" = 0 ] || die "must run as root (needs CAP_NET_ADMIN and CAP_SYS_ADMIN)"
  command -v ip >/dev/null && command -v tc >/dev/null || die "iproute2 (ip, tc) not found"
}
ns_exists() { [ -e "/run/netns/$1" ]; }
lab_namespaces() { ip netns list 2>/dev/null | awk '{print $1}' | grep -E "^$PREFIX-(hub|gw|n[0-9]+)\$" || true; }
unshaped() { [ "$1" = 0 ] || [ "$1" = none ] || [ "$1" = unlimited ]; }

# shape NS DEV RATE: one-class HTB on DEV's egress (HTB copes with the 64 KB GSO
# packets veth hands it; TBF would need burst >= packet size).
shape() {
  local ns=$1 dev=$2 rate=$3
  unshaped "$rate" && return 0
  ip netns exec "$ns" tc qdisc add dev "$dev" root handle 1: htb default 1
  ip netns exec "$ns" tc class add dev "$dev" parent 1: classid 1:1 htb rate "$rate" ceil "$rate" quantum 60000
  if [ "$QLEN" != 0 ]; then ip netns exec "$ns" tc qdisc add dev "$dev" parent 1:1 handle 10: pfifo limit "$QLEN"; fi
}

# ns_init NS: a namespace with lo up and IPv6 off (keeps it quiet and IPv4-only).
ns_init() {
  ip netns add "$1"
  ip -n "$1" link set lo up
  ip netns exec "$1" sysctl -qw net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1 2>/dev/null || true
}

# Kills whatever still runs inside the lab (TERM, then KILL), deletes the namespaces.
do_teardown() {
  need_root
  local ns pids any=0 i
  for ns in $(lab_namespaces); do
    any=1
    pids=$(ip netns pids "$ns" 2>/dev/null || true)
    # shellcheck disable=SC2086  # one word per PID
    if [ -n "$pids" ]; then kill $pids 2>/dev/null || true; fi
  done
  if [ $any = 1 ]; then
    # up to 2 s for a clean exit, then KILL
    for ((i = 0; i < 20; i++)); do
      pids=$(for ns in $(lab_namespaces); do ip netns pids "$ns" 2>/dev/null || true; done)
      [ -z "$pids" ] && break
      sleep 0.1
    done
    for ns in $(lab_namespaces); do
      pids=$(ip netns pids "$ns" 2>/dev/null || true)
      # shellcheck disable=SC2086  # one word per PID
      if [ -n "$pids" ]; then kill -9 $pids 2>/dev/null || true; fi
      ip netns del "$ns" 2>/dev/null || true
    done
  fi
  rm -rf "$STATE"
}

do_setup() {
  need_root
  [[ $NODES =~ ^[0-9]+$ ]] && [ "$NODES" -ge 1 ] && [ "$NODES" -le 240 ] || die "nodes must be 1..240"
  [ -z "$(lab_namespaces)" ] || die "lab '$PREFIX' exists already (netns-lab.sh teardown -p $PREFIX removes it)"
  trap 'echo "netns-lab: setup failed, cleaning up" >&2; do_teardown' ERR
  ns_init "$HUB"; ns_init "$GW"
  # the uplink hub<->gw, created inside the namespaces (nothing in the root namespace)
  ip -n "$HUB" link add eth0 type veth peer name wan0 netns "$GW"
  ip -n "$HUB" addr add "$HUB_IP/24" dev eth0; ip -n "$HUB" link set eth0 up
  ip -n "$GW" addr add "$GW_WAN_IP/24" dev wan0; ip -n "$GW" link set wan0 up
  ip -n "$HUB" route add "$NET.1.0/24" via "$GW_WAN_IP"
  ip netns exec "$GW" sysctl -qw net.ipv4.ip_forward=1
  ip -n "$GW" link add br0 type bridge
  ip -n "$GW" addr add "$GW_LAN_IP/24" dev br0; ip -n "$GW" link set br0 up
  ip -n "$GW" route add default via "$HUB_IP"
  shape "$HUB" eth0 "$DOWN"   # hub -> lab: the lab's download over the shared uplink
  shape "$GW" wan0 "$UP"      # lab -> hub: the lab's upload
  local i ns
  for ((i = 0; i < NODES; i++)); do
    ns=$(node_ns $i)
    ns_init "$ns"
    ip -n "$GW" link add "p$i" type veth peer name eth0 netns "$ns"
    ip -n "$GW" link set "p$i" master br0 up
    ip -n "$ns" addr add "$(node_ip $i)/24" dev eth0
    ip -n "$ns" link set eth0 up
    ip -n "$ns" route add default via "$GW_LAN_IP"
    shape "$GW" "p$i" "$LAN"  # LAN -> node i (its download)
    shape "$ns" eth0 "$LAN"   # node i -> LAN (its upload)
  done
  trap - ERR
  mkdir -p "$STATE"
  {
    echo "LAB_PREFIX=$PREFIX"; echo "LAB_NODES=$NODES"
    echo "LAB_DOWN=$DOWN"; echo "LAB_UP=$UP"; echo "LAB_LAN=$LAN"
    echo "LAB_HUB_NS=$HUB"; echo "LAB_GW_NS=$GW"; echo "LAB_HUB_IP=$HUB_IP"; echo "LAB_GW_IP=$GW_LAN_IP"
    printf 'LAB_NODE_IPS="'; for ((i = 0; i < NODES; i++)); do printf '%s%s' "$([ $i = 0 ] || echo ' ')" "$(node_ip $i)"; done; echo '"'
  } > "$STATE/lab.env"
  echo "netns-lab: '$PREFIX' up: hub $HUB_IP, gw $GW_LAN_IP, $NODES nodes $(node_ip 0)..$(node_ip $((NODES - 1))); down=$DOWN up=$UP lan=$LAN"
}

do_status() {
  local ns
  for ns in $(lab_namespaces); do
    echo "== $ns: $(ip -n "$ns" -4 -o addr show | awk '$2 != "lo" {printf "%s=%s ", $2, $4}')"
    ip netns exec "$ns" tc -s qdisc show 2>/dev/null | grep -A2 '^qdisc htb' | sed 's/^/   /' || true
  done
}

resolve_ns() {
  case $1 in hub) echo "$HUB";; gw) echo "$GW";; n[0-9]*) echo "$PREFIX-$1";; [0-9]*) node_ns "$1";; *) die "unknown node '$1'";; esac
}

do_exec() {
  [ $# -ge 2 ] || die "usage: exec WHO CMD..."
  local ns; ns=$(resolve_ns "$1"); shift
  ns_exists "$ns" || die "namespace $ns does not exist (run setup)"
  exec ip netns exec "$ns" "$@"
}

case $CMD in
  setup) do_setup;;
  teardown|down) do_teardown;;
  status) do_status;;
  exec) do_exec "$@";;
  -h|--help|help) usage 0;;
  *) usage 1;;
esac
