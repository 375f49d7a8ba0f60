#!/usr/bin/env bash
# Boots the appliance image once under qemu with OVMF and a swtpm vTPM, and collects the
# guest's boot report (docs/IMAGE.md §4): the firmware TCG event log and the PCR values the
# guest kernel read from the TPM.
#
# Usage: scripts/boot-image.sh IMAGE DIR
#   DIR/swtpm     the vTPM's state and its throwaway EK CA (scripts/swtpm.sh provision),
#                 kept across boots; DIR/esp the EFI system partition (\EFI\BOOT\BOOTX64.EFI)
#   Writes DIR/eventlog.bin (the log's bytes), DIR/pcrs.txt ("INDEX HEX" per SHA-256 PCR,
#   0..23), DIR/console.log (firmware and kernel console) and prints
#   {"bootSeconds":S} — seconds from starting qemu to the end of the report.
#
# KVM is used when /dev/kvm works (BOOT_ACCEL=kvm), else TCG: the default here, where
# nested KVM cannot run OVMF. The guest is stopped once the report is complete.
# Environment: BOOT_ACCEL (tcg|kvm, default tcg), BOOT_TIMEOUT (seconds, default 300).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $# -eq 2 ]] || { echo "usage: $0 IMAGE DIR" >&2; exit 2; }
IMAGE=$1
mkdir -p "$2"
DIR=$(cd "$2" && pwd -P)
ACCEL=${BOOT_ACCEL:-tcg}
TIMEOUT=${BOOT_TIMEOUT:-300}
readonly OVMF_CODE=/usr/share/OVMF/OVMF_CODE_4M.fd
readonly OVMF_VARS=/usr/share/OVMF/OVMF_VARS_4M.fd

die() { echo "boot-image.sh: $*" >&2; exit 1; }
command -v qemu-system-x86_64 >/dev/null || die "qemu-system-x86_64 not found; install qemu-system-x86"
[[ -f "$OVMF_CODE" ]] || die "$OVMF_CODE not found; install ovmf"
[[ -f "$IMAGE" ]] || die "no image at $IMAGE"

scripts/swtpm.sh provision "$DIR/swtpm" >/dev/null
rm -rf "$DIR/esp" && mkdir -p "$DIR/esp/EFI/BOOT"
cp "$IMAGE" "$DIR/esp/EFI/BOOT/BOOTX64.EFI"
cp "$OVMF_VARS" "$DIR/vars.fd"
rm -f "$DIR/report.txt" "$DIR/console.log" "$DIR/eventlog.bin" "$DIR/pcrs.txt" "$DIR/tpm.ctrl"

# The vTPM: swtpm's control channel for qemu; it exits when qemu disconnects.
swtpm socket --tpm2 --tpmstate "dir=$DIR/swtpm/state" \
    --ctrl "type=unixio,path=$DIR/tpm.ctrl" --terminate \
    --log "file=$DIR/swtpm/qemu-swtpm.log" --pid "file=$DIR/swtpm/qemu-swtpm.pid" --daemon
for _ in $(seq 50); do [[ -S "$DIR/tpm.ctrl" ]] && break; sleep 0.1; done
[[ -S "$DIR/tpm.ctrl" ]] || die "swtpm did not create $DIR/tpm.ctrl"

start=$(date +%s.%N)
qemu-system-x86_64 -machine q35 -accel "$ACCEL" -cpu max -m 768 -smp 1 \
    -nodefaults -display none -no-reboot -net none \
    -drive "if=pflash,format=raw,unit=0,readonly=on,file=$OVMF_CODE" \
    -drive "if=pflash,format=raw,unit=1,file=$DIR/vars.fd" \
    -chardev "socket,id=chrtpm,path=$DIR/tpm.ctrl" \
    -tpmdev emulator,id=tpm0,chardev=chrtpm -device tpm-tis,tpmdev=tpm0 \
    -drive "if=virtio,format=raw,readonly=on,file=fat:$DIR/esp" \
    -serial "file:$DIR/console.log" -serial "file:$DIR/report.txt" -serial null &
QEMU=$!
trap 'kill $QEMU 2>/dev/null || true' EXIT

done_at=""
for ((i = 0; i < TIMEOUT * 10; i++)); do
    if [[ -f "$DIR/report.txt" ]] && grep -q '^end$' "$DIR/report.txt"; then
        done_at=$(date +%s.%N)
        break
    fi
    kill -0 $QEMU 2>/dev/null || break
    sleep 0.1
done
kill $QEMU 2>/dev/null || true
wait $QEMU 2>/dev/null || true
trap - EXIT
[[ -n "$done_at" ]] || { tail -20 "$DIR/console.log" >&2 || true; die "no complete boot report within ${TIMEOUT}s"; }

python3 - "$DIR" <<'EOF'
import sys
d = sys.argv[1]
pcrs = {}
log = None
for line in open(f"{d}/report.txt", encoding="ascii"):
    parts = line.split()
    if parts[:1] == ["eventlog"]:
        log = bytes.fromhex(parts[1]) if parts[1] != "-" else b""
    elif parts[:1] == ["pcr"] and len(parts) == 3 and parts[2] != "-":
        pcrs[int(parts[1])] = parts[2].lower()
if log is None or len(pcrs) != 24:
    sys.exit("boot-image.sh: the report has no event log or not 24 PCRs")
open(f"{d}/eventlog.bin", "wb").write(log)
with open(f"{d}/pcrs.txt", "w") as f:
    for i in sorted(pcrs):
        f.write(f"{i} {pcrs[i]}\n")
EOF
awk -v a="$start" -v b="$done_at" 'BEGIN { printf "{\"bootSeconds\":%.1f}\n", b - a }'
