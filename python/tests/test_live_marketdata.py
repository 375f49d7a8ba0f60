"""Public market data through the Python SDK against a real host (docs/MARKETDATA.md):
the feed's lines verified under the attested signer, a lost update detected and resynced,
the snapshot endpoint, and verify-outputs over marketdata.jsonl."""

from __future__ import annotations

import subprocess
import threading

import pytest
from live import SCENARIO, VENUE, Host, bin_dir

from sealstream import eip712, marketdata
from sealstream.errors import ProofError
from sealstream.evidence import parse_evidence
from sealstream.outputs import verify_directory


@pytest.fixture(scope="module")
def host(tmp_path_factory):
    work = tmp_path_factory.mktemp("marketdata")
    h = Host(bin_dir(), work / "data", work / "host.log")
    yield h
    h.stop()


def _close_status(feed: marketdata.Feed) -> int:
    """The status of the host's close frame, reading past any message before it."""
    while True:
        opcode, payload = feed._frame()
        if opcode == 8:
            feed.close()
            assert len(payload) == 2, payload  # the status alone, no reason text
            return int.from_bytes(payload, "big")


def test_a_client_close_frame_is_answered_with_a_close_frame(host):
    # MARKETDATA.md §6 and RFC 6455 §5.5.1: the host used to close the TCP connection
    # without answering the close frame.
    feed = marketdata.Feed(host.http, [1])
    feed._send(8, (1001).to_bytes(2, "big"))
    assert _close_status(feed) == 1000


def test_an_unmasked_client_frame_is_refused_with_1002(host):
    # MARKETDATA.md §6 and RFC 6455 §5.1: the host used to act on an unmasked resync.
    feed = marketdata.Feed(host.http, [1])
    request = b'{"op":"resync"}'
    feed.sock.sendall(bytes([0x81, len(request)]) + request)
    assert _close_status(feed) == 1002


def test_feed_lines_verify_and_a_lost_update_is_resynced(host):
    evidence = parse_evidence((host.data / "outputs" / "epoch.json").read_bytes())
    separator = eip712.domain_separator(evidence.chain_id, evidence.verifying_contract)
    feed = marketdata.Feed(host.http, [1], signer=evidence.signer, separator=separator)
    scenario = threading.Thread(target=lambda: subprocess.run(
        [str(bin_dir() / "sealstream-client"), "scenario", str(SCENARIO), "--host", host.address, "--venue", str(VENUE),
         "--no-attestation"], check=True, capture_output=True, timeout=120))  # fmt: skip
    scenario.start()
    records, gaps, snapshots, dropped = [], 0, 0, False
    while snapshots < 1 or len(records) < 6:
        message = feed.messages()
        if not dropped and len(records) == 3 and b'"type":"update"' in message:
            dropped = True  # lose one update on purpose
            continue
        for e in feed.receive(message):
            if e.kind == "gap":
                gaps += 1
                feed.resync()
            elif e.snapshot:
                snapshots += 1
            else:
                records.append(e.record)
    scenario.join()
    assert gaps == 1 and snapshots == 1
    assert all(r["market"] == 1 and r["policy"] == "lit" for r in records)
    feed.close()
    snap = marketdata.snapshot(host.http, 1, evidence.signer, separator)
    assert snap["market"] == 1 and snap["marketSequence"] >= records[-1]["marketSequence"]
    raw = marketdata.strict_loads(marketdata.HTTPClient(host.http).get("/v1/marketdata/snapshot?market=1"))
    # A line edited by one byte no longer verifies.
    raw["line"] = raw["line"].replace('"venueId":7400', '"venueId":7401')
    with pytest.raises(ProofError):
        marketdata.verify_line(raw, raw["header"], evidence.signer, separator)


def test_verify_outputs_checks_market_data_like_the_auditor(host):
    assert host.stop() == 0
    evidence = parse_evidence((host.data / "outputs" / "epoch.json").read_bytes())
    mine = verify_directory(str(host.data), evidence.signer, evidence.chain_id, evidence.verifying_contract,
                            evidence.venue_id)  # fmt: skip
    assert mine["ok"], [c for c in mine["checks"] if not c["pass"]]
    path = host.data / "outputs" / "marketdata.jsonl"
    lines = path.read_text().splitlines(keepends=True)
    assert len(lines) >= 8
    lines[1] = lines[1].replace('"openInterest":', '"openInterest":1', 1)
    path.write_text("".join(lines))
    mine = verify_directory(str(host.data), evidence.signer, evidence.chain_id, evidence.verifying_contract,
                            evidence.venue_id)  # fmt: skip
    assert [c["check"] for c in mine["checks"] if not c["pass"]] == ["marketdata.root"]
