"""The shared table Tests/vectors/venue-config.json run through sealstream.config (the
same table Tests/EngineTests/VenueConfigVectorTests.swift runs through VenueConfig)."""

from __future__ import annotations

import json

import pytest
from conftest import ROOT

from sealstream.config import ConfigInvalid, ConfigParseError, load_venue_config, parse_venue_config

TABLE = json.loads((ROOT / "Tests" / "vectors" / "venue-config.json").read_text())


def case_bytes(case: dict) -> bytes:
    text = (ROOT / case["base"]).read_text()
    for old, new in case["replace"]:
        assert text.count(old) == 1, (case["name"], old)
        text = text.replace(old, new)
    return text.encode()


@pytest.mark.parametrize("case", TABLE["cases"], ids=[c["name"] for c in TABLE["cases"]])
def test_case(case):
    expect = case["expect"]
    try:
        load_venue_config(case_bytes(case))
        outcome = {"valid": True}
    except ConfigParseError as e:
        outcome = {"json": e.reason, "path": e.path} if e.kind == "json" else {"parse": str(e)}
        if "path" not in expect:  # a syntax error's path is not normative (COMMITMENTS §5.1)
            outcome.pop("path", None)
    except ConfigInvalid as e:
        outcome = {"options": str(e)} if e.rule == "options" else {"rule": e.rule}
    assert outcome == expect


def test_table_covers_every_outcome():
    kinds = {next(iter(c["expect"])) for c in TABLE["cases"]}
    assert kinds == {"valid", "json", "parse", "rule", "options"}
    assert len(TABLE["cases"]) >= 30


def test_defaults_filled_in():
    c = parse_venue_config((ROOT / "scripts/demo/options-venue.json").read_bytes())
    assert c["marketData"] == {"policy": "lit", "depthLevels": 10, "delayNanos": 0, "sizeRounding": 1}
    assert (c["dedupeWindowNanos"], c["enclaveLanes"]) == (30_000_000_000, 1)
    assert c["enrollment"] == {"ekRoots": [], "swtpmEKRoots": []}
    assert "greekLimits" not in c["options"]["underlyings"][0]
