#!/usr/bin/env bash
# Fills a container build context for deploy/container/Containerfile: the four
# executables from BIN_DIR in CONTEXT/bin (the worker from ENCLAVE when given: the
# reproducible build of scripts/build-enclave.sh), and every Swift runtime library they link
# (what `ldd` resolves outside /lib and /usr/lib, i.e. the toolchain's) in
# CONTEXT/swift-lib. Debian's libraries come from apt inside the image.
#
# Usage: deploy/container/stage.sh BIN_DIR CONTEXT [ENCLAVE]   (e.g. .build/release .build/container)
set -euo pipefail
[[ $# -eq 2 || $# -eq 3 ]] || { echo "usage: $0 BIN_DIR CONTEXT [ENCLAVE]" >&2; exit 2; }
bin_dir=$1
context=$2
enclave=${3:-$bin_dir/sealstream-enclave}
rm -rf "$context"
mkdir -p "$context/bin" "$context/swift-lib"
for name in sealstream-host sealstream-enclave sealstream-client attestation; do
    path="$bin_dir/$name"
    [[ $name == sealstream-enclave ]] && path=$enclave
    [[ -x "$path" ]] || { echo "stage.sh: $path is missing (swift build -c release)" >&2; exit 1; }
    install -m 0755 "$path" "$context/bin/$name"
    { ldd "$path" || true; } | awk '$3 ~ /^\// {print $3}' | while read -r lib; do
        case "$lib" in
            /lib/* | /usr/lib/*) ;;                     # Debian's: installed by apt in the image
            *) cp -Ln "$lib" "$context/swift-lib/" ;;   # the Swift toolchain's runtime
        esac
    done
done
cp "$(dirname "$0")/Containerfile" "$context/"
echo "stage.sh: $(ls "$context/bin" | wc -l) executables, $(ls "$context/swift-lib" | wc -l) Swift runtime libraries in $context"
