#!/usr/bin/env bash
# Builds the container image of deploy/container/ and runs it (README "Running it in a
# container"): a Debian 12 base made with debootstrap and imported into podman (no
# registry needed), the image built from BIN_DIR's executables, then in software mode a
# health check, evidence, a 200-trader liquidation drill from outside, a graceful stop
# (exit 0) and verify-outputs on the data volume; in swtpm mode (a swtpm on the host,
# its socket mounted) a policy measured inside the image, evidence verified against it
# and the AK enrolled from outside with the Swift CLI and the Python SDK.
#
# Usage: scripts/container-tests.sh [BIN_DIR]   (default: the debug build; root, podman,
# debootstrap and runc from scripts/bootstrap.sh). Downloads about 60 MB of Debian
# packages the first time (the base is kept in WORK/rootfs). Not part of scripts/test.sh.
#
# This machine's podman needs `--runtime runc --cgroup-manager cgroupfs` (crun refuses its
# hybrid cgroups), `--isolation chroot` for builds, and explicit lower ulimits (no
# CAP_SYS_RESOURCE to raise them); a normal Docker or podman host needs none of that.
set -euo pipefail
cd "$(dirname "$0")/.."
BIN="${1:-$(swift build --show-bin-path)}"
WORK="${CONTAINER_WORK:-/var/tmp/sealstream-container}"
IMAGE=localhost/sealstream:test
BASE=localhost/debian:bookworm
RUN_OPTS=(--runtime runc --cgroup-manager cgroupfs --ulimit nofile=20000:20000 --ulimit nproc=4096:4096)
for tool in podman debootstrap runc; do
    command -v "$tool" >/dev/null || { echo "container-tests: $tool missing (scripts/bootstrap.sh)" >&2; exit 1; }
done
mkdir -p "$WORK"
fail() { echo "container-tests: FAIL: $*" >&2; exit 1; }
cleanup() {
    podman rm -f sealstream-test-sw sealstream-test-swtpm >/dev/null 2>&1 || true
    podman volume rm -f sealstream-test-sw sealstream-test-swtpm >/dev/null 2>&1 || true
    scripts/swtpm.sh stop "$WORK/tpm" >/dev/null 2>&1 || true
}
trap cleanup EXIT

if ! podman image exists "$BASE"; then
    [[ -x "$WORK/rootfs/bin/sh" ]] || debootstrap --variant=minbase bookworm "$WORK/rootfs" http://deb.debian.org/debian
    tar -C "$WORK/rootfs" -c . | podman import --change 'CMD ["/bin/bash"]' - "$BASE"
fi
deploy/container/stage.sh "$BIN" "$WORK/context"
podman build --format docker --isolation=chroot --build-arg BASE="$BASE" -t "$IMAGE" -f "$WORK/context/Containerfile" \
    "$WORK/context" >"$WORK/build.log" 2>&1 || { tail -20 "$WORK/build.log"; fail "podman build"; }
cp scripts/demo/venue.json "$WORK/venue.json"
wait_ready() {
    for _ in $(seq 60); do curl -sf "127.0.0.1:$1/readyz" >/dev/null && return 0; sleep 0.5; done
    return 1
}

echo "container-tests: software mode"
cleanup
podman run -d --name sealstream-test-sw "${RUN_OPTS[@]}" -p 127.0.0.1:17420:7400 -p 127.0.0.1:17421:7401 \
    -v sealstream-test-sw:/var/lib/sealstream -v "$WORK/venue.json:/etc/sealstream/venue.json:ro" \
    "$IMAGE" --attestation software >/dev/null 2>&1
