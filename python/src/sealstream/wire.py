"""Frames and message bodies of docs/PROTOCOL.md §1–2. Pure: bytes in, values out.

All integers are unsigned big-endian unless the doc marks them i64.
"""

from __future__ import annotations

import struct
from dataclasses import dataclass

from .errors import WireError

VERSION = 1
MAX_LENGTH = 65536  # the frame's length field (bytes after it)

# Message types (§2).
EVIDENCE_REQUEST, SESSION_OPEN, SEALED_REQUEST, ORACLE_PRICE, DEPOSIT, ACTIVATE_CREDENTIAL = 0x01, 0x02, 0x03, 0x04, 0x05, 0x06
EVIDENCE, SESSION_ACCEPTED, SEALED_RECEIPT, PUBLIC_ACK, REFUSAL = 0x81, 0x82, 0x83, 0x84, 0x85
ERROR, NOTICE, SEALED_EVENT, CREDENTIAL_ACTIVATED = 0x86, 0x87, 0x88, 0x89
# Key enrollment between hosts (docs/REPLICATION.md §11); clients never send them.
ENROLL_CHALLENGE_REQUEST, ENROLL_REQUEST, ENROLL_CHALLENGE, ENROLL_GRANT = 0x07, 0x08, 0x8A, 0x8B
# Private statements (§2.16).
STATEMENT_REQUEST, STATEMENT_REPLY = 0x09, 0x8C
# The signed volatility feed (§2.17): a raw SVI smile per (underlying, expiry).
ORACLE_SMILE = 0x0A

# Exact (int) or minimum ((n,)) body sizes per type.
BODY_SIZES: dict[int, int | tuple[int]] = {
    EVIDENCE_REQUEST: 32, SESSION_OPEN: 128, SEALED_REQUEST: (33,), ORACLE_PRICE: 124, DEPOSIT: 120,
    ACTIVATE_CREDENTIAL: (4,), EVIDENCE: (1,), SESSION_ACCEPTED: 104, SEALED_RECEIPT: (32,), PUBLIC_ACK: 25,
    REFUSAL: 19, ERROR: (2,), NOTICE: 10, SEALED_EVENT: (33,), CREDENTIAL_ACTIVATED: (1,),
    ENROLL_CHALLENGE_REQUEST: 32, ENROLL_REQUEST: (33,), ENROLL_CHALLENGE: (33,), ENROLL_GRANT: (93,),
    STATEMENT_REQUEST: 52, STATEMENT_REPLY: (33,), ORACLE_SMILE: 156,
}  # fmt: skip

ERROR_LABELS = {
    1: "bad_length", 2: "frame_too_large", 3: "unsupported_version", 4: "unknown_type",
    5: "bad_body_length", 6: "invalid_field", 7: "truncated",
}  # fmt: skip

REFUSAL_LABELS = {
    1: "unknownSession", 2: "replayOrReorder", 3: "authenticationFailed", 4: "sessionIDInUse",
    5: "unknownAccount", 6: "badAccountSignature", 7: "badPublisherSignature", 8: "unknownPublisher",
    9: "badCustodySignature", 10: "duplicateDeposit", 11: "unknownMarket", 12: "malformed", 13: "sessionLimit",
    14: "accountKeyMismatch", 15: "enclaveUnavailable", 16: "invalidSessionKey", 17: "invalidAmount",
    18: "tooManyRequests", 19: "stalePrice", 20: "activationFailed", 21: "journalUnavailable", 22: "notPrimary",
    23: "enrollmentRefused", 24: "unknownExpiry", 25: "invalidSmile",
}  # fmt: skip

NOTICE_ENCLAVE_RESTARTED, NOTICE_SHUTTING_DOWN = 1, 2


@dataclass(frozen=True)
class Frame:
    type: int
    body: bytes

    def encode(self) -> bytes:
        return encode_frame(self.type, self.body)


def check_body_size(frame_type: int, size: int) -> None:
    want = BODY_SIZES.get(frame_type)
    if want is None:
        raise WireError(f"unknown frame type 0x{frame_type:02x}", "type")
    if isinstance(want, int) and size != want or isinstance(want, tuple) and size < want[0]:
        raise WireError(f"body of {size} bytes wrong for type 0x{frame_type:02x}", "body")


def encode_frame(frame_type: int, body: bytes) -> bytes:
    """`length u32 ‖ version ‖ type ‖ body`; refuses a body the receiver would refuse."""
    check_body_size(frame_type, len(body))
    if len(body) + 2 > MAX_LENGTH:
        raise WireError(f"frame of {len(body) + 2} bytes exceeds {MAX_LENGTH}", "length")
    return struct.pack(">IBB", len(body) + 2, VERSION, frame_type) + body


