#!/usr/bin/env bash
# The Python SDK's tests (python/tests): codecs against the docs and the shared vectors,
# then the SDK against a real host and enclave (the demo scenario through Python and
# through the Swift client, compared). A venv under .build/python-venv, installed only
# from the pinned, hash-locked python/requirements.txt; rebuilt when that file changes.
#
# Usage: scripts/python-sdk-tests.sh [BIN_DIR]   (default: the debug build)
set -euo pipefail
cd "$(dirname "$0")/.."

export SEALSTREAM_BIN_DIR="${1:-${SEALSTREAM_BIN_DIR:-$(swift build --show-bin-path)}}"
export TSS2_LOG="${TSS2_LOG:-all+none}"

VENV=.build/python-venv
REQUIREMENTS=python/requirements.txt
want="$(sha256sum "$REQUIREMENTS" python/pyproject.toml | sha256sum | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" || "$(cat "$VENV/.requirements.sha256" 2>/dev/null)" != "$want" ]]; then
    echo "python-sdk: creating $VENV from $REQUIREMENTS"
    rm -rf "$VENV"
    python3 -m venv "$VENV"
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --require-hashes -r "$REQUIREMENTS"
    # The package itself: no dependency resolution (everything it needs is pinned above)
    # and no build isolation (it would fetch setuptools unpinned).
    "$VENV/bin/pip" install --quiet --disable-pip-version-check --no-deps --no-build-isolation -e python
    echo "$want" > "$VENV/.requirements.sha256"
fi
"$VENV/bin/python" -m pytest python/tests -q -p no:cacheprovider
