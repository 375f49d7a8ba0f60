#!/usr/bin/env bash
# Installs what Sealstream needs on a fresh Debian 12 machine. Idempotent: every step
# checks before it acts, so running it twice costs a few dpkg queries.
set -euo pipefail

# C libraries behind the crypto and TPM wrappers, the TPM simulator and its tools,
# python3 for the scripts and (later) the contract tests' venv, Prometheus for deploy/,
# the NATS client and server for the replicated journal (docs/REPLICATION.md).
APT_PACKAGES=(
    pkg-config
    python3
    python3-venv
    libsodium-dev
    libsecp256k1-dev
    libtss2-dev
    libssl-dev
    swtpm
    swtpm-tools
    tpm2-tools
    openssl
    patchelf
    binutils
    # The real Prometheus server and promtool for scripts/prometheus-test.sh (deploy/).
    prometheus
    # Instruction counts for scripts/bench-instructions.sh.
    valgrind
    # User-space stacks of a host that is slow to exit in the failover chaos.
    gdb
    libnats-dev
    nats-server
    # The measured appliance image (docs/IMAGE.md): scripts/build-image.sh assembles a UKI
    # from systemd-boot's stub with objcopy (binutils) and a cpio initramfs, compiles the
    # image's init with gcc (static, libc6-dev); scripts/boot-image.sh boots it with qemu,
    # OVMF and swtpm. The kernel is downloaded by build-image.sh (apt-get download).
    systemd-boot-efi
    cpio
    gcc
    libc6-dev
    qemu-system-x86
    ovmf
    # Headless browser for the live venue page's test (IntegrationTests, VenuePageTests; its
    # HTTPS cases also run python3's scripts/tls-proxy.py with an openssl-made certificate).
    chromium
    # The container recipe's test (scripts/container-tests.sh, deploy/container/): a Debian
    # base made with debootstrap, built and run with podman (runc: crun refuses this
    # machine's hybrid cgroups).
    podman
    debootstrap
    runc
    # The systemd unit under a real systemd (scripts/systemd-tests.sh): a debootstrap root
    # booted by systemd-nspawn.
    systemd-container
)

missing=()
for pkg in "${APT_PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$pkg")
    fi
done

if ((${#missing[@]} > 0)); then
    echo "bootstrap: installing ${missing[*]}"
    SUDO=""
    if [[ $(id -u) -ne 0 ]]; then
        if ! command -v sudo >/dev/null 2>&1; then
            echo "bootstrap: need root (or sudo) to install: ${missing[*]}" >&2
            exit 1
        fi
        SUDO="sudo"
    fi
    export DEBIAN_FRONTEND=noninteractive
    $SUDO apt-get update -qq
    $SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
else
    echo "bootstrap: system packages present"
fi

if ! command -v swift >/dev/null 2>&1; then
    echo "bootstrap: swift not found on PATH; install Swift 6.3 (https://www.swift.org/install/linux/)" >&2
    exit 1
fi