class FrameDecoder:
    """Incremental decoder: feed bytes, take whole frames. A malformed prefix raises at
    once (without waiting for the body of an oversized frame)."""

    def __init__(self) -> None:
        self._buf = bytearray()

    def feed(self, data: bytes) -> list[Frame]:
        self._buf += data
        frames = []
        while len(self._buf) >= 4:
            (length,) = struct.unpack_from(">I", self._buf)
            if length < 2:
                raise WireError(f"frame length {length} < 2", "length")
            if length > MAX_LENGTH:
                raise WireError(f"frame length {length} > {MAX_LENGTH}", "length")
            if len(self._buf) >= 5 and self._buf[4] != VERSION:
                raise WireError(f"unsupported version {self._buf[4]}", "version")
            if len(self._buf) < 4 + length:
                break
            frame_type = self._buf[5]
            body = bytes(self._buf[6 : 4 + length])
            del self._buf[: 4 + length]
            check_body_size(frame_type, len(body))
            frames.append(Frame(frame_type, body))
        return frames

    @property
    def pending(self) -> int:
        """Bytes of an incomplete frame held."""
        return len(self._buf)


# ------------------------------------------------------------------ replies (§2)


@dataclass(frozen=True)
class SessionAccepted:
    session_id: int
    salt: bytes
    sealed: bytes


@dataclass(frozen=True)
class SealedFrame:
    """A SealedRequest, SealedReceipt or SealedEvent: `session_id ‖ sequence ‖ ciphertext`."""

    session_id: int
    sequence: int
    ciphertext: bytes

    def encode_body(self) -> bytes:
        return struct.pack(">QQ", self.session_id, self.sequence) + self.ciphertext


@dataclass(frozen=True)
class PublicAck:
    acknowledged_type: int
    reference: int
    global_sequence: int
    enclave_time: int  # Unix ns


@dataclass(frozen=True)
class Refusal:
    refused_type: int
    session_id: int
    reference: int
    reason: int

    @property
    def reason_label(self) -> str:
        return REFUSAL_LABELS.get(self.reason, f"reason{self.reason}")


@dataclass(frozen=True)
class HostErrorFrame:
    code: int
    message: str


@dataclass(frozen=True)
class Notice:
    code: int
    value: int


def decode_session_accepted(body: bytes) -> SessionAccepted:
    check_body_size(SESSION_ACCEPTED, len(body))
    return SessionAccepted(struct.unpack_from(">Q", body)[0], body[8:40], body[40:])


def decode_sealed(frame_type: int, body: bytes) -> SealedFrame:
    check_body_size(frame_type, len(body))
    sid, seq = struct.unpack_from(">QQ", body)
    return SealedFrame(sid, seq, body[16:])


def decode_public_ack(body: bytes) -> PublicAck:
    check_body_size(PUBLIC_ACK, len(body))
    ack = PublicAck(*struct.unpack(">BQQQ", body))
    # A type, reason or code §2 does not list is refused, as the Swift decoders do (§1).
    if ack.acknowledged_type not in BODY_SIZES:
        raise WireError(f"acknowledged type {ack.acknowledged_type}", "acknowledged_type")
    return ack


def decode_refusal(body: bytes) -> Refusal:
    check_body_size(REFUSAL, len(body))
    refusal = Refusal(*struct.unpack(">BQQH", body))
    if refusal.refused_type not in BODY_SIZES:
        raise WireError(f"refused type {refusal.refused_type}", "refused_type")
    if refusal.reason not in REFUSAL_LABELS:
        raise WireError(f"refusal reason {refusal.reason}", "reason")
    return refusal


def decode_error(body: bytes) -> HostErrorFrame:
    check_body_size(ERROR, len(body))
    return HostErrorFrame(struct.unpack_from(">H", body)[0], body[2:].decode("utf-8", "replace"))


def decode_notice(body: bytes) -> Notice:
    check_body_size(NOTICE, len(body))
    notice = Notice(*struct.unpack(">HQ", body))
    if notice.code not in (NOTICE_ENCLAVE_RESTARTED, NOTICE_SHUTTING_DOWN):
        raise WireError(f"notice code {notice.code}", "code")
    return notice


def decode_credential_activated(body: bytes) -> bytes:
    check_body_size(CREDENTIAL_ACTIVATED, len(body))
    if body[0] != len(body) - 1:
        raise WireError("credential length does not match the body", "len")
    return body[1:]


def encode_activate_credential(id_object: bytes, encrypted_secret: bytes) -> bytes:
    """`blob_len u16 ‖ TPM2B_ID_OBJECT ‖ secret_len u16 ‖ TPM2B_ENCRYPTED_SECRET` (§2.13)."""
    for part in (id_object, encrypted_secret):
        if len(part) > 1024:
            raise WireError("credential part exceeds 1,024 bytes", "blob")
    return struct.pack(">H", len(id_object)) + id_object + struct.pack(">H", len(encrypted_secret)) + encrypted_secret
