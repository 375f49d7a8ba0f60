#!/usr/bin/env bash
# A three-node NATS JetStream cluster on loopback, for the replicated journal
# (docs/REPLICATION.md), its tests and the benchmark.
#
#   scripts/cluster.sh start DIR   writes DIR/n1..n3/nats.conf, starts three nats-server
#                                  (2.9) processes on free 127.0.0.1 ports with JetStream
#                                  (file storage under DIR/nI/jetstream, logs DIR/nI/nats.log,
#                                  pid DIR/nI/nats.pid), waits until the cluster has elected
#                                  a JetStream meta leader, and prints the client URLs on one
#                                  line: nats://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3
#                                  (also in DIR/urls). A second start on a DIR whose nodes
#                                  run prints the URLs again; one whose nodes are stopped
#                                  restarts them on the same ports with their state.
#   scripts/cluster.sh start-node DIR I   starts node I (1-3) again (after a kill).
#   scripts/cluster.sh stop DIR    stops the three (SIGTERM, then SIGKILL after 10 s);
#                                  succeeds when nothing runs. State stays in DIR.
#
# NATS_HOST (default 127.0.0.1): the address the client ports listen on and the URLs name,
# e.g. a bridge address that hosts in other network namespaces reach (scripts/chaos.sh
# --cluster). Routes and monitoring stay on 127.0.0.1. Read when DIR's configs are written.
#
# NATS_GOGC (default 400, a positive integer): the Go garbage collector's GOGC for each
# server (docs/REPLICATION.md §10: with Go's default of 100 the small-heap nodes collected
# 4-30 times a second under a 50,000 orders/s journal; 400 cuts that three- to tenfold and
# cut the standby lag's median threefold in alternating rounds). Read when a server starts;
# NATS_GOGC=100 gives the old behaviour.
#
# Each node: client port, cluster (route) port and monitoring port; max_payload 2 MiB (a
# journal message carries at most 1 MiB of records plus headers, REPLICATION.md §2).
set -euo pipefail

usage() { echo "usage: $0 start|stop DIR | start-node DIR I" >&2; exit 2; }
[[ $# -ge 2 ]] || usage
command -v nats-server >/dev/null || { echo "nats-server not found: run scripts/bootstrap.sh" >&2; exit 1; }
cmd="$1"
dir="$2"
mkdir -p "$dir"
dir="$(cd "$dir" && pwd)"
NATS_HOST="${NATS_HOST:-127.0.0.1}"
NATS_GOGC="${NATS_GOGC:-400}"
[[ "$NATS_GOGC" =~ ^[1-9][0-9]{0,5}$ ]] || { echo "NATS_GOGC must be a positive integer, not $NATS_GOGC" >&2; exit 2; }

free_ports() {
    python3 - "$1" <<'EOF'
import socket, sys
socks = []
for _ in range(int(sys.argv[1])):
    s = socket.socket(); s.bind(("0.0.0.0", 0)); socks.append(s)
print(" ".join(str(s.getsockname()[1]) for s in socks))
EOF
}

running() { [[ -s "$dir/n$1/nats.pid" ]] && kill -0 "$(cat "$dir/n$1/nats.pid")" 2>/dev/null; }

write_configs() {
    read -r -a p <<<"$(free_ports 9)"
    local i routes
    routes="nats-route://127.0.0.1:${p[3]}, nats-route://127.0.0.1:${p[4]}, nats-route://127.0.0.1:${p[5]}"
    for i in 1 2 3; do
        mkdir -p "$dir/n$i/jetstream"
        cat >"$dir/n$i/nats.conf" <<EOF
server_name: n$i
listen: $NATS_HOST:${p[$((i - 1))]}
http: 127.0.0.1:${p[$((i + 5))]}
max_payload: 2MB
jetstream {
    store_dir: "$dir/n$i/jetstream"
    max_memory_store: 64MB
    max_file_store: 8GB
}
cluster {
    name: sealstream
    listen: 127.0.0.1:${p[$((i + 2))]}
    routes: [$routes]
}
EOF
    done
    echo "nats://$NATS_HOST:${p[0]},$NATS_HOST:${p[1]},$NATS_HOST:${p[2]}" >"$dir/urls"
    echo "${p[6]} ${p[7]} ${p[8]}" >"$dir/http-ports"
}

start_node() {
    local i="$1"
    running "$i" && return 0
    # The server keeps none of this script's descriptors above 2: a caller waiting for the
    # script's output or exit (a test harness) must not wait for the server too.
    (
        for fd in /proc/$BASHPID/fd/*; do
            n="${fd##*/}"
            if ((n > 2)); then eval "exec $n>&-" 2>/dev/null || true; fi
        done
        GOGC="$NATS_GOGC" exec nats-server -c "$dir/n$i/nats.conf" -l "$dir/n$i/nats.log" -P "$dir/n$i/nats.pid"
    ) </dev/null >/dev/null 2>&1 &
    for _ in $(seq 1 100); do
        [[ -s "$dir/n$i/nats.pid" ]] && return 0
        sleep 0.05
    done
    echo "node n$i did not start; see $dir/n$i/nats.log" >&2
    return 1
}

# The cluster is ready when every node's /jsz names the same meta leader.
wait_leader() {
    local ports leader
    read -r -a ports <<<"$(cat "$dir/http-ports")"
    for _ in $(seq 1 300); do
        leader=""
        local ok=1 port l
        for port in "${ports[@]}"; do
            l=$(curl -fsS "http://127.0.0.1:$port/jsz" 2>/dev/null \
                | python3 -c 'import json,sys; print(json.load(sys.stdin).get("meta_cluster",{}).get("leader",""))' \
                2>/dev/null || true)
            if [[ -z "$l" || ( -n "$leader" && "$l" != "$leader" ) ]]; then ok=0; break; fi
            leader="$l"
        done
        if ((ok)); then return 0; fi
        sleep 0.1
    done
    echo "the cluster elected no JetStream meta leader within 30 s; logs in $dir/n*/nats.log" >&2
    return 1
}

case "$cmd" in
start)
    [[ -s "$dir/urls" ]] || write_configs
    for i in 1 2 3; do start_node "$i"; done
    wait_leader
    cat "$dir/urls"
    ;;
start-node)
    [[ $# -eq 3 && "$3" =~ ^[123]$ ]] || usage
    start_node "$3"
    ;;
stop)
    for i in 1 2 3; do
        if running "$i"; then kill -TERM "$(cat "$dir/n$i/nats.pid")"; fi
    done
    for i in 1 2 3; do
        for _ in $(seq 1 100); do running "$i" || break; sleep 0.1; done
        if running "$i"; then kill -KILL "$(cat "$dir/n$i/nats.pid")"; fi
        rm -f "$dir/n$i/nats.pid"
    done
    ;;
*) usage ;;
esac
