"""Public market data (docs/MARKETDATA.md): the snapshot endpoint and the WebSocket feed,
every line checked against its signed header before it is believed."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import ssl
import struct
from dataclasses import dataclass, field

from . import eip712, merkle
from .errors import CertificateRejected, ProofError, SealstreamError
from .http import HTTPClient
from .outputs.strict import read_header, read_market_data, strict_loads

_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def verify_line(message: dict, header: dict, signer: str | None = None, separator: bytes | None = None) -> dict:
    """A snapshot or update message's line (§6), checked: the header's hash recomputed from
    its fields (and its signature when `signer` and the domain `separator` are given), the
    inclusion proof of the line into `marketDataRoot`; then the line read strictly. Returns
    the record; raises ProofError."""
    header = read_header(json.dumps(header, separators=(",", ":")).encode())
    values = eip712.header_values(header)
    struct_hash = eip712.header_hash(values)
    if header["headerHash"] != "0x" + struct_hash.hex():
        raise ProofError("header hash is not the hash of its fields")
    if signer is not None and separator is not None:
        if eip712.recover_signer(eip712.digest(separator, struct_hash), header["signature"]) != signer.lower():
            raise ProofError("header not signed by the expected signer")
    line = message["line"].encode()
    proof = [bytes.fromhex(p[2:]) for p in message["proof"]]
    if not merkle.verify_inclusion(merkle.leaf_hash(line), message["leafIndex"], message["leafCount"], proof,
                                   bytes.fromhex(header["marketDataRoot"][2:])):  # fmt: skip
        raise ProofError("line is not in the header's marketDataRoot")
    record = read_market_data(line)
    if (record["batchIndex"], record["market"], record["marketSequence"]) != (
        header["batchIndex"], message["market"], message["marketSequence"]):  # fmt: skip
        raise ProofError("message fields disagree with the line")
    return record


def snapshot(http: str, market: int, signer: str | None = None, separator: bytes | None = None) -> dict:
    """`GET /v1/marketdata/snapshot?market=M`, verified; the record."""
    m = strict_loads(HTTPClient(http).get(f"/v1/marketdata/snapshot?market={market}"))
    return verify_line(m, m["header"], signer, separator)


@dataclass
class Event:
    kind: str  # "record", "gap"
    record: dict | None = None
    snapshot: bool = False
    market: int = 0
    expected: int = 0
    got: int = 0


@dataclass
class Feed:
    """A blocking consumer of `GET /v1/feed` (§6) that verifies every line and resyncs on a gap.

    `http` is `HOST:PORT`. With `tls` the feed is read over `wss:` (a TLS-terminating proxy
    in front of the host): the certificate must chain to the system's trusted CAs, or with
    `ca_file` to that PEM file's alone, and name HOST (a DNS name, sent as SNI, or an IP
    address); if it does not, `CertificateRejected` is raised and nothing is read."""

    http: str
    markets: list[int] | None = None
    signer: str | None = None
    separator: bytes | None = None
    timeout: float = 10.0
    tls: bool = False
    ca_file: str | None = None
    next: dict[int, int] = field(default_factory=dict)
    resyncing: set[int] = field(default_factory=set)

    def __post_init__(self) -> None:
        if self.ca_file is not None and not self.tls:
            raise ValueError("ca_file needs tls=True")
        host, port = self.http.rsplit(":", 1)
        self.sock = socket.create_connection((host, int(port)), timeout=self.timeout)
        if self.tls:
            # Verification and the name check are on in this context (CERT_REQUIRED,
            # check_hostname); a cafile replaces the system's store.
            context = ssl.create_default_context(cafile=self.ca_file)
            try:
                self.sock = context.wrap_socket(self.sock, server_hostname=host.strip("[]"))
            except ssl.SSLCertVerificationError as e:
                self.sock.close()
                raise CertificateRejected(self.http, e.verify_message) from e
            except ssl.SSLError as e:  # no TLS on the other side, no common version, …
                self.sock.close()
                raise SealstreamError(f"TLS handshake with {self.http} failed: {e}") from e
        key = base64.b64encode(os.urandom(16))
        query = "?markets=" + ",".join(map(str, self.markets)) if self.markets else ""
        self.sock.sendall(b"GET /v1/feed" + query.encode() + b" HTTP/1.1\r\nHost: " + self.http.encode()
                          + b"\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: " + key
                          + b"\r\nSec-WebSocket-Version: 13\r\n\r\n")  # fmt: skip
        self.buffer = b""
        while b"\r\n\r\n" not in self.buffer:
            self._read()
        head, self.buffer = self.buffer.split(b"\r\n\r\n", 1)
        lines = head.split(b"\r\n")
        accept = base64.b64encode(hashlib.sha1(key + _GUID).digest())
        fields = {k.strip().lower(): v.strip() for k, v in (x.split(b":", 1) for x in lines[1:] if b":" in x)}
        if not lines[0].startswith(b"HTTP/1.1 101") or fields.get(b"sec-websocket-accept") != accept:
            raise SealstreamError(f"feed refused: {lines[0]!r}")
        self.header: dict | None = None

    def _read(self) -> None:
        chunk = self.sock.recv(65536)
        if not chunk:
            raise SealstreamError("feed closed by the host")
        self.buffer += chunk

    def _frame(self) -> tuple[int, bytes]:
        while True:
            b = self.buffer
            if len(b) >= 2:
                if b[1] & 0x80:
                    raise SealstreamError("masked frame from the server")
                n, at = b[1] & 0x7F, 2
                if n == 126 and len(b) >= 4:
                    n, at = struct.unpack(">H", b[2:4])[0], 4
                elif n == 127 and len(b) >= 10:
                    n, at = struct.unpack(">Q", b[2:10])[0], 10
                if n < 126 or at > 2:
                    if len(b) >= at + n:
                        self.buffer = b[at + n :]
                        return b[0] & 0x0F, b[at : at + n]
            self._read()

    def _send(self, opcode: int, payload: bytes) -> None:
        mask = os.urandom(4)
        assert len(payload) < 126
        self.sock.sendall(bytes([0x80 | opcode, 0x80 | len(payload)]) + mask
                          + bytes(c ^ mask[i % 4] for i, c in enumerate(payload)))  # fmt: skip

    def resync(self) -> None:
        self._send(1, b'{"op":"resync"}')

    def receive(self, message: bytes) -> list[Event]:
        """What one text message means (the tracker, pure: usable without a socket)."""
        m = strict_loads(message)
        if m["type"] == "header":
            self.header = m["header"]
            return []
        snap = m["type"] == "snapshot"
        header = m["header"] if snap else self.header
        if header is None:
            raise ProofError("update before any header")
        record = verify_line(m, header, self.signer, self.separator)
        market, sequence = m["market"], m["marketSequence"]
        if snap:
            self.resyncing.discard(market)
            self.next[market] = max(self.next.get(market, 0), sequence + 1)
            return [Event("record", record, True)]
        if market in self.resyncing:
            return []
        expected = self.next.get(market)
        if expected is not None and sequence != expected:
            if sequence < expected:
                return []
            self.resyncing.add(market)
            return [Event("gap", market=market, expected=expected, got=sequence)]
        self.next[market] = sequence + 1
        return [Event("record", record, False)]

    def messages(self) -> bytes:
        """The next text message (pings answered)."""
        while True:
            opcode, payload = self._frame()
            if opcode == 9:
                self._send(10, payload)
            elif opcode == 8:
                raise SealstreamError("feed closed by the host")
            elif opcode == 1:
                return payload

    def events(self):
        """Verified records and gaps, forever; a gap is answered with a resync."""
        while True:
            for e in self.receive(self.messages()):
                if e.kind == "gap":
                    self.resync()
                yield e

    def close(self) -> None:
        self.sock.close()
