"""Shared paths. The repository root is two levels up from python/tests."""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "Tests" / "AttestationTests" / "Fixtures"
VECTORS = ROOT / "contracts" / "tests" / "vectors" / "outputs.json"
