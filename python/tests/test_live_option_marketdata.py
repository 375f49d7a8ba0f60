"""Option markets in the public market data through the Python SDK against a real host
(docs/MARKETDATA.md §2.1): a venue listing a call on BTC, a maker and a taker trading it,
the option market's snapshot verified under the attested signer (series, option mark,
no oracle quotes or funding), its trade in marketdata.jsonl, a signed smile repricing it,
and verify-outputs accepting the epoch: the SDK and the Swift auditor recompute every option mark
from the signed prices and smile (COMMITMENTS §5.3 check 24a) and agree check by check."""

from __future__ import annotations

import json
import secrets
import subprocess
import time

import pytest
from live import VENUE, Host, bin_dir

from sealstream import eip712, marketdata, wire
from sealstream.client import Client
from sealstream.demo import demo_key
from sealstream.errors import Refused
from sealstream.evidence import parse_evidence
from sealstream.messages import Side
from sealstream.outputs import verify_directory

USD, CALL = 1_000_000, 101


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    work = tmp_path_factory.mktemp("options")
    config = json.loads(VENUE.read_text())
    expiry = (time.time_ns() // 10**9 + 30 * 86_400) * 10**9
    config["options"] = {
        "underlyings": [{
            "market": 1,
            "margin": {"priceBuckets": 8, "minScanBps": 500, "maxScanBps": 3000, "scanDeviationsMilli": 4000,
                       "horizonNanos": 86_400_000_000_000, "volUpBps": 5000, "volDownBps": 3000, "extremeMultiple": 3,
                       "extremeCoverBps": 3300, "shortOptionMinimumBps": 100, "initialRatioBps": 13000},
            "realizedVolatility": {"halfLifeNanos": 3_600_000_000_000, "minIntervalNanos": 1_000_000_000,
                                   "initialVolatilityPpm": 600_000},
            "smiles": [{"expiry": expiry, "a": 20_000_000, "b": 100_000_000, "rho": -300_000_000, "m": 0,
                        "sigma": 100_000_000}],
        }],
        "markets": [{"id": CALL, "symbol": "BTC-30D-55000-C", "underlying": 1, "kind": "call",
                     "strike": 55_000 * USD, "expiry": expiry, "contractSize": 1_000_000, "tickSize": 100_000}],
    }  # fmt: skip
    path = work / "venue.json"
    path.write_text(json.dumps(config))
    h = Host(bin_dir(), work / "data", work / "host.log", config=path)
    yield h
    h.stop()


def _trader(host: Host, account: int, name: str, venue_id: int):
    c = Client(host.address)
    c.trust_without_attestation()
    key = demo_key("trader", name)
    c.deposit(demo_key("custody", "custody"), venue_id, account, bytes(key.verify_key), 1_000 * USD,
              secrets.randbits(63))
    for p in ("pyth-a", "pyth-b", "chainlink-c"):
        c.publish_price(demo_key("publisher", p), 1, 60_000 * USD, 0, time.time_ns())
    return c.open_session(account, key)


def test_an_option_market_is_published_and_verified(host):
    evidence = parse_evidence((host.data / "outputs" / "epoch.json").read_bytes())
    separator = eip712.domain_separator(evidence.chain_id, evidence.verifying_contract)
    maker = _trader(host, 6101, "py-option-maker", evidence.venue_id)
    taker = _trader(host, 6102, "py-option-taker", evidence.venue_id)
    snap = None
    for _ in range(500):
        try:
            snap = marketdata.snapshot(host.http, CALL, evidence.signer, separator)
        except Exception:  # 404 until the option market has a line under a published header
            snap = None
        if snap and not snap["halted"]:
            break
        time.sleep(0.01)
    assert snap and not snap["halted"], snap
    greeks = snap["option"].pop("greeks")  # MARKETDATA §2.1: a long of one whole unit; check 24a recomputes them
    assert snap["option"] == {"contractSize": 1_000_000, "expiry": snap["option"]["expiry"], "kind": "call",
                              "settled": False, "strike": 55_000 * USD, "underlying": 1,
                              "underlyingMark": 60_000 * USD}  # fmt: skip
    assert 0 < greeks["delta"] < 10**8 and greeks["gamma"] > 0 and greeks["vega"] > 0 and greeks["theta"] < 0
    assert greeks["impliedVolatilityPpm"] > 100_000 and abs(greeks["realizedVolatilityPpm"] - 600_000) <= 1
    assert snap["oracle"] == [] and snap["fundingRateBps"] == 0 and snap["nextFundingTime"] == 0
    assert snap["markPrice"] > 5_000 * USD
    premium = snap["markPrice"] // 100_000 * 100_000
    assert maker.place("py-call-ask", CALL, Side.SELL, premium, 2_000_000).receipt.status.label == "accepted"
    assert taker.place("py-call-lift", CALL, Side.BUY, premium, 1_000_000).receipt.status.label == "accepted"
    for _ in range(500):
        snap = marketdata.snapshot(host.http, CALL, evidence.signer, separator)
        if snap["openInterest"] == 1_000_000:
            break
        time.sleep(0.01)
    assert snap["openInterest"] == 1_000_000 and snap["asks"] == [[premium, 1_000_000]]

    # The signed volatility feed (PROTOCOL §2.17): a higher-variance smile reprices the call.
    before = snap["markPrice"]
    expiry = snap["option"]["expiry"]
    svi = (90_000_000, 100_000_000, -300_000_000, 0, 100_000_000)
    answer = maker.client.publish_smile(demo_key("publisher", "pyth-a"), 1, expiry, svi, time.time_ns())
    assert answer.ack.acknowledged_type == wire.ORACLE_SMILE
    with pytest.raises(Refused) as refused:
        maker.client.publish_smile(demo_key("publisher", "pyth-a"), 1, expiry + 10**9, svi, time.time_ns())
    assert refused.value.label == "unknownExpiry"
    for _ in range(500):
        snap = marketdata.snapshot(host.http, CALL, evidence.signer, separator)
        if snap["markPrice"] != before:
            break
        time.sleep(0.01)
    assert snap["markPrice"] > before, (before, snap["markPrice"])

    assert host.stop() == 0
    lines = [json.loads(line) for line in (host.data / "outputs" / "marketdata.jsonl").read_text().splitlines()]
    trades = [t for r in lines if r["market"] == CALL for t in r["trades"]]
    assert [(t["price"], t["size"], t["aggressor"]) for t in trades] == [(premium, 1_000_000, "buy")]
    mine = verify_directory(str(host.data), evidence.signer, evidence.chain_id, evidence.verifying_contract,
                            evidence.venue_id)  # fmt: skip
    assert mine["ok"], [c for c in mine["checks"] if not c["pass"]]
    # The smile is published in inputs.jsonl and passes the public-input checks (COMMITMENTS §4.1, §5.3).
    inputs = [json.loads(line) for line in (host.data / "outputs" / "inputs.jsonl").read_text().splitlines()]
    assert [(r["a"], r["expiry"]) for r in inputs if r["kind"] == "oracleSmile"] == [(svi[0], expiry)]
    config = json.loads((host.data.parent / "venue.json").read_text())
    public = verify_directory(str(host.data), evidence.signer, evidence.chain_id, evidence.verifying_contract,
                              evidence.venue_id, public=True, config=config)  # fmt: skip
    assert public["ok"], [c for c in public["checks"] if not c["pass"]]
    assert {c["check"]: c["pass"] for c in public["checks"]}["marks.options"] is True

    def auditor() -> dict:
        out = subprocess.run([str(bin_dir() / "attestation"), "verify-outputs", "--data-dir", str(host.data), "--evidence",
                              str(host.data / "outputs" / "epoch.json"), "--config", str(host.data.parent / "venue.json"),
                              "--json"], capture_output=True, text=True)  # fmt: skip
        return json.loads(out.stdout)

    def failures(report: dict) -> dict:
        return {c["check"]: c.get("error") for c in report["checks"] if not c["pass"]}

    swift = auditor()
    assert [(c["check"], c["pass"]) for c in swift["checks"]] == [(c["check"], c["pass"]) for c in public["checks"]]
    assert next(c for c in swift["checks"] if c["check"] == "marks.options")["detail"].startswith(f"{sum(r['market'] == CALL for r in lines)} ")
    # The call's last line one micro-unit off: both name it at check 24a (and the root, 18).
    path = host.data / "outputs" / "marketdata.jsonl"
    original = path.read_text()
    rows = original.splitlines(keepends=True)
    k = max(i for i, row in enumerate(rows) if json.loads(row)["market"] == CALL)
    row = json.loads(rows[k])
    rows[k] = rows[k].replace(f'"markPrice":{row["markPrice"]},', f'"markPrice":{row["markPrice"] + 1},')
    path.write_text("".join(rows))
    forged = verify_directory(str(host.data), evidence.signer, evidence.chain_id, evidence.verifying_contract,
                              evidence.venue_id, public=True, config=config)  # fmt: skip
    assert failures(forged) == failures(auditor()) == {"marketdata.root": None, "marks.options": "mark"}
    # Its delta one unit off: both name the Greeks.
    delta = row["option"]["greeks"]["delta"]
    rows[k] = original.splitlines(keepends=True)[k].replace(f'"delta":{delta},', f'"delta":{delta - 1},', 1)
    path.write_text("".join(rows))
    forged = verify_directory(str(host.data), evidence.signer, evidence.chain_id, evidence.verifying_contract,
                              evidence.venue_id, public=True, config=config)  # fmt: skip
    assert failures(forged) == failures(auditor()) == {"marketdata.root": None, "marks.options": "greeks"}
    path.write_text(original)
