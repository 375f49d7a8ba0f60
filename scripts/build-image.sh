#!/usr/bin/env bash
# Reproducible appliance image of the enclave: one unified kernel image (UKI), booted
# directly by UEFI firmware, whose bytes PCRs 4, 9 and 11 cover (docs/IMAGE.md).
#
# Usage: scripts/build-image.sh [--enclave PATH] [--config FILE] [--out FILE]
#        scripts/build-image.sh --check-pins   (exit 0 when the pinned inputs can be had here)
#   --enclave  the worker executable (default .build/reproducible/sealstream-enclave,
#              from scripts/build-enclave.sh)
#   --config   the venue configuration placed in the image (default scripts/demo/venue.json)
#   --out      the UKI (default .build-image/sealstream.efi); the initramfs, command line
#              and os-release written beside it as OUT.initrd, OUT.cmdline, OUT.osrel
#
# Inputs are pinned: Debian's kernel package (name, version and the .deb's SHA-256) and
# systemd-boot's stub (SHA-256 of linuxx64.efi.stub from systemd-boot-efi 252). Another
# file fails the build: the image would have other bytes. The kernel .deb is cached in
# .build-image/cache (gitignored) and unpacked there, never installed.
#
# Environment:
#   SOURCE_DATE_EPOCH  mtime of every initramfs entry (default: commit time of HEAD)
#   IMAGE_CACHE        download cache (default .build-image/cache)
#   IMAGE_PINS         `pinned` (default): the inputs above, or fail. `current`: Debian's
#                      current cloud kernel and the installed stub, unchecked, for when
#                      the archive has moved past the pins (Debian keeps only the newest
#                      version): two builds still agree with each other, but not with an
#                      image built from the pins. Release images are built `pinned`.
set -euo pipefail
cd "$(dirname "$0")/.."

KERNEL_PACKAGE=linux-image-6.1.0-50-cloud-amd64
KERNEL_VERSION=6.1.176-1
KERNEL_DEB_SHA256=efe19f605b6f54a8352e68d85a629abb2d30b72a085faef603a9152590baa791
readonly STUB=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
STUB_SHA256=c62ae56ffaf49d1a61de4434f4f531dd1d4ed3b5aee46c934c56e3f809b22cc4
if [[ "${IMAGE_PINS:-pinned}" == current ]]; then
    # The versioned package the cloud kernel metapackage depends on, at its candidate version.
    KERNEL_PACKAGE="$(apt-cache depends linux-image-cloud-amd64 | sed -n 's/^ *Depends: \(linux-image-[0-9].*\)$/\1/p' | head -1)"
    KERNEL_VERSION="$(apt-cache policy "$KERNEL_PACKAGE" | sed -n 's/^ *Candidate: //p')"
    [[ -n "$KERNEL_PACKAGE" && -n "$KERNEL_VERSION" ]] || { echo "build-image.sh: no current cloud kernel in apt's lists" >&2; exit 1; }
    KERNEL_DEB_SHA256=""
    STUB_SHA256=""
    echo "build-image.sh: IMAGE_PINS=current: $KERNEL_PACKAGE $KERNEL_VERSION and the installed stub, unpinned" >&2
fi
readonly KERNEL_PATH="boot/vmlinuz-${KERNEL_PACKAGE#linux-image-}"
# The fixed kernel command line (docs/IMAGE.md §2). It is in the image's .cmdline section
# and so in PCR 11; the firmware passes no load options to the UKI.
readonly CMDLINE="console=ttyS0 quiet panic=-1 no_timer_check random.trust_cpu=on"

ENCLAVE=.build/reproducible/sealstream-enclave
CONFIG=scripts/demo/venue.json
OUT=.build-image/sealstream.efi
while (($#)); do
    case "$1" in
    --enclave) ENCLAVE=$2; shift 2 ;;
    --config) CONFIG=$2; shift 2 ;;
    --out) OUT=$2; shift 2 ;;
    --check-pins) CHECK_PINS=1; shift ;;
    *) echo "usage: $0 [--enclave PATH] [--config FILE] [--out FILE] | --check-pins" >&2; exit 2 ;;
    esac
done
CACHE="${IMAGE_CACHE:-.build-image/cache}"
if [[ "${CHECK_PINS:-0}" == 1 ]]; then
    # Whether the pinned inputs can still be had here: exit 0, or 1 saying which cannot.
    [[ -f "$STUB" && "$(sha256sum "$STUB" | cut -d' ' -f1)" == "$STUB_SHA256" ]] ||
        { echo "the installed systemd-boot stub is not the pinned one" >&2; exit 1; }
    [[ -f "$CACHE/${KERNEL_PACKAGE}_${KERNEL_VERSION}_amd64.deb" ]] ||
        apt-cache show "$KERNEL_PACKAGE=$KERNEL_VERSION" >/dev/null 2>&1 ||
        { echo "$KERNEL_PACKAGE $KERNEL_VERSION is not in apt's lists" >&2; exit 1; }
    exit 0