wait_ready 17421 || { podman logs sealstream-test-sw | tail; fail "not ready"; }
podman healthcheck run sealstream-test-sw >/dev/null 2>&1 || fail "health check"
[[ "$(podman top sealstream-test-sw huser | sort -u | grep -v HUSER)" == "7400" ]] || fail "not every process runs as uid 7400"
"$BIN/sealstream-client" evidence --host 127.0.0.1:17420 --out "$WORK/ev-sw.json" >/dev/null
"$BIN/sealstream-client" drill --host 127.0.0.1:17420 --traders 200 --no-attestation | grep -q '"filled":200' || fail "drill"
podman stop -t 20 sealstream-test-sw >/dev/null 2>&1
[[ "$(podman inspect sealstream-test-sw --format '{{.State.ExitCode}}')" == 0 ]] || fail "exit status after SIGTERM"
"$BIN/attestation" verify-outputs --data-dir "$(podman volume inspect sealstream-test-sw --format '{{.Mountpoint}}')" \
    --evidence "$WORK/ev-sw.json" --config "$WORK/venue.json" >/dev/null || fail "verify-outputs"

echo "container-tests: swtpm mode"
rm -rf "$WORK/tpm"
SWTPM_TRANSPORT=unix scripts/swtpm.sh start "$WORK/tpm" >/dev/null
chown 7400:7400 "$WORK/tpm/swtpm.sock" "$WORK/tpm/swtpm.sock.ctrl"
install -m 0644 "$WORK/tpm/ca/ek-roots.pem" "$WORK/ek-roots.pem"
podman run -d --name sealstream-test-swtpm "${RUN_OPTS[@]}" -p 127.0.0.1:17430:7400 -p 127.0.0.1:17431:7401 \
    -v sealstream-test-swtpm:/var/lib/sealstream -v "$WORK/venue.json:/etc/sealstream/venue.json:ro" \
    -v "$WORK/tpm/swtpm.sock:/run/swtpm/swtpm.sock" -v "$WORK/tpm/swtpm.sock.ctrl:/run/swtpm/swtpm.sock.ctrl" \
    "$IMAGE" --attestation swtpm --tcti swtpm:path=/run/swtpm/swtpm.sock >/dev/null 2>&1
wait_ready 17431 || { podman logs sealstream-test-swtpm | tail; fail "swtpm: not ready"; }
# The auditor measures the image's worker with the image's libraries (its loaded objects).
podman run --rm "${RUN_OPTS[@]}" --user 0 -v "$WORK:/work" -v "$WORK/venue.json:/etc/sealstream/venue.json:ro" \
    --entrypoint attestation "$IMAGE" measure --enclave /usr/local/bin/sealstream-enclave \
    --config /etc/sealstream/venue.json --allow-mode swtpm --swtpm-ek-root /work/ek-roots.pem \
    --policy-out /work/policy-swtpm.json >/dev/null 2>&1
nonce="$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"
"$BIN/sealstream-client" evidence --host 127.0.0.1:17430 --nonce "$nonce" --out "$WORK/ev-swtpm.json" >/dev/null
"$BIN/attestation" verify --evidence "$WORK/ev-swtpm.json" --policy "$WORK/policy-swtpm.json" --nonce "$nonce" \
    --allow-simulated >/dev/null || fail "swtpm evidence against the policy measured in the image"
"$BIN/attestation" enroll --host 127.0.0.1:17430 --evidence "$WORK/ev-swtpm.json" --policy "$WORK/policy-swtpm.json" \
    --policy-out "$WORK/pinned.json" --allow-simulated >/dev/null || fail "enroll (Swift)"
if [[ -x .build/python-venv/bin/sealstream ]]; then
    .build/python-venv/bin/sealstream enroll --host 127.0.0.1:17430 --evidence "$WORK/ev-swtpm.json" \
        --policy "$WORK/policy-swtpm.json" --policy-out "$WORK/pinned-py.json" --allow-simulated >/dev/null \
        || fail "enroll (Python SDK)"
fi
podman stop -t 20 sealstream-test-swtpm >/dev/null 2>&1
[[ "$(podman inspect sealstream-test-swtpm --format '{{.State.ExitCode}}')" == 0 ]] || fail "swtpm: exit status"
echo "container-tests: all passed ($(podman image inspect "$IMAGE" --format '{{.Size}}') bytes image)"
