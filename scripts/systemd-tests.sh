#!/usr/bin/env bash
# The systemd unit under a real systemd (docs/OPERATIONS.md §6, README "Running it as a
# service"): a Debian 12 root made with debootstrap boots with its own systemd as PID 1
# under systemd-nspawn; deploy/systemd/sealstream-host.service is installed there
# verbatim, as the README says, with one drop-in that changes only ExecStart (the
# attestation mode and the listen addresses: no hardware TPM here). Then, against the unit:
#
#   - `systemctl enable` at boot starts it; /readyz answers; every process of the unit
#     runs as user sealstream with no capabilities, NoNewPrivs and a seccomp filter, and
#     the worker is in its own network namespace (RestrictNamespaces=user net lets it);
#   - the state directory is /var/lib/sealstream, 0700, owned by sealstream;
#   - evidence and a liquidation drill from outside the container;
#   - kill -9 of the worker: the host restarts it, systemd does not (NRestarts 0);
#   - kill -9 of the host: systemd restarts it (Restart=on-failure, NRestarts 1), the
#     same enclave identity comes back (DATA/enclave-storage.key), and the demo scenario
#     trades on;
#   - systemctl stop: SIGTERM, drain, exit status 0, Result=success, within
#     TimeoutStopSec;
#   - verify-outputs over the state directory: one chain, no new epoch.
#
# Usage: scripts/systemd-tests.sh [BIN_DIR]   (default: the debug build). Needs root,
# systemd-nspawn (systemd-container), debootstrap and nsenter (scripts/bootstrap.sh).
# Downloads about 60 MB of Debian packages the first time (the root is kept in
# WORK/base). Environment: SYSTEMD_WORK (default /var/tmp/sealstream-systemd).
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-$(swift build --show-bin-path)}"
WORK="${SYSTEMD_WORK:-/var/tmp/sealstream-systemd}"
BASE="$WORK/base"
ROOT="$WORK/root"
UNIT=sealstream-host.service
PACKAGES=systemd,systemd-sysv,dbus,procps,libsodium23,libsecp256k1-1,libssl3,libnats3.4,libstdc++6
PACKAGES+=,libtss2-esys-3.0.2-0,libtss2-mu0,libtss2-rc0,libtss2-sys1,libtss2-tctildr0,libtss2-tcti-device0
PACKAGES+=,libtss2-tcti-swtpm0
for tool in systemd-nspawn debootstrap nsenter curl; do
    command -v "$tool" >/dev/null || { echo "systemd-tests: $tool missing (scripts/bootstrap.sh)" >&2; exit 1; }
done
say() { echo "systemd-tests: $*"; }
fail() { echo "systemd-tests: FAIL: $*" >&2; exit 1; }

NSPAWN_PID=""
LEADER=""
cleanup() {
    if [[ -n "$NSPAWN_PID" ]] && kill -0 "$NSPAWN_PID" 2>/dev/null; then
        kill -TERM "$NSPAWN_PID" 2>/dev/null || true   # nspawn asks the container's systemd to halt
        for _ in $(seq 100); do kill -0 "$NSPAWN_PID" 2>/dev/null || break; sleep 0.1; done
        kill -KILL "$NSPAWN_PID" 2>/dev/null || true
    fi
}
trap 'cleanup; scripts/swtpm.sh stop "$WORK/tpm" >/dev/null 2>&1 || true' EXIT

mkdir -p "$WORK"
if [[ ! -x "$BASE/usr/bin/systemctl" ]]; then
    say "making the Debian 12 root (debootstrap, once)"
    rm -rf "$BASE.tmp"
    debootstrap --variant=minbase --include="$PACKAGES" bookworm "$BASE.tmp" http://deb.debian.org/debian \
        >"$WORK/debootstrap.log" 2>&1 || { tail -20 "$WORK/debootstrap.log"; fail "debootstrap"; }
    mv "$BASE.tmp" "$BASE"
