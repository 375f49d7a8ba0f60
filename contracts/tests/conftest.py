"""Fixtures shared by the contract tests, and the end-of-run gas summary line."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# The output verifier is part of the Python SDK; it needs only the standard library.
sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "python" / "src"))

import evm  # noqa: E402

GAS_REPORT = pytest.StashKey[dict]()


@pytest.fixture(scope="session")
def compiled() -> dict:
    return evm.compile_verifier()


@pytest.fixture
def gas_report(pytestconfig) -> dict:
    """Figures put here are printed as one `GAS k=v ...` line at the end of the run."""
    return pytestconfig.stash.setdefault(GAS_REPORT, {})


def pytest_terminal_summary(terminalreporter, exitstatus, config) -> None:
    report = config.stash.get(GAS_REPORT, None)
    if report:
        terminalreporter.write_line("GAS " + " ".join(f"{k}={v}" for k, v in report.items()))
