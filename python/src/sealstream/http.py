"""The host's read-only HTTP API (docs/COMMITMENTS.md §4). Nothing it answers is
trusted: verify headers against the attested signer (`proofs`, `outputs`)."""

from __future__ import annotations

import urllib.error
import urllib.request

from .errors import SealstreamError


class HTTPError(SealstreamError):
    def __init__(self, status: int, url: str):
        super().__init__(f"HTTP {status} for {url}")
        self.status = status


class HTTPClient:
    def __init__(self, address: str, timeout: float = 10.0):
        self.base = address if address.startswith("http") else "http://" + address
        self.timeout = timeout

    def get(self, path: str) -> bytes:
        url = self.base + path
        try:
            with urllib.request.urlopen(url, timeout=self.timeout) as r:
                return r.read()
        except urllib.error.HTTPError as e:
            raise HTTPError(e.code, url) from None

    def batches(self, start: int = 0, limit: int = 100) -> bytes:
        return self.get(f"/v1/batches?from={start}&limit={limit}")

    def batch(self, index: int) -> bytes:
        return self.get(f"/v1/batches/{index}")

    def decisions(self, batch: int) -> bytes:
        return self.get(f"/v1/decisions?batch={batch}")

    def inputs(self, batch: int) -> bytes:
        """The batch's public input lines (COMMITMENTS.md §4.1, §4.2); check with `proofs.verify_inputs`."""
        return self.get(f"/v1/inputs?batch={batch}")

    def funding(self, batch: int) -> bytes:
        """The batch's signed funding lines (§4.3, §4.2); check with `proofs.verify_funding`."""
        return self.get(f"/v1/funding?batch={batch}")

    def event_proof(self, sequence: int) -> bytes:
        """404 (HTTPError) until a published header covers `sequence`."""
        return self.get(f"/v1/events/proof?sequence={sequence}")

    def evidence(self, nonce: bytes) -> bytes:
        return self.get(f"/v1/evidence?nonce={nonce.hex()}")
