"""The market data feed over `wss:` through the Python SDK (docs/MARKETDATA.md §6 item 3):
a real host that ran the demo scenario, scripts/tls-proxy.py in front of its HTTP
listener. Given the proxy's CA, `Feed(..., tls=True)` reads verified lines; without it,
or under a name the certificate does not carry, it refuses with OpenSSL's reason and
reads nothing, and it never reads the feed in plain instead."""

from __future__ import annotations

import subprocess

import pytest
from live import SCENARIO, VENUE, Host, TLSProxy, bin_dir

from sealstream import eip712, marketdata
from sealstream.errors import CertificateRejected, SealstreamError
from sealstream.evidence import parse_evidence


@pytest.fixture(scope="module")
def venue(tmp_path_factory):
    work = tmp_path_factory.mktemp("marketdata-tls")
    host = Host(bin_dir(), work / "data", work / "host.log")
    try:
        subprocess.run([str(bin_dir() / "sealstream-client"), "scenario", str(SCENARIO), "--host", host.address,
                        "--venue", str(VENUE), "--no-attestation"],
                       check=True, capture_output=True, timeout=120)  # fmt: skip
        proxy = TLSProxy(host.http, work / "proxy")
        try:
            yield host, proxy
        finally:
            proxy.stop()
    finally:
        host.stop()


def test_given_the_proxys_ca_the_feed_is_read_over_tls_and_verified(venue):
    host, proxy = venue
    evidence = parse_evidence((host.data / "outputs" / "epoch.json").read_bytes())
    separator = eip712.domain_separator(evidence.chain_id, evidence.verifying_contract)
    feed = marketdata.Feed(f"127.0.0.1:{proxy.port}", [1], signer=evidence.signer, separator=separator, tls=True,
                           ca_file=str(proxy.certificate))  # fmt: skip
    event = next(feed.events())  # raises ProofError unless the line checks under the signer
    feed.close()
    assert event.kind == "record" and event.snapshot
    assert event.record["market"] == 1
    # The same market's line as the snapshot endpoint serves over plain HTTP (or an earlier one).
    assert event.record["marketSequence"] <= marketdata.snapshot(host.http, 1)["marketSequence"]


def test_without_ca_file_the_system_store_is_openssls_default_paths(venue, monkeypatch):
    # SSL_CERT_FILE replaces OpenSSL's default verify paths (MARKETDATA §6): pointed at the
    # proxy's certificate, the "system store" accepts it; the path a public CA takes.
    host, proxy = venue
    monkeypatch.setenv("SSL_CERT_FILE", str(proxy.certificate))
    monkeypatch.setenv("SSL_CERT_DIR", "/nonexistent")
    evidence = parse_evidence((host.data / "outputs" / "epoch.json").read_bytes())
    separator = eip712.domain_separator(evidence.chain_id, evidence.verifying_contract)
    feed = marketdata.Feed(f"127.0.0.1:{proxy.port}", [1], signer=evidence.signer, separator=separator, tls=True)
    event = next(feed.events())
    feed.close()
    assert event.kind == "record" and event.record["market"] == 1


def test_a_certificate_that_fails_verification_is_refused_with_its_reason(venue):
    host, proxy = venue
    # The system's store does not hold the proxy's self-signed certificate.
    with pytest.raises(CertificateRejected) as untrusted:
        marketdata.Feed(f"127.0.0.1:{proxy.port}", [1], tls=True)
    assert untrusted.value.reason == "self-signed certificate"
    # Trusted, but the certificate names 127.0.0.1 only.
    with pytest.raises(CertificateRejected) as misnamed:
        marketdata.Feed(f"localhost:{proxy.port}", [1], tls=True, ca_file=str(proxy.certificate))
    assert misnamed.value.reason.startswith("Hostname mismatch"), misnamed.value.reason
    # tls=True against the host's plain listener: a failed handshake, not a plain feed.
    with pytest.raises(SealstreamError, match="TLS handshake with"):
        marketdata.Feed(host.http, [1], tls=True, ca_file=str(proxy.certificate))
    with pytest.raises(ValueError):
        marketdata.Feed(host.http, [1], ca_file=str(proxy.certificate))
