#!/usr/bin/env bash
# Runs the appliance image as the host's enclave worker (docs/IMAGE.md §10): this
# process's stdin and stdout become the guest's virtio-serial ports org.sealstream.link.in
# (qemu's stdio chardev: host to worker) and org.sealstream.link.out (a file chardev on
# fd 1: worker to host), so the host speaks the link protocol to it exactly as to a worker
# process. One port a direction, as a pipe pair: the host closing stdin closes only the
# in-port (the worker reads end of file), and the worker can still write its last batch
# and exit; the guest then powers off (an orderly TPM2_Shutdown of the vTPM).
#
# Usage: scripts/vm-worker.sh IMAGE STATE_DIR [WORKER ARGUMENTS...]
#   IMAGE      the UKI (scripts/build-image.sh)
#   STATE_DIR  swtpm state and its EK CA (kept across restarts), the ESP, the console log
#              (STATE_DIR/console.log) and the boot report (STATE_DIR/report.txt)
#   The worker's own arguments are ignored: the image runs the worker with fixed ones.
#   fd 3, when open (the host's snapshot pipe, docs/DURABILITY.md §6.6), becomes the guest's
#   port org.sealstream.snapshots (worker to host); else that port writes to /dev/null.
# The host starts workers with an empty environment; PATH is set here.
set -euo pipefail
export PATH=/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin
cd "$(dirname "$0")/.."
[[ $# -ge 2 ]] || { echo "usage: $0 IMAGE STATE_DIR [worker arguments]" >&2; exit 64; }
IMAGE=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
readonly OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd
# KVM when the CPU shows hardware virtualisation (vmx/svm) and /dev/kvm is usable; else
# TCG. These machines have /dev/kvm from a paravirtual nested KVM without the CPU flags,
# on which OVMF stops with a KVM internal error: TCG here. STATE_DIR/accel, holding `kvm`
# or `tcg`, overrides the choice (the host starts this script with an empty environment).
ACCEL=tcg
if [[ -w /dev/kvm ]] && grep -qwE 'vmx|svm' /proc/cpuinfo; then ACCEL=kvm; fi
if [[ -s "$DIR/accel" ]]; then
    ACCEL=$(tr -d '[:space:]' <"$DIR/accel")
    [[ "$ACCEL" == kvm || "$ACCEL" == tcg ]] || { echo "vm-worker.sh: $DIR/accel must say kvm or tcg" >&2; exit 64; }
fi

# fd 3 is the host's snapshot pipe: only qemu keeps it (a daemon holding it would hide the
# end of the stream from the host after qemu exits).
SNAPSHOTS="file,id=snapshots,path=/dev/null"
if { : >&3; } 2>/dev/null; then SNAPSHOTS="file,id=snapshots,path=/dev/fd/3"; fi
scripts/swtpm.sh provision "$DIR/swtpm" >/dev/null 3>&-
rm -rf "$DIR/esp" && mkdir -p "$DIR/esp/EFI/BOOT"
cp "$IMAGE" "$DIR/esp/EFI/BOOT/BOOTX64.EFI"
cp "$OVMF_VARS" "$DIR/vars.fd"
# The vTPM exits when qemu (this process, after exec) goes away. After a crash (qemu
# killed) the previous one may still be writing its state: wait for it (it holds the
# state directory's lock), and stop it after 10 s.
if [[ -s "$DIR/swtpm.pid" ]]; then
    old=$(cat "$DIR/swtpm.pid")
    for _ in $(seq 100); do [[ "$(cat /proc/"$old"/comm 2>/dev/null)" == swtpm ]] || break; sleep 0.1; done
    [[ "$(cat /proc/"$old"/comm 2>/dev/null)" == swtpm ]] && kill "$old" && sleep 0.5
fi
# Every stop of the VM (a kill, or the host's shutdown, which kills it after the drain
# timeout) is a power loss to the vTPM: no TPM2_Shutdown. At its next start the vTPM then
# counts a dictionary-attack failure when a DA-protected object (the AK) was used, and
# after 3 of them (swtpm's maxTries) it locks the AK out for 1000 s of TPM time: quotes
# fail and the worker cannot start. The owner of this simulated TPM resets that count
# before each boot (lockout auth empty) and shuts it down orderly (docs/IMAGE.md §10).
# Best effort: a failure is reported on stderr and the boot goes on.
if SWTPM_TRANSPORT=unix scripts/swtpm.sh start "$DIR/swtpm" >/dev/null 2>&1 3>&-; then
    TPM2TOOLS_TCTI="swtpm:path=$DIR/swtpm/swtpm.sock" tpm2_dictionarylockout --clear-lockout >/dev/null 2>&1 \
        && TPM2TOOLS_TCTI="swtpm:path=$DIR/swtpm/swtpm.sock" tpm2_shutdown >/dev/null 2>&1 \
        || echo "vm-worker.sh: could not reset the vTPM's lockout counter" >&2
    scripts/swtpm.sh stop "$DIR/swtpm" >/dev/null 2>&1 3>&- || true
else
    echo "vm-worker.sh: could not start the vTPM to reset its lockout counter" >&2
fi
rm -f "$DIR/tpm.ctrl" "$DIR/report.txt" "$DIR/swtpm.pid"
swtpm socket --tpm2 --tpmstate "dir=$DIR/swtpm/state" --ctrl "type=unixio,path=$DIR/tpm.ctrl" --terminate \
    --pid "file=$DIR/swtpm.pid" --log "file=$DIR/swtpm/qemu-swtpm.log" --daemon </dev/null >/dev/null 2>&1 3>&-
for _ in $(seq 50); do [[ -S "$DIR/tpm.ctrl" ]] && break; sleep 0.1; done
[[ -S "$DIR/tpm.ctrl" ]] || { echo "vm-worker.sh: swtpm did not start" >&2; exit 1; }
exec qemu-system-x86_64 -machine q35 -accel "$ACCEL" -cpu max -m 768 -smp 1 \
    -nodefaults -display none -no-reboot -net none \
    -drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE" \
    -drive "if=pflash,format=raw,unit=1,file=$DIR/vars.fd" \
    -chardev "socket,id=chrtpm,path=$DIR/tpm.ctrl" \
    -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0 \
    -drive "if=virtio,format=raw,readonly=on,file=fat:$DIR/esp" \
    -serial "file:$DIR/console.log" -serial "file:$DIR/report.txt" \
    -chardev stdio,id=linkin,signal=off -chardev file,id=linkout,path=/dev/fd/1 \
    -chardev "$SNAPSHOTS" -device virtio-serial-pci,id=vser,max_ports=4 \
    -device virtserialport,bus=vser.0,nr=1,chardev=linkin,name=org.sealstream.link.in \
    -device virtserialport,bus=vser.0,nr=2,chardev=linkout,name=org.sealstream.link.out \
    -device virtserialport,bus=vser.0,nr=3,chardev=snapshots,name=org.sealstream.snapshots
