"""An invalid venue configuration is a verdict, never a crash (COMMITMENTS §5 `--config`:
every check that needs the configuration fails with `config`; docs/CONFIG.md): the shared
table's configured epoch `marks` (the demo venue, no options) given a configuration with an
options block that fails validation, or with a perpetual rule broken, through
`verify_public` and the `verify-outputs` command."""

from __future__ import annotations

import json

import pytest
from conftest import VECTORS

from sealstream.cli import main
from sealstream.config import ConfigParseError
from sealstream.outputs.public import verify_public

V = json.loads(VECTORS.read_text())
EPOCH = V["epochs"]["marks"]
DOM = {"chainId": V["chainId"], "verifyingContract": V["verifyingContract"]}

# A valid options block on the demo venue's market 1 (docs/CONFIG.md "Options" example).
OPTIONS = {
    "underlyings": [{
        "market": 1,
        "margin": {"priceBuckets": 8, "minScanBps": 500, "maxScanBps": 3000, "scanDeviationsMilli": 4000,
                   "horizonNanos": 86400000000000, "volUpBps": 5000, "volDownBps": 3000, "extremeMultiple": 3,
                   "extremeCoverBps": 3300, "shortOptionMinimumBps": 100, "initialRatioBps": 13000},
        "realizedVolatility": {"halfLifeNanos": 3600000000000, "minIntervalNanos": 1000000000,
                               "initialVolatilityPpm": 600000},
        "smiles": [{"expiry": 2592000000000000, "a": 20000000, "b": 100000000, "rho": -300000000, "m": 0,
                    "sigma": 100000000}],
    }],
    "markets": [{"id": 101, "symbol": "BTC-30D-50000-C", "underlying": 1, "kind": "call", "strike": 50000000000,
                 "expiry": 2592000000000000, "contractSize": 1000000, "tickSize": 100000}],
}  # fmt: skip


def config(**edits) -> dict:
    c = json.loads(EPOCH["config"])
    for key, value in edits.items():
        c[key] = value
    return c


def verdicts(cfg) -> dict:
    return verify_public(EPOCH["batches"].encode(), EPOCH["decisions"].encode(), bytes.fromhex(EPOCH["events"]),
                         EPOCH["inputs"].encode(), cfg, EPOCH["funding"].encode(), V["signer"], DOM, V["venueId"])  # fmt: skip


def failing(v: dict) -> dict:
    return {name: r["error"] for name, r in v.items() if not r["pass"]}


def test_the_configured_epoch_passes_with_a_valid_options_block():
    assert failing(verdicts(config())) == {}
    assert failing(verdicts(config(options=OPTIONS))) == {}


# COMMITMENTS §5: a configuration that fails validation is no enclave's; nothing is
# recomputed from it, and every check that needs it fails with `config`.
CONFIGURED = {name: "config" for name in ("inputs.signature", "inputs.admission", "marks.decisions", "marks.halted",
                                          "marks.options", "funding.records")}  # fmt: skip


def test_options_that_fail_validation_fail_every_configured_check_with_config():
    bad = json.loads(json.dumps(OPTIONS))
    bad["markets"][0]["strike"] = 0  # docs/CONFIG.md: strike 1...2^50
    assert failing(verdicts(config(options=bad))) == CONFIGURED
    bad = json.loads(json.dumps(OPTIONS))
    bad["underlyings"][0]["margin"]["priceBuckets"] = 0
    assert failing(verdicts(config(options=bad))) == CONFIGURED


def test_a_perpetual_rule_broken_fails_them_with_or_without_options():
    assert failing(verdicts(config(fees={"makerBps": 1, "takerBps": 1001}, options=OPTIONS))) == CONFIGURED
    assert failing(verdicts(config(fees={"makerBps": 1, "takerBps": 1001}))) == CONFIGURED


@pytest.mark.parametrize("edit", [
    lambda c: c.update(custodyKey="zz"),
    lambda c: c["markets"][0]["funding"].update(intervalNanos=0),  # would divide by zero
    lambda c: c["markets"][0]["oracle"].update(minPublishers=0),  # would index an empty median
    lambda c: c["markets"][0]["oracle"]["publishers"].__setitem__(0, "not hex"),
])  # fmt: skip
def test_values_validation_refuses_are_verdicts_not_crashes(edit):
    c = config()
    edit(c)
    assert failing(verdicts(c)) == CONFIGURED


def test_a_configuration_strict_parsing_refuses_raises_a_typed_error():
    with pytest.raises(ConfigParseError) as e:
        verdicts(config(extra=1))
    assert str(e.value) == "$.extra: unknown key"


def _data_dir(tmp_path):
    out = tmp_path / "outputs"
    out.mkdir()
    for name in ("batches", "decisions", "inputs", "funding"):
        (out / f"{name}.jsonl").write_text(EPOCH[name])
    (out / "events.log").write_bytes(bytes.fromhex(EPOCH["events"]))
    return tmp_path


def test_verify_outputs_config_exit_statuses(tmp_path, capsys):
    data = _data_dir(tmp_path)
    cfg = tmp_path / "venue.json"
    args = ["verify-outputs", "--data-dir", str(data), "--signer", V["signer"], "--chain-id", str(V["chainId"]),
            "--verifying-contract", V["verifyingContract"], "--config", str(cfg), "--json"]  # fmt: skip
    cfg.write_text(json.dumps(config(options=OPTIONS)))
    assert main(args) == 0
    capsys.readouterr()
    bad = json.loads(json.dumps(OPTIONS))
    bad["markets"][0]["expiry"] += 1  # not a whole second
    cfg.write_text(json.dumps(config(options=bad)))
    assert main(args) == 1
    checks = {c["check"]: c for c in json.loads(capsys.readouterr().out)["checks"]}
    assert {n: c["error"] for n, c in checks.items() if not c["pass"]} == CONFIGURED
    # Not strict JSON, or not the format: exit 2 naming the path, nothing checked (as the Swift auditor).
    cfg.write_text(EPOCH["config"].replace('"venueID"', '"venueID":1,"venueID"', 1))
    assert main(args) == 2
    assert capsys.readouterr().err.strip() == f"--config {cfg}: $.venueID: duplicateKey"
    cfg.write_text(EPOCH["config"].replace('"fees":{', '"fees":{"makerBps":1.0,', 1))
    assert main(args) == 2
    assert "nonCanonicalNumber" in capsys.readouterr().err
