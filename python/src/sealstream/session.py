"""Session cryptography of docs/PROTOCOL.md §3: crypto_kx, salted keys, derived nonces,
associated data, XChaCha20-Poly1305 IETF. Secrets stay in this object and are never
printed (`repr` shows only the session id)."""

from __future__ import annotations

import secrets
import struct

from nacl import bindings
from nacl.exceptions import CryptoError as _NaclCryptoError

from . import messages, wire
from .errors import CryptoError, WireError

SALT_DOMAIN = b"sealstream/v1/session-salt"
DIR_CLIENT, DIR_RECEIPT, DIR_EVENT = 0x01, 0x02, 0x03


def nonce(direction: int, sequence: int) -> bytes:
    """`direction u8 ‖ 15 zero bytes ‖ sequence u64` (24 bytes)."""
    return bytes([direction]) + b"\x00" * 15 + struct.pack(">Q", sequence)


def associated_data(frame_type: int, session_id: int, sequence: int) -> bytes:
    """`version u8 ‖ type u8 ‖ session_id u64 ‖ sequence u64` (18 bytes)."""
    return struct.pack(">BBQQ", wire.VERSION, frame_type, session_id, sequence)


def salted(key: bytes, salt: bytes) -> bytes:
    """BLAKE2b-256 keyed with `key` over `"sealstream/v1/session-salt" ‖ salt`."""
    return bindings.crypto_generichash_blake2b_salt_personal(SALT_DOMAIN + salt, digest_size=32, key=key)


def seal(key: bytes, direction: int, frame_type: int, session_id: int, sequence: int, plaintext: bytes) -> bytes:
    return bindings.crypto_aead_xchacha20poly1305_ietf_encrypt(
        plaintext, associated_data(frame_type, session_id, sequence), nonce(direction, sequence), key
    )


def open_sealed(key: bytes, direction: int, frame_type: int, session_id: int, sequence: int, ct: bytes) -> bytes:
    try:
        return bindings.crypto_aead_xchacha20poly1305_ietf_decrypt(
            ct, associated_data(frame_type, session_id, sequence), nonce(direction, sequence), key
        )
    except _NaclCryptoError:
        raise CryptoError(f"sealed body of type 0x{frame_type:02x} sequence {sequence} does not open") from None


class Session:
    """One order-flow session with the attested enclave key.

    `open_frame()` builds the SessionOpen body; `accept()` takes the SessionAccepted
    reply; then `seal_request()` / `open_receipt()` / `open_event()`.
    """

    def __init__(self, enclave_key: bytes, account_id: int, signing_key, session_id: int | None = None):
        if len(enclave_key) != 32:
            raise WireError("enclave key must be 32 bytes", "enclaveKey")
        self.enclave_key = enclave_key
        self.account_id = account_id
        self._signing_key = signing_key  # nacl.signing.SigningKey of the account
        self.session_id = session_id if session_id is not None else self.draw_session_id()
        self.client_pk, self._client_sk = bindings.crypto_kx_keypair()
        self._rx, self._tx = bindings.crypto_kx_client_session_keys(self.client_pk, self._client_sk, enclave_key)
        self.accepted: messages.Acceptance | None = None
        self.last_sequence = 0
        self.last_event_sequence = 0

    def __repr__(self) -> str:
        return f"Session(session_id={self.session_id}, account_id={self.account_id})"

    @staticmethod
    def draw_session_id() -> int:
        while True:
            sid = secrets.randbits(64)
            if sid:
                return sid

    def open_body(self) -> bytes:
        """SessionOpen (0x02) body: `session_id ‖ client_key ‖ sealed SessionAuth`."""
        transcript = messages.session_auth_transcript(self.enclave_key, self.client_pk, self.session_id, self.account_id)
        signature = self._signing_key.sign(transcript).signature
        auth = struct.pack(">Q", self.account_id) + signature
        sealed = seal(self._tx, DIR_CLIENT, wire.SESSION_OPEN, self.session_id, 0, auth)
        return struct.pack(">Q", self.session_id) + self.client_pk + sealed

    def accept(self, accepted: wire.SessionAccepted) -> messages.Acceptance:
        """Salt the keys and open the acceptance; CryptoError if the peer lacks the attested key."""
        if accepted.session_id != self.session_id:
            raise WireError("acceptance for another session", "session_id")
        rx, tx = salted(self._rx, accepted.salt), salted(self._tx, accepted.salt)
        plain = open_sealed(rx, DIR_RECEIPT, wire.SESSION_ACCEPTED, self.session_id, 0, accepted.sealed)
        acceptance = messages.decode_acceptance(plain)
        if acceptance.account_id != self.account_id:
            raise CryptoError("acceptance names another account")
        self._rx, self._tx = rx, tx
        self.accepted = acceptance
        return acceptance

    def seal_request(self, plaintext: bytes, sequence: int | None = None) -> bytes:
        """SealedRequest (0x03) body for the next (or the given, larger) sequence number."""
        if self.accepted is None:
            raise WireError("session not accepted yet", "session")
        seq = self.last_sequence + 1 if sequence is None else sequence
        if seq <= self.last_sequence:
            raise WireError("sequence numbers must increase", "sequence")
        self.last_sequence = seq
        ct = seal(self._tx, DIR_CLIENT, wire.SEALED_REQUEST, self.session_id, seq, plaintext)
        return wire.SealedFrame(self.session_id, seq, ct).encode_body()

    def seal_statement_request(self, plaintext: bytes) -> bytes:
        """StatementRequest (0x09) body: the next sequence number of the session's one counter."""
        if self.accepted is None:
            raise WireError("session not accepted yet", "session")
        self.last_sequence += 1
        ct = seal(self._tx, DIR_CLIENT, wire.STATEMENT_REQUEST, self.session_id, self.last_sequence, plaintext)
        return wire.SealedFrame(self.session_id, self.last_sequence, ct).encode_body()

    def open_statement_reply(self, frame: wire.SealedFrame) -> bytes:
        """The plaintext of a StatementReply (0x8c): sealed in the receipt direction."""
        return open_sealed(self._rx, DIR_RECEIPT, wire.STATEMENT_REPLY, frame.session_id, frame.sequence, frame.ciphertext)

    def open_receipt(self, frame: wire.SealedFrame) -> messages.Receipt:
        plain = open_sealed(self._rx, DIR_RECEIPT, wire.SEALED_RECEIPT, frame.session_id, frame.sequence, frame.ciphertext)
        return messages.decode_receipt(plain)

    def open_event(self, frame: wire.SealedFrame) -> messages.FillEvent | messages.MarginCallEvent:
        """A pushed SealedEvent (0x88): a fill of a resting order (kind 1) or a margin call (2)."""
        if frame.sequence <= self.last_event_sequence:
            raise CryptoError(f"event sequence {frame.sequence} not after {self.last_event_sequence}")
        plain = open_sealed(self._rx, DIR_EVENT, wire.SEALED_EVENT, frame.session_id, frame.sequence, frame.ciphertext)
        self.last_event_sequence = frame.sequence
        return messages.decode_session_event(plain)
