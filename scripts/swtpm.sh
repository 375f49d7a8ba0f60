#!/usr/bin/env bash
# A provisioned software TPM 2.0 (swtpm) for tests and the demo.
#
#   scripts/swtpm.sh start DIR   provisions DIR/state (first start only), starts swtpm on
#                                free localhost ports and prints one line of JSON:
#     {"tcti":"swtpm:host=127.0.0.1,port=P","port":P,"ctrlPort":P+1,"pid":N,
#      "state":"DIR/state","ekRoot":"DIR/ca/swtpm-localca-rootca-cert.pem",
#      "ekIssuer":"DIR/ca/issuercert.pem","ekRoots":"DIR/ca/ek-roots.pem","log":"DIR/swtpm.log"}
#   scripts/swtpm.sh stop DIR    stops it; succeeds (silently) when nothing is running.
#   scripts/swtpm.sh provision DIR  provisions DIR/state and DIR/ca (first time only) and
#                                starts nothing: for a swtpm that qemu drives
#                                (scripts/boot-image.sh), which must be powered on by the
#                                firmware, not started here.
#
# SWTPM_TRANSPORT=unix serves the TPM on Unix sockets DIR/swtpm.sock and
# DIR/swtpm.sock.ctrl instead (the swtpm TCTI derives the control path from the data path);
# the JSON then has "tcti":"swtpm:path=DIR/swtpm.sock" and "socket" instead of the ports.
# The enclave needs this one: the swtpm TCTI connects once per command, and a process in a
# private network namespace (the hardened enclave) cannot reach 127.0.0.1 of the host,
# while a Unix socket path works from any network namespace.
#
# Provisioning: swtpm_setup --tpm2 --create-ek-cert --create-platform-cert with a
# swtpm_setup.conf and swtpm-localca.conf written under DIR, so the throwaway CA (root key
# and certificate, intermediate signing key and issuer certificate) lives in DIR/ca and
# never in /var/lib/swtpm-localca. swtpm 0.7 provisions an RSA 2048 EK (certificate at NV
# 0x01c00002) and an ECC NIST P-384 EK (TCG high-range template H-3, certificate at NV
# 0x01c00016). The EK certificates are signed by the intermediate ("ekIssuer"), which is
# signed by the self-signed root ("ekRoot"); a verifier trusts ekRoot and takes ekIssuer as
# an intermediate. DIR/ca/ek-roots.pem holds both, for tools that want one file.
#
# swtpm serves one client connection at a time: whoever uses the TCTI must be its only
# client while connected. The TPM listens on 127.0.0.1 only.
set -euo pipefail

readonly HOST=127.0.0.1
readonly PORT_MIN=20000
readonly PORT_MAX=60000
readonly PORT_ATTEMPTS=20
readonly READY_TIMEOUT_TENTHS=100 # 10 s
readonly STOP_TIMEOUT_TENTHS=50   # 5 s

die() {
    echo "swtpm.sh: $*" >&2
    exit 1
}

usage() {
    echo "usage: $0 start DIR | stop DIR | provision DIR" >&2
    exit 2
}

need() {
    command -v "$1" >/dev/null 2>&1 ||
        die "$1 not found; install it with: apt-get install $2 (or run scripts/bootstrap.sh)"
}

