#!/usr/bin/env bash
# "Machines" for the failover tests: network namespaces joined by a bridge, so that a
# host can be partitioned from the NATS cluster and from its clients by taking its link
# down, as a real network partition does (docs/REPLICATION.md §12).
#
#   scripts/machines.sh up N      creates the bridge ssbr0 (10.77.0.1/24, in this namespace)
#                                 and namespaces ss-m1 … ss-mN, machine I at 10.77.0.(10+I)
#                                 on the bridge (veth ss-mIr here, eth0 there), loopback up.
#                                 Exit 3 when this kernel or container allows no network
#                                 namespaces (callers then fall back to loopback ports).
#   scripts/machines.sh down      removes every ss-m* namespace, its veth and the bridge.
#   scripts/machines.sh cut I     takes machine I's link down: nothing reaches it or leaves it.
#   scripts/machines.sh heal I    brings it back up.
#   scripts/machines.sh addr I    prints machine I's address.
#   scripts/machines.sh exec I CMD...   runs CMD inside machine I's namespace.
#
# Everything stays on this machine: the bridge has no uplink and the addresses are private.
# Needs root (CAP_NET_ADMIN) and iproute2.
set -euo pipefail

BRIDGE=ssbr0
usage() { echo "usage: $0 up N | down | cut I | heal I | addr I | exec I CMD..." >&2; exit 2; }
[[ $# -ge 1 ]] || usage
addr() { echo "10.77.0.$((10 + $1))"; }

down() {
    local ns
    for ns in $(ip netns list 2>/dev/null | awk '{print $1}' | grep '^ss-m[0-9]*$' || true); do
        ip link del "${ns}r" 2>/dev/null || true
        ip netns del "$ns" 2>/dev/null || true
    done
    ip link del "$BRIDGE" 2>/dev/null || true
}

case "$1" in
up)
    [[ $# -eq 2 && "$2" =~ ^[1-9]$ ]] || usage
    command -v ip >/dev/null || { echo "iproute2 is missing" >&2; exit 3; }
    down
    if ! ip netns add ss-probe 2>/dev/null; then
        echo "network namespaces are not available here" >&2
        exit 3
    fi
    ip netns del ss-probe
    ip link add "$BRIDGE" type bridge
    ip addr add 10.77.0.1/24 dev "$BRIDGE"
    ip link set "$BRIDGE" up
    for i in $(seq 1 "$2"); do
        ns="ss-m$i"
        ip netns add "$ns"
        ip link add "${ns}r" type veth peer name "${ns}p"
        ip link set "${ns}r" master "$BRIDGE"
        ip link set "${ns}r" up
        ip link set "${ns}p" netns "$ns"
        ip -n "$ns" link set "${ns}p" name eth0
        ip -n "$ns" addr add "$(addr "$i")/24" dev eth0
        ip -n "$ns" link set eth0 up
        ip -n "$ns" link set lo up
    done
    ;;
down) down ;;
cut)
    [[ $# -eq 2 ]] || usage
    ip link set "ss-m$2r" down
    ;;
heal)
    [[ $# -eq 2 ]] || usage
    ip link set "ss-m$2r" up
    ;;
addr)
    [[ $# -eq 2 ]] || usage
    addr "$2"
    ;;
exec)
    [[ $# -ge 3 ]] || usage
    i="$2"
    shift 2
    exec ip netns exec "ss-m$i" "$@"
    ;;
*) usage ;;
esac