fi

die() { echo "build-image.sh: $*" >&2; exit 1; }
need() { command -v "$1" >/dev/null 2>&1 || die "$1 not found; install $2 (scripts/bootstrap.sh)"; }
need objcopy binutils
need cpio cpio
need cc gcc
need python3 python3
[[ -f "$STUB" ]] || die "$STUB missing; install systemd-boot-efi (scripts/bootstrap.sh)"
[[ -x "$ENCLAVE" ]] || die "no enclave executable at $ENCLAVE (run scripts/build-enclave.sh)"
[[ -f "$CONFIG" ]] || die "no venue configuration at $CONFIG"
[[ -z "$STUB_SHA256" || "$(sha256sum "$STUB" | cut -d' ' -f1)" == "$STUB_SHA256" ]] ||
    die "$STUB is not the pinned systemd-boot stub (systemd-boot-efi 252.39-1~deb12u2); the image would differ"

if [[ -z "${SOURCE_DATE_EPOCH:-}" ]]; then
    SOURCE_DATE_EPOCH="$(git log -1 --format=%ct 2>/dev/null || echo 0)"
fi
export SOURCE_DATE_EPOCH LC_ALL=C TZ=UTC
umask 022

# 1. The kernel: the pinned package, checked, unpacked (not installed).
mkdir -p "$CACHE"
DEB="$CACHE/${KERNEL_PACKAGE}_${KERNEL_VERSION}_amd64.deb"
if [[ ! -f "$DEB" ]]; then
    (cd "$CACHE" && apt-get download "$KERNEL_PACKAGE=$KERNEL_VERSION" >&2)
fi
[[ -z "$KERNEL_DEB_SHA256" || "$(sha256sum "$DEB" | cut -d' ' -f1)" == "$KERNEL_DEB_SHA256" ]] ||
    die "$DEB does not have the pinned SHA-256 $KERNEL_DEB_SHA256"
KDIR="$CACHE/$KERNEL_PACKAGE-$KERNEL_VERSION"
if [[ ! -f "$KDIR/$KERNEL_PATH" ]]; then
    rm -rf "$KDIR.tmp" && dpkg-deb -x "$DEB" "$KDIR.tmp" && rm -rf "$KDIR" && mv "$KDIR.tmp" "$KDIR"
fi
KERNEL="$KDIR/$KERNEL_PATH"

WORK="$(mktemp -d "${TMPDIR:-/tmp}/sealstream-image.XXXXXX")"
trap 'rm -rf "$WORK"' EXIT
ROOTFS="$WORK/root"
mkdir -p "$ROOTFS"/{dev,proc,sys,tmp,etc/sealstream,usr/bin}

# 2. PID 1: image/init.c, static, no build id, no checkout path.
cc -static -Os -Wall -Wextra -Werror -ffile-prefix-map="$(pwd -P)=/sealstream" -g0 \
    -Wl,--build-id=none -o "$ROOTFS/init" image/init.c
strip --strip-all "$ROOTFS/init"