# json_string S: S as a JSON string literal (escapes backslash and double quote; the
# paths this script prints contain no control characters).
json_string() {
    local s=${1//\\/\\\\}
    s=${s//\"/\\\"}
    printf '"%s"' "$s"
}

# port_in_use P: true when some socket listens on TCP port P (any address). Reads
# /proc/net rather than connecting, so another swtpm's single client slot is never poked.
port_in_use() {
    local hex
    hex=$(printf '%04X' "$1")
    awk -v port=":$hex" '$2 ~ port "$" && $4 == "0A" { found = 1 } END { exit !found }' \
        /proc/net/tcp /proc/net/tcp6 2>/dev/null
}

# alive PID: true while PID runs. A zombie counts as gone: here a daemon's parent is
# init, which may reap it seconds later.
alive() {
    local state
    state=$(awk '/^State:/ {print $2}' "/proc/$1/status" 2>/dev/null) || return 1
    [[ -n "$state" && "$state" != Z && "$state" != X ]]
}

# running_pid DIR: prints the pid of the swtpm serving DIR/state, if one is running.
running_pid() {
    local dir=$1 pid
    [[ -s "$dir/swtpm.pid" ]] || return 1
    pid=$(<"$dir/swtpm.pid")
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    [[ -r "/proc/$pid/cmdline" ]] || return 1
    # Only a swtpm whose command line names this state directory counts: a stale pid file
    # must never make us signal an unrelated process that reused the pid.
    local cmdline
    cmdline=$(tr '\0' ' ' <"/proc/$pid/cmdline")
    [[ "$cmdline" == *"swtpm socket "* && "$cmdline" == *" dir=$dir/state "* ]] || return 1
    echo "$pid"
}

# detached CMD...: runs CMD with an empty signal mask and no descriptors above 2 (perl-base
# is Essential in Debian). The swtpm daemon inherits both from us: some callers block
# SIGTERM (Foundation's Process under swift-testing does), which would make it deaf to
# SIGTERM, and an inherited pipe would keep a caller that reads our output to EOF waiting
# for swtpm to exit. Our lock (fd 9) must not outlive this script either.
detached() {
    perl -MPOSIX -e '
        sigprocmask(SIG_SETMASK, POSIX::SigSet->new) or die "sigprocmask: $!\n";
        opendir(my $d, "/proc/self/fd") or die "/proc/self/fd: $!\n";
        my @fds = grep { /^\d+$/ && $_ > 2 } readdir($d);
        closedir($d);
        POSIX::close($_) for @fds;
        exec { $ARGV[0] } @ARGV or die "exec $ARGV[0]: $!\n";' "$@"
}

write_config() {
    local dir=$1
    mkdir -p "$dir/state" "$dir/ca"
    chmod 700 "$dir" "$dir/ca"
    cat >"$dir/swtpm_setup.conf" <<EOF
# Written by scripts/swtpm.sh: a throwaway CA under this directory.
create_certs_tool = /usr/bin/swtpm_localca
create_certs_tool_config = $dir/swtpm-localca.conf
create_certs_tool_options = $dir/swtpm-localca.options
active_pcr_banks = sha256
EOF
    cat >"$dir/swtpm-localca.conf" <<EOF
# Written by scripts/swtpm.sh. swtpm_localca creates the root CA
# (swtpm-localca-rootca-{privkey,cert}.pem) and the signing key and issuer
# certificate below on first use.
statedir = $dir/ca
signingkey = $dir/ca/signkey.pem
issuercert = $dir/ca/issuercert.pem
certserial = $dir/ca/certserial
EOF
    cat >"$dir/swtpm-localca.options" <<EOF
--platform-manufacturer Sealstream
--platform-version 2.1
--platform-model swtpm
EOF
}

provision() {
    local dir=$1
    write_config "$dir"
    mkdir -p "$dir/ek"
    : >"$dir/swtpm_setup.log"
    if ! swtpm_setup --tpm2 --tpmstate "$dir/state" \
        --create-ek-cert --create-platform-cert \
        --config "$dir/swtpm_setup.conf" --pcr-banks sha256 \
        --write-ek-cert-files "$dir/ek" \
        --logfile "$dir/swtpm_setup.log" --not-overwrite >/dev/null 2>&1 9>&-; then
        echo "swtpm.sh: swtpm_setup failed; its log ($dir/swtpm_setup.log):" >&2
        tail -n 30 "$dir/swtpm_setup.log" >&2 || true
        exit 1
    fi
    local root="$dir/ca/swtpm-localca-rootca-cert.pem" issuer="$dir/ca/issuercert.pem"
    [[ -s "$root" && -s "$issuer" ]] ||
        die "swtpm_setup did not create the local CA in $dir/ca (see $dir/swtpm_setup.log)"
    cat "$root" "$issuer" >"$dir/ca/ek-roots.pem"
}

# wait_ready TCTI PID LOG: polls until the TPM answers a command.
wait_ready() {
    local tcti=$1 pid=$2 log=$3 i
    for ((i = 0; i < READY_TIMEOUT_TENTHS; i++)); do
        alive "$pid" || {
            echo "swtpm.sh: swtpm (pid $pid) exited during start; its log:" >&2
            tail -n 20 "$log" >&2 || true
            return 1
        }
        if tpm2_getcap -T "$tcti" properties-fixed >/dev/null 2>&1; then
            return 0
        fi
        sleep 0.1
    done
    echo "swtpm.sh: swtpm (pid $pid) did not answer on $tcti within 10 s" >&2
    return 1
}

start() {
    local dir=$1
    case "${SWTPM_TRANSPORT:-tcp}" in
    tcp | unix) ;;
    *) die "SWTPM_TRANSPORT must be tcp or unix, not '$SWTPM_TRANSPORT'" ;;
    esac
    need swtpm swtpm
    need swtpm_setup swtpm-tools
    need swtpm_localca swtpm-tools
    need tpm2_getcap tpm2-tools
    need perl perl-base
    mkdir -p "$dir"
    dir=$(cd "$dir" && pwd -P)

    exec 9>"$dir/.swtpm.lock"
    flock -w 30 9 || die "another swtpm.sh is working on $dir"

    local pid
    if pid=$(running_pid "$dir"); then
        die "swtpm is already running for $dir (pid $pid); run: $0 stop $dir"
    fi
    rm -f "$dir/swtpm.pid"

    if [[ ! -s "$dir/state/tpm2-00.permall" ]]; then
        provision "$dir"
    fi

    local log="$dir/swtpm.log"
    if [[ "${SWTPM_TRANSPORT:-tcp}" == unix ]]; then
        start_unix "$dir" "$log"
    else
        start_tcp "$dir" "$log"
    fi
}

