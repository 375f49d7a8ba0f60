#!/usr/bin/env bash
# Reproducible release build of the measured enclave executable (and only it).
#
# Usage: scripts/build-enclave.sh [OUT_DIR]   (default .build/reproducible)
#
# Writes OUT_DIR/sealstream-enclave and prints its measurement (SHA-256 of the
# executable, what `attestation measure --enclave PATH` reports and the worker extends
# into PCR 23). Two clean checkouts of the same commit, in different directories, built
# with the same toolchain on the same distribution, produce the same bytes: see
# docs/REPRODUCIBLE.md for what would otherwise differ and how each difference is removed.
#
# Environment:
#   ENCLAVE_SCRATCH   scratch path (default .build/reproducible-scratch, inside the
#                     checkout so the prefix map below covers it)
#   SOURCE_DATE_EPOCH defaults to the commit time of HEAD (nothing in the build reads the
#                     clock today; set for any tool that does)
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$(pwd -P)"
OUT_DIR="${1:-.build/reproducible}"
SCRATCH="${ENCLAVE_SCRATCH:-.build/reproducible-scratch}"
# Every absolute path under the checkout is rewritten to this one in the compilers'
# output (debug info, #file/#filePath, assertion messages, __FILE__ in C).
readonly CANONICAL=/sealstream

if [[ -z "${SOURCE_DATE_EPOCH:-}" ]]; then
    SOURCE_DATE_EPOCH="$(git log -1 --format=%ct 2>/dev/null || echo 0)"
fi
export SOURCE_DATE_EPOCH
# Locale and time zone for any tool that formats text.
export LC_ALL=C TZ=UTC

FLAGS=(
    -c release
    --product sealstream-enclave
    --scratch-path "$SCRATCH"
    # Swift: -file-prefix-map covers #file/#filePath, debug info and coverage paths.
    -Xswiftc -file-prefix-map -Xswiftc "$ROOT=$CANONICAL"
    # No DWARF and no wrapped .swiftmodule (swift -modulewrap) in the executable: both
    # carry module-cache and SDK paths. The measured binary is a release artefact;
    # symbols for debugging come from a separate (non-measured) build.
    -Xswiftc -gnone
    # Each Swift object file carries .swift_modhash, an MD5 of its LLVM module before
    # optimisation, which lets the next incremental build skip LLVM. That module still
    # holds the absolute source paths (#fileID/#filePath literals and the like, later
    # optimised away), so the hash differed between checkouts although nothing else did.
    # With incremental LLVM code generation off the section is all zeros. Release builds
    # are whole-module, so nothing is lost.
    -Xswiftc -Xfrontend -Xswiftc -disable-incremental-llvm-codegen
    # C targets (CEnclaveSys, CTPM): same prefix map, no debug info.
    -Xcc "-ffile-prefix-map=$ROOT=$CANONICAL"
    -Xcc -g0
    # The GNU build ID is a hash over the linker's input, including sections that held
    # paths; with everything above it would be stable too, but nothing needs it.
    -Xlinker --build-id=none
    # The Swift runtime and Foundation are linked into the executable, so the measured
    # bytes hold them and no library is looked up in the toolchain's folder.
    --static-swift-stdlib
)

echo "== swift build ${FLAGS[*]}" >&2
swift build "${FLAGS[@]}" >&2
BIN="$(swift build "${FLAGS[@]}" --show-bin-path)"

# Nothing of where the checkout lives may be left in the measured bytes.
if grep -qaF "$ROOT" "$BIN/sealstream-enclave"; then
    echo "build-enclave.sh: $BIN/sealstream-enclave contains the checkout path $ROOT:" >&2
    strings -a "$BIN/sealstream-enclave" | grep -F "$ROOT" | head -5 >&2
    exit 1
fi

mkdir -p "$OUT_DIR"
# cp, not ln: OUT_DIR must hold the measured bytes even after the scratch is cleaned.
cp "$BIN/sealstream-enclave" "$OUT_DIR/sealstream-enclave.tmp"
# SwiftPM links every executable with RUNPATH $ORIGIN. The worker must load nothing from
# beside itself (a planted libsodium.so.23 there would run inside the enclave), so the
# entry goes: libraries come only from the system's directories, each measured
# (docs/ATTESTATION.md §2). patchelf rewrites the dynamic section deterministically.
patchelf --remove-rpath "$OUT_DIR/sealstream-enclave.tmp"
if readelf -d "$OUT_DIR/sealstream-enclave.tmp" | grep -qE '\((RUNPATH|RPATH)\)'; then
    echo "build-enclave.sh: the enclave still has a RUNPATH" >&2
    exit 1
fi
mv -f "$OUT_DIR/sealstream-enclave.tmp" "$OUT_DIR/sealstream-enclave"
chmod 0755 "$OUT_DIR/sealstream-enclave"
MEASUREMENT="$(sha256sum "$OUT_DIR/sealstream-enclave" | cut -d' ' -f1)"
echo "$MEASUREMENT" >"$OUT_DIR/sealstream-enclave.sha256"
echo "enclave: $OUT_DIR/sealstream-enclave" >&2
echo "measurement: $MEASUREMENT"