# 3. The worker, its venue configuration and every shared object the loader maps for it,
# at the paths the loader resolves on this machine (the paths `attestation measure
# --enclave` reports as loadedObjects, docs/ATTESTATION.md §2.1), with the symbolic
# links it follows to get there.
install -m 0755 "$ENCLAVE" "$ROOTFS/usr/bin/sealstream-enclave"
install -m 0644 "$CONFIG" "$ROOTFS/etc/sealstream/venue.json"
# copy_path P: puts P (a file or a chain of symbolic links ending in one) into the image.
copy_path() {
    local p=$1 dir base target
    dir="$(dirname "$p")"
    base="$(basename "$p")"
    # A symbolic link among the directories (/lib -> usr/lib on merged-/usr Debian).
    local d="" part
    IFS=/ read -r -a parts <<<"${dir#/}"
    for part in "${parts[@]}"; do
        d="$d/$part"
        if [[ -L "$d" ]]; then
            if [[ ! -L "$ROOTFS$d" ]]; then ln -s "$(readlink "$d")" "$ROOTFS$d"; fi
            copy_path_dir "$(readlink -f "$d")"
        elif [[ ! -e "$ROOTFS$d" ]]; then
            mkdir -p "$ROOTFS$d"
        fi
    done
    [[ -e "$ROOTFS$p" || -L "$ROOTFS$p" ]] && return 0
    if [[ -L "$p" ]]; then
        target="$(readlink "$p")"
        ln -s "$target" "$ROOTFS$p"
        case "$target" in /*) copy_path "$target" ;; *) copy_path "$dir/$target" ;; esac
    else
        install -m 0755 "$p" "$ROOTFS$dir/$base"
    fi
}
copy_path_dir() { [[ -e "$ROOTFS$1" ]] || mkdir -p "$ROOTFS$1"; }
mapfile -t LIBS < <(env -i /lib64/ld-linux-x86-64.so.2 --list "$ENCLAVE" |
    awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u)
((${#LIBS[@]} > 0)) || die "the loader lists no shared objects for $ENCLAVE"
for lib in "${LIBS[@]}"; do
    copy_path "$lib"
done

# 4. The virtio modules init loads for the link (docs/IMAGE.md §3): the cloud kernel builds
# virtio, virtio_pci and virtio_console as modules. Taken from the same kernel package, at
# the package's paths under /usr/lib/modules/<release>/; the list is init.c's MODULES.
KRELEASE=${KERNEL_PACKAGE#linux-image-}
mapfile -t MODULES < <(sed -n '/^static const char \*const MODULES\[\]/,/^};/p' image/init.c |
    grep -o '"kernel/[^"]*\.ko"' | tr -d '"')
((${#MODULES[@]} > 0)) || die "no module list in image/init.c"
for module in "${MODULES[@]}"; do
    src="$KDIR/lib/modules/$KRELEASE/$module"
    [[ -f "$src" ]] || die "$KERNEL_PACKAGE has no $module"
    install -D -m 0644 "$src" "$ROOTFS/usr/lib/modules/$KRELEASE/$module"
done

# 5. The initramfs: newc cpio, entries sorted by path, owner 0:0, mtimes SOURCE_DATE_EPOCH,
# no device or inode numbers (--reproducible), then gzip without name or time (-n).
find "$ROOTFS" -exec touch -h -d "@$SOURCE_DATE_EPOCH" {} +
mkdir -p "$(dirname "$OUT")"
(cd "$ROOTFS" && find . -mindepth 1 -printf '%P\0' | sort -z |
    cpio --null --create --format=newc --reproducible --owner=0:0 --quiet) |
    gzip -n -9 >"$OUT.initrd"

# 6. The UKI: the stub plus .osrel, .cmdline, .linux and .initrd, each at a virtual address
# after the one before (64 KiB aligned), then the PE timestamp and checksum zeroed.
printf '%s' "$CMDLINE" >"$OUT.cmdline"
cat >"$OUT.osrel" <<EOF
ID=sealstream
NAME="Sealstream enclave appliance"
VERSION_ID=1
KERNEL=$KERNEL_PACKAGE $KERNEL_VERSION
EOF
align() { echo $(( ($1 + 0xffff) & ~0xffff )); }
STUB_END=0
while read -r size vma; do
    ((0x$vma + 0x$size > STUB_END)) && STUB_END=$((0x$vma + 0x$size))
done < <(objdump -h "$STUB" | awk '$1 ~ /^[0-9]+$/ { print $3, $4 }')
ARGS=()
addr=$(align "$STUB_END")
for pair in ".osrel:$OUT.osrel" ".cmdline:$OUT.cmdline" ".linux:$KERNEL" ".initrd:$OUT.initrd"; do
    name=${pair%%:*} file=${pair#*:}
    ARGS+=(--add-section "$name=$file" --change-section-vma "$name=$(printf '0x%x' "$addr")")
    addr=$(align $((addr + $(stat -c %s "$file"))))
done
objcopy "${ARGS[@]}" "$STUB" "$OUT.tmp"
python3 - "$OUT.tmp" <<'EOF'
import struct, sys
path = sys.argv[1]
with open(path, "r+b") as f:
    data = bytearray(f.read())
    pe = struct.unpack_from("<I", data, 0x3C)[0]
    assert data[pe:pe + 4] == b"PE\0\0", "not a PE file"
    struct.pack_into("<I", data, pe + 8, 0)        # COFF TimeDateStamp
    struct.pack_into("<I", data, pe + 24 + 64, 0)  # optional header CheckSum
    f.seek(0)
    f.write(data)
EOF
mv -f "$OUT.tmp" "$OUT"
echo "image: $OUT ($(stat -c %s "$OUT") bytes; initramfs $(stat -c %s "$OUT.initrd") bytes)" >&2
echo "sha256: $(sha256sum "$OUT" | cut -d' ' -f1)"