# started DIR LOG TCTI JSON_FIELDS: waits for the pid file and for the TPM to answer, then
# prints the JSON line.
started() {
    local dir=$1 log=$2 tcti=$3 fields=$4 pid
    for _ in 1 2 3 4 5 6 7 8 9 10; do
        [[ -s "$dir/swtpm.pid" ]] && break
        sleep 0.05
    done
    pid=$(running_pid "$dir") || die "swtpm started but $dir/swtpm.pid does not name a running swtpm; see $log"
    if ! wait_ready "$tcti" "$pid" "$log"; then
        kill -TERM "$pid" 2>/dev/null || true
        exit 1
    fi
    printf '{"tcti":%s,%s,"pid":%d,"state":%s,"ekRoot":%s,"ekIssuer":%s,"ekRoots":%s,"log":%s}\n' \
        "$(json_string "$tcti")" "$fields" "$pid" \
        "$(json_string "$dir/state")" \
        "$(json_string "$dir/ca/swtpm-localca-rootca-cert.pem")" \
        "$(json_string "$dir/ca/issuercert.pem")" \
        "$(json_string "$dir/ca/ek-roots.pem")" \
        "$(json_string "$log")"
}

start_unix() {
    local dir=$1 log=$2
    local socket="$dir/swtpm.sock"
    # sun_path holds 107 bytes plus the terminator.
    ((${#socket} + 5 <= 107)) || die "socket path $socket.ctrl is too long for a Unix socket; use a shorter DIR"
    rm -f "$socket" "$socket.ctrl"
    : >"$log"
    if ! detached swtpm socket --tpm2 --flags not-need-init,startup-clear \
        --server "type=unixio,path=$socket" \
        --ctrl "type=unixio,path=$socket.ctrl" \
        --tpmstate "dir=$dir/state" \
        --log "file=$log" \
        --pid "file=$dir/swtpm.pid" \
        --daemon >>"$log" 2>&1; then
        echo "swtpm.sh: swtpm failed to start; its log ($log):" >&2
        tail -n 20 "$log" >&2 || true
        exit 1
    fi
    printf 'unix %s\n' "$socket.ctrl" >"$dir/swtpm.control"
    started "$dir" "$log" "swtpm:path=$socket" "\"socket\":$(json_string "$socket")"
}

start_tcp() {
    local dir=$1 log=$2 attempt port bound=""
    for ((attempt = 0; attempt < PORT_ATTEMPTS; attempt++)); do
        port=$((PORT_MIN + (RANDOM * 32768 + RANDOM) % (PORT_MAX - PORT_MIN - 1)))
        if port_in_use "$port" || port_in_use $((port + 1)); then
            continue
        fi
        : >"$log"
        # swtpm binds both sockets before it daemonizes, so a taken port fails here.
        if detached swtpm socket --tpm2 --flags not-need-init,startup-clear \
            --server "type=tcp,port=$port,bindaddr=$HOST" \
            --ctrl "type=tcp,port=$((port + 1)),bindaddr=$HOST" \
            --tpmstate "dir=$dir/state" \
            --log "file=$log" \
            --pid "file=$dir/swtpm.pid" \
            --daemon >>"$log" 2>&1; then
            bound=1
            break
        fi
        if ! grep -qi "address already in use" "$log"; then
            echo "swtpm.sh: swtpm failed to start; its log ($log):" >&2
            tail -n 20 "$log" >&2 || true
            exit 1
        fi
    done
    [[ -n "$bound" ]] || die "no free port pair found on $HOST after $PORT_ATTEMPTS attempts"
    printf 'tcp %s\n' "$HOST:$((port + 1))" >"$dir/swtpm.control"
    started "$dir" "$log" "swtpm:host=$HOST,port=$port" "\"port\":$port,\"ctrlPort\":$((port + 1))"
}

stop() {
    local dir=$1
    [[ -d "$dir" ]] || return 0
    dir=$(cd "$dir" && pwd -P)
    exec 9>"$dir/.swtpm.lock"
    flock -w 30 9 || die "another swtpm.sh is working on $dir"

    local pid i
    if ! pid=$(running_pid "$dir"); then
        rm -f "$dir/swtpm.pid" "$dir/swtpm.control" "$dir/swtpm.sock" "$dir/swtpm.sock.ctrl"
        return 0
    fi
    # Shutdown through the control channel (swtpm stores its state and exits); SIGTERM if
    # that fails; SIGKILL as the last resort.
    local transport="" control=""
    if [[ -s "$dir/swtpm.control" ]]; then
        read -r transport control <"$dir/swtpm.control" || true
    fi
    if [[ -z "$transport" ]] || ! swtpm_ioctl "--$transport" "$control" -s >/dev/null 2>&1; then
        kill -TERM "$pid" 2>/dev/null || true
    fi
    for ((i = 0; i < STOP_TIMEOUT_TENTHS * 5; i++)); do
        alive "$pid" || break
        sleep 0.02
    done
    if alive "$pid"; then
        kill -TERM "$pid" 2>/dev/null || true
        for ((i = 0; i < STOP_TIMEOUT_TENTHS * 5; i++)); do
            alive "$pid" || break
            sleep 0.02
        done
    fi
    if alive "$pid"; then
        echo "swtpm.sh: swtpm (pid $pid) ignored shutdown and SIGTERM; sending SIGKILL" >&2
        kill -KILL "$pid" 2>/dev/null || true
        for ((i = 0; i < 20; i++)); do
            alive "$pid" || break
            sleep 0.05
        done
        alive "$pid" && die "swtpm (pid $pid) survived SIGKILL"
    fi
    rm -f "$dir/swtpm.pid" "$dir/swtpm.control" "$dir/swtpm.sock" "$dir/swtpm.sock.ctrl"
}

[[ $# -eq 2 ]] || usage
case "$1" in
start) start "$2" ;;
stop) stop "$2" ;;
provision)
    need swtpm_setup swtpm-tools
    need swtpm_localca swtpm-tools
    mkdir -p "$2"
    dir=$(cd "$2" && pwd -P)
    exec 9>"$dir/.swtpm.lock"
    flock -w 30 9 || die "another swtpm.sh is working on $dir"
    [[ -s "$dir/state/tpm2-00.permall" ]] || provision "$dir"
    ;;
*) usage ;;
esac
