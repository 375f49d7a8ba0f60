#!/usr/bin/env bash
# Installs what is missing, builds, and runs every test: Swift unit and integration
# tests, then the appliance image (built twice, booted once under qemu), then the
# failover chaos (a primary and a hot standby, 20 faults),
# then the verifier contract's tests on an in-process EVM (Python venv from PyPI),
# then the operator's Prometheus setup against a real Prometheus server (deploy/),
# then the systemd unit under a real systemd (a debootstrap root under systemd-nspawn),
# then the HTTP API against its OpenAPI document (Schemathesis on a live host),
# then the Python SDK's tests (its own venv, hash-pinned from PyPI), then the fuzz targets.
# Usage: scripts/test.sh            (from a fresh Debian 12 machine with Swift 6.3)
set -euo pipefail
cd "$(dirname "$0")/.."

# Each stage's header carries the time since the start, so a CI log shows where the
# minutes went (the whole of this script is to stay under about 30 minutes).
stage() { printf '== [%d:%02d] %s\n' $((SECONDS / 60)) $((SECONDS % 60)) "$*"; }

scripts/bootstrap.sh

stage "build (debug: every executable the integration tests spawn)"
swift build

# The enclave-closure test reads this; `swift package describe` cannot run inside
# `swift test` because both take SwiftPM's build lock.
swift package describe --type json > .build/package-description.json

stage "build the reproducible enclave (the measured worker: tests check it has no RUNPATH)"
scripts/build-enclave.sh .build/reproducible
export SEALSTREAM_REPRODUCIBLE_ENCLAVE="$(pwd)/.build/reproducible/sealstream-enclave"

stage "test"
# tpm2-tss logs to stderr unless told not to; set once here rather than by tests
# running in parallel.
export TSS2_LOG=all+none
export SEALSTREAM_BIN_DIR="$(swift build --show-bin-path)"
# pipefail (set above) makes a failing `swift test` fail the script despite the tee.
swift test 2>&1 | tee .build/test-output.txt
# The idle connection flood holds ~1,800 sockets in the test process, during which any
# Foundation Process.run() in a parallel test can crash the run (ConnectionFloodTests.alone
# says why): it runs alone, in a test process of its own.
SEALSTREAM_FLOOD_ALONE=1 swift test --skip-build --filter idleFloodDoesNotLockTradersOut 2>&1 \
    | tee -a .build/test-output.txt

# The fuzz targets' sanitizer build (about 6 minutes of both cores) shares nothing with the
# debug build: it starts now in the background at the lowest CPU and I/O priority, so it
# takes only what the next stages leave idle (qemu under TCG uses one core; the chaos and
# network stages mostly wait), and the fuzz stage waits for it. Its own scratch directory
# (.build-fuzz) and package path keep it off the other builds' locks.
fuzz_build_pid=""
if [[ "${FUZZ_SECONDS:-30}" != 0 ]]; then
    # A session of its own, so that a stage failing ends the whole build with the script.
    setsid nice -n 19 ionice -c 3 scripts/fuzz.sh --build-only > .build/fuzz-prebuild.log 2>&1 &
    fuzz_build_pid=$!
    trap 'kill -- -"$fuzz_build_pid" 2>/dev/null || true' EXIT
fi

stage "appliance image (docs/IMAGE.md): built twice byte-identical, one boot under qemu checks the predicted PCRs"
# IMAGE_BOOT=0 skips the boot (about 10–12 s under TCG on a quiet machine, minutes on a loaded one).
scripts/image-tests.sh "$SEALSTREAM_BIN_DIR"

stage "failover chaos (docs/REPLICATION.md §12): 20 kills (hosts, workers, NATS nodes) of a primary and a hot standby on a JetStream cluster"
# kill -9 of the primary host or worker, of a NATS node, and network partitions of the
# primary (network namespaces where the kernel allows); the chain checked by
# verify-outputs, the contract and a replay from genesis. A partitioned primary's
# pipelined publishes, delivered after the heal, can be stored behind the new primary's:
# readers skip them by the content chain (docs/REPLICATION.md §3).
SEALSTREAM_BIN_DIR="$SEALSTREAM_BIN_DIR" scripts/chaos.sh --cluster "${CHAOS_CLUSTER_ROUNDS:-20}"

stage "contract tests (Vyper on py-evm, fed with this build's real outputs)"
scripts/contract-tests.sh "$SEALSTREAM_BIN_DIR"

stage "Prometheus (deploy/prometheus checked and unit-tested by promtool; a real Prometheus scrapes a real host)"
scripts/prometheus-test.sh "$SEALSTREAM_BIN_DIR"

stage "the systemd unit under a real systemd (deploy/systemd; a Debian root booted by systemd-nspawn, software and swtpm)"
scripts/systemd-tests.sh "$SEALSTREAM_BIN_DIR"

stage "HTTP API against docs/openapi.yaml (Schemathesis on a live host, hash-pinned from PyPI)"
scripts/api-tests.sh "$SEALSTREAM_BIN_DIR"

stage "Python SDK tests (python/: unit tests, then the demo scenario through Python on a real host)"
scripts/python-sdk-tests.sh "$SEALSTREAM_BIN_DIR"

stage "fuzz (every parser fed from outside, ${FUZZ_SECONDS:-30} s each; docs/FUZZING.md)"
# Part of the suite: a crash, trap or failed invariant in any target fails the run and
# leaves its reproducer in Fuzz/crashes/. FUZZ_SECONDS=0 skips this step.
if [[ "${FUZZ_SECONDS:-30}" != 0 ]]; then
    # A failed background build is not reported here: the build below repeats it and
    # prints its errors.
    wait "$fuzz_build_pid" || echo "fuzz: the background build failed (.build/fuzz-prebuild.log); building again"
    scripts/fuzz.sh "${FUZZ_SECONDS:-30}"
fi
stage "all tests passed"
