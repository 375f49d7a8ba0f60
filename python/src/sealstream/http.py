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

    def events(self, batch: int) -> bytes:
        """The batch's event leaves, 49 bytes each, as `events.log` holds them (§4.2)."""
        return self.get(f"/v1/events?batch={batch}")

    def market_data(self, batch: int) -> bytes:
        return self.get(f"/v1/marketdata?batch={batch}")

    def event_proof(self, sequence: int) -> bytes:
        """404 (HTTPError) until a published header covers `sequence`."""
        return self.get(f"/v1/events/proof?sequence={sequence}")

    def evidence(self, nonce: bytes) -> bytes:
        return self.get(f"/v1/evidence?nonce={nonce.hex()}")


def record_array(body: bytes) -> list[bytes]:
    """The elements of a record array (COMMITMENTS.md §4.2: `[` line `,` line … `]`, the
    published lines verbatim), split at its top-level commas minding strings, escapes and
    nesting; each element byte for byte, to be read strictly afterwards. ValueError when
    the body is not such an array."""
    if len(body) < 2 or body[0:1] != b"[" or body[-1:] != b"]":
        raise ValueError("not a record array")
    if len(body) == 2:
        return []
    out, depth, in_string, escaped, start = [], 0, False, False, 1
    for i in range(1, len(body) - 1):
        c = body[i]
        if in_string:
            if escaped:
                escaped = False
            elif c == 0x5C:
                escaped = True
            elif c == 0x22:
                in_string = False
            continue
        if c == 0x22:
            in_string = True
        elif c in b"{[":
            depth += 1
        elif c in b"}]":
            depth -= 1
            if depth < 0:
                raise ValueError("not a record array")
        elif c == 0x2C and depth == 0:
            if i == start:
                raise ValueError("empty element")
            out.append(body[start:i])
            start = i + 1
    if in_string or depth != 0 or start >= len(body) - 1:
        raise ValueError("not a record array")
    out.append(body[start:-1])
    return out


def fetch_outputs(http: HTTPClient, page: int = 1000) -> dict[str, bytes]:
    """The current epoch's published outputs read back through the API, as the files' bytes
    for every batch the listed headers cover (COMMITMENTS.md §5, `--url`): the header lines
    a page at a time until a short page, then per batch its decisions, inputs, funding,
    market data and event leaves. HTTPError on any answer but 200 (run it again)."""
    headers: list[bytes] = []
    while True:
        got = record_array(http.batches(len(headers), page))
        headers += got
        if len(got) < page:
            break
    files = {name: bytearray() for name in
             ("batches.jsonl", "decisions.jsonl", "inputs.jsonl", "funding.jsonl", "marketdata.jsonl", "events.log")}
    for line in headers:
        files["batches.jsonl"] += line + b"\n"
    for i in range(len(headers)):
        for name, get in (("decisions.jsonl", http.decisions), ("inputs.jsonl", http.inputs),
                          ("funding.jsonl", http.funding), ("marketdata.jsonl", http.market_data)):
            for line in record_array(get(i)):
                files[name] += line + b"\n"
        files["events.log"] += http.events(i)
    # The same epoch throughout: the first and last listed headers, asked for again, must
    # be the bytes listed (COMMITMENTS.md §5); otherwise another epoch started meanwhile.
    for i in sorted({0, len(headers) - 1}):
        if 0 <= i < len(headers) and record_array(http.batches(i, 1)) != [headers[i]]:
            raise EpochChanged(i)
    return {name: bytes(b) for name, b in files.items()}


class EpochChanged(SealstreamError):
    """A listed header was answered differently at the end of `fetch_outputs`: another
    epoch started while reading; run it again."""

    def __init__(self, batch: int):
        super().__init__(f"batch {batch}'s header changed while reading: another epoch started; run it again")
        self.batch = batch