fi
rm -rf "$ROOT"
cp -a "$BASE" "$ROOT"

# Installed as the README's "Running it as a service" says, from the same binaries.
deploy/container/stage.sh "$BIN" "$WORK/context" >/dev/null
install -m 0755 "$WORK/context/bin/"* "$ROOT/usr/local/bin/"
install -d "$ROOT/usr/local/lib/sealstream-swift"
install -m 0644 "$WORK/context/swift-lib/"* "$ROOT/usr/local/lib/sealstream-swift/"
echo /usr/local/lib/sealstream-swift >"$ROOT/etc/ld.so.conf.d/sealstream-swift.conf"
chroot "$ROOT" ldconfig
chroot "$ROOT" sh -c 'getent group tss >/dev/null || groupadd --system tss'
chroot "$ROOT" useradd --system --user-group --no-create-home --shell /usr/sbin/nologin sealstream
install -d -m 0755 "$ROOT/etc/sealstream"
install -m 0644 scripts/demo/venue.json "$ROOT/etc/sealstream/venue.json"
install -m 0644 deploy/systemd/$UNIT "$ROOT/etc/systemd/system/"
# systemctl enable, done by hand (the unit's WantedBy=multi-user.target).
ln -s "/etc/systemd/system/$UNIT" "$ROOT/etc/systemd/system/multi-user.target.wants/$UNIT"
SEALSTREAM_UID="$(chroot "$ROOT" id -u sealstream)"

ct() { nsenter -t "$LEADER" -m -u -i -p -- "$@"; }
prop() { ct systemctl show -P "$1" "$UNIT"; }
wait_ready() {
    for _ in $(seq 240); do curl -sf "127.0.0.1:$HTTP/readyz" >/dev/null && return 0; sleep 0.25; done
    return 1
}

# run_mode software|swtpm: boots the root with the unit enabled and checks it (above).
run_mode() {
    local mode=$1
    read -r PORT HTTP < <(python3 -c '
import socket
s = [socket.socket() for _ in range(2)]
for x in s: x.bind(("127.0.0.1", 0))
print(*[x.getsockname()[1] for x in s])')
    # The one change: no hardware TPM in this container, so `software` (SIMULATED), or a
    # swtpm on the host whose socket is bound into the container (`swtpm`: the storage key
    # is sealed to it); and listeners on free loopback ports of the shared network.
    local attest="--attestation software" bind=()
    if [[ $mode == swtpm ]]; then
        scripts/swtpm.sh stop "$WORK/tpm" >/dev/null 2>&1 || true
        rm -rf "$WORK/tpm"
        SWTPM_TRANSPORT=unix scripts/swtpm.sh start "$WORK/tpm" >/dev/null
        chown "$SEALSTREAM_UID" "$WORK/tpm/swtpm.sock" "$WORK/tpm/swtpm.sock.ctrl"
        bind=(--bind="$WORK/tpm/swtpm.sock:/run/swtpm/swtpm.sock" --bind="$WORK/tpm/swtpm.sock.ctrl:/run/swtpm/swtpm.sock.ctrl")
        attest="--attestation swtpm --tcti swtpm:path=/run/swtpm/swtpm.sock"
    fi
    rm -rf "$ROOT/var/lib/sealstream"
    install -d "$ROOT/etc/systemd/system/$UNIT.d"
    cat >"$ROOT/etc/systemd/system/$UNIT.d/test.conf" <<EOF
[Service]
ExecStart=
ExecStart=/usr/local/bin/sealstream-host run --data-dir \${STATE_DIRECTORY} \\
    --config \${CONFIGURATION_DIRECTORY}/venue.json --enclave /usr/local/bin/sealstream-enclave \\
    $attest --listen 127.0.0.1:$PORT --http 127.0.0.1:$HTTP
EOF

    say "$mode: booting the root under systemd-nspawn (its systemd as PID 1), host on 127.0.0.1:$PORT"
    systemd-nspawn --quiet --register=no --keep-unit --console=pipe "${bind[@]}" -D "$ROOT" -b \
        >"$WORK/boot-$mode.log" 2>&1 &
    NSPAWN_PID=$!
    LEADER=""
    for _ in $(seq 100); do
        for child in $(pgrep -P "$NSPAWN_PID" || true); do
            [[ "$(cat "/proc/$child/comm" 2>/dev/null)" == systemd ]] && LEADER=$child
        done
        [[ -n "$LEADER" ]] && break
        sleep 0.1
    done
    [[ -n "$LEADER" ]] || { cat "$WORK/boot-$mode.log"; fail "$mode: no systemd in the container"; }
    wait_ready || { ct journalctl -u "$UNIT" --no-pager | tail -20; fail "$mode: the unit's host never became ready"; }
    [[ "$(prop ActiveState)" == active ]] || fail "$mode: unit not active: $(prop ActiveState)/$(prop SubState)"

    # Who runs and with what: every process of the unit's cgroup.
    local pids host_pid pid status comm
    pids="$(ct sh -c "cat /sys/fs/cgroup/system.slice/$UNIT/cgroup.procs 2>/dev/null \
        || cat /sys/fs/cgroup/systemd/system.slice/$UNIT/cgroup.procs")"
    [[ $(echo "$pids" | wc -w) -ge 2 ]] || fail "$mode: expected the host and its worker in the unit's cgroup: $pids"
    host_pid="$(prop MainPID)"
    for pid in $pids; do
        status="$(ct cat "/proc/$pid/status")"
        comm="$(ct cat "/proc/$pid/comm")"
        grep -qE "^Uid:\s+$SEALSTREAM_UID\s+$SEALSTREAM_UID\s+$SEALSTREAM_UID\s+$SEALSTREAM_UID$" <<<"$status" \
            || fail "$mode: $comm ($pid) does not run as sealstream"
        grep -qE '^NoNewPrivs:\s+1$' <<<"$status" || fail "$mode: $comm ($pid): NoNewPrivs is not set"
        grep -qE '^Seccomp:\s+2$' <<<"$status" || fail "$mode: $comm ($pid): no seccomp filter"
        # The worker's own user namespace would grant it every capability there: it drops them.
        grep -qE '^CapEff:\s+0+$' <<<"$status" || fail "$mode: $comm ($pid) has capabilities"
        grep -qE '^CapBnd:\s+0+$' <<<"$status" || fail "$mode: $comm ($pid): bounding set not empty"
        if [[ "$pid" != "$host_pid" ]]; then
            [[ "$(ct readlink "/proc/$pid/ns/net")" != "$(ct readlink "/proc/$host_pid/ns/net")" ]] \
                || fail "$mode: the worker ($pid) shares the host's network namespace"
        fi
    done
    say "$mode: host and worker run as sealstream (uid $SEALSTREAM_UID), no capabilities, NoNewPrivs, seccomp; worker in its own network namespace"
    [[ "$(ct stat -c '%a %U' /var/lib/sealstream)" == "700 sealstream" ]] \
        || fail "$mode: state directory: $(ct stat -c '%a %U' /var/lib/sealstream)"

    "$BIN/sealstream-client" evidence --host "127.0.0.1:$PORT" --out "$WORK/evidence-$mode-1.json" >/dev/null
    "$BIN/sealstream-client" drill --host "127.0.0.1:$PORT" --traders 50 --no-attestation >"$WORK/drill-$mode.json" \
        || fail "$mode: drill through the unit"
    grep -q '"filled":50' "$WORK/drill-$mode.json" || fail "$mode: drill: $(cat "$WORK/drill-$mode.json")"

    say "$mode: kill -9 of the worker: the host restarts it, systemd does not"
    local worker_pid
    worker_pid="$(echo "$pids" | tr ' ' '\n' | grep -vx "$host_pid" | head -1)"
    ct kill -9 "$worker_pid"
    sleep 1
    wait_ready || fail "$mode: not ready after the worker was killed"
    [[ "$(prop MainPID)" == "$host_pid" && "$(prop NRestarts)" == 0 ]] \
        || fail "$mode: systemd restarted the host for a worker crash (NRestarts $(prop NRestarts))"

    say "$mode: kill -9 of the host: systemd restarts it (Restart=on-failure)"
    ct kill -9 "$host_pid"
    for _ in $(seq 120); do
        [[ "$(prop NRestarts)" == 1 && "$(prop ActiveState)" == active ]] && break
        sleep 0.25
    done
    [[ "$(prop NRestarts)" == 1 ]] || fail "$mode: NRestarts $(prop NRestarts) after the host was killed"
    [[ "$(prop MainPID)" != "$host_pid" ]] || fail "$mode: same MainPID after a restart"
    wait_ready || fail "$mode: not ready after systemd restarted the host"
    "$BIN/sealstream-client" evidence --host "127.0.0.1:$PORT" --out "$WORK/evidence-$mode-2.json" >/dev/null
    python3 - "$WORK/evidence-$mode-1.json" "$WORK/evidence-$mode-2.json" <<'PY' \
        || fail "$mode: another enclave identity after the restart"
import json, sys
a, b = (json.load(open(p)) for p in sys.argv[1:])
for k in ("signer", "enclaveKey", "measurement", "configHash", "mode"):
    assert a[k] == b[k], k
PY
    # The drill needs a fresh venue; the demo scenario (other accounts) trades on after it.
    "$BIN/sealstream-client" scenario scripts/demo/scenario.txt --host "127.0.0.1:$PORT" \
        --venue scripts/demo/venue.json --no-attestation --json >"$WORK/scenario-$mode.json" \
        2>"$WORK/scenario-$mode.log" || { tail -5 "$WORK/scenario-$mode.log"; fail "$mode: the demo scenario after the restart"; }

    say "$mode: systemctl stop: SIGTERM, drain, exit 0"
    local t0 stop_s
    t0=$(date +%s.%N)
    ct systemctl stop "$UNIT"
    stop_s=$(python3 -c "import time; print(round(time.time() - $t0, 2))")
    [[ "$(prop ActiveState)" == inactive ]] || fail "$mode: not inactive after stop: $(prop ActiveState)"
    [[ "$(prop Result)" == success ]] || fail "$mode: Result=$(prop Result) after stop"
    [[ "$(prop ExecMainStatus)" == 0 ]] || fail "$mode: exit status $(prop ExecMainStatus) after SIGTERM"
    ct journalctl -u "$UNIT" --no-pager -o cat >"$WORK/unit-$mode.log"
    grep -q '"event":"shutting down"' "$WORK/unit-$mode.log" || fail "$mode: no shutdown line in the unit's journal"
    grep -q '"event":"enclave stopped","exit":"exited with status 0"' "$WORK/unit-$mode.log" \
        || fail "$mode: the worker did not exit 0 at the stop"

    "$BIN/attestation" verify-outputs --data-dir "$ROOT/var/lib/sealstream" --evidence "$WORK/evidence-$mode-2.json" \
        --config scripts/demo/venue.json >"$WORK/verify-$mode.log" \
        || { tail -20 "$WORK/verify-$mode.log"; fail "$mode: verify-outputs"; }
    [[ ! -e "$ROOT/var/lib/sealstream/outputs/epochs" ]] || fail "$mode: a new epoch started"
    say "$mode: passed (restarts by the host and by systemd, one chain; stop took ${stop_s} s)"
    cleanup
    NSPAWN_PID=""
}

run_mode software
run_mode swtpm
scripts/swtpm.sh stop "$WORK/tpm" >/dev/null 2>&1 || true
say "all passed"
