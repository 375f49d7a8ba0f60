"""Session cryptography (docs/PROTOCOL.md §2.3–2.5, §2.11, §3), checked against an
enclave side written here with PyNaCl's server-side crypto_kx."""

from __future__ import annotations

import struct

import pytest
from nacl import bindings

from sealstream import messages, session, wire
from sealstream.demo import demo_key
from sealstream.errors import CryptoError


class FakeEnclave:
    """The enclave's half of §3, enough to answer one session."""

    def __init__(self):
        self.pk, self.sk = bindings.crypto_kx_keypair()

    def accept(self, open_body: bytes, salt: bytes, account_commitment: bytes):
        sid = struct.unpack_from(">Q", open_body)[0]
        client_pk, sealed = open_body[8:40], open_body[40:]
        rx, tx = bindings.crypto_kx_server_session_keys(self.pk, self.sk, client_pk)
        auth = session.open_sealed(rx, 0x01, wire.SESSION_OPEN, sid, 0, sealed)
        self.rx, self.tx = session.salted(rx, salt), session.salted(tx, salt)
        account, signature = struct.unpack_from(">Q", auth)[0], auth[8:]
        transcript = messages.session_auth_transcript(self.pk, client_pk, sid, account)
        plain = struct.pack(">QQ", account, 123) + account_commitment
        body = struct.pack(">Q", sid) + salt + session.seal(self.tx, 0x02, wire.SESSION_ACCEPTED, sid, 0, plain)
        return sid, account, transcript, signature, body


def test_nonce_and_associated_data_layout():
    assert session.nonce(0x02, 5) == bytes([2]) + bytes(15) + struct.pack(">Q", 5)
    assert session.associated_data(0x03, 9, 5) == bytes([1, 3]) + struct.pack(">QQ", 9, 5)


def test_open_accept_request_receipt_event():
    enclave, key = FakeEnclave(), demo_key("trader", "carol")
    s = session.Session(enclave.pk, 2001, key)
    sid, account, transcript, signature, accepted = enclave.accept(s.open_body(), b"\x07" * 32, b"\xaa" * 32)
    assert (sid, account) == (s.session_id, 2001)
    key.verify_key.verify(transcript, signature)  # the account key signed the §2.3 transcript
    acceptance = s.accept(wire.decode_session_accepted(accepted))
    assert acceptance == messages.Acceptance(2001, 123, b"\xaa" * 32)

    body = s.seal_request(messages.cancel("x"))
    req = wire.decode_sealed(wire.SEALED_REQUEST, body)
    assert req.sequence == 1
    assert session.open_sealed(enclave.rx, 0x01, wire.SEALED_REQUEST, sid, 1, req.ciphertext) == messages.cancel("x")

    receipt = struct.pack(">BQQHB", 0, 10, 11, 0, 1) + b"x" + struct.pack(">H", 0)
    ct = session.seal(enclave.tx, 0x02, wire.SEALED_RECEIPT, sid, 1, receipt)
    assert s.open_receipt(wire.SealedFrame(sid, 1, ct)).global_sequence == 10
    with pytest.raises(CryptoError):  # the receipt for another sequence number does not open
        s.open_receipt(wire.SealedFrame(sid, 2, ct))

    event = bytes([1, 1]) + b"x" + struct.pack(">IBqqqQQQ", 1, 0, 1, 1, 1, 1, 10, 11)
    ect = session.seal(enclave.tx, 0x03, wire.SEALED_EVENT, sid, 1, event)
    assert s.open_event(wire.SealedFrame(sid, 1, ect)).global_sequence == 10
    with pytest.raises(CryptoError):  # an event replayed by the host
        s.open_event(wire.SealedFrame(sid, 1, ect))
    # A receipt nonce never opens as an event: the directions differ.
    with pytest.raises(CryptoError):
        s.open_event(wire.SealedFrame(sid, 5, session.seal(enclave.tx, 0x02, wire.SEALED_EVENT, sid, 5, event)))
    # A margin call (kind 2) on the next event number opens to its fields.
    from test_wire import MARGIN_CALL_VECTOR

    mct = session.seal(enclave.tx, 0x03, wire.SEALED_EVENT, sid, 6, MARGIN_CALL_VECTOR)
    call = s.open_event(wire.SealedFrame(sid, 6, mct))
    assert isinstance(call, messages.MarginCallEvent)
    assert (call.probability_ppm, call.distance, call.global_sequence) == (34_774, 123_456_789, 42)
    assert call.exposures[0].delta == -8_512_345


def test_acceptance_from_another_key_fails():
    enclave, other = FakeEnclave(), FakeEnclave()
    s = session.Session(other.pk, 1, demo_key("trader", "a"))
    _, _, _, _, body = other.accept(s.open_body(), bytes(32), bytes(32))
    t = session.Session(enclave.pk, 1, demo_key("trader", "a"), session_id=s.session_id)
    with pytest.raises(CryptoError):
        t.accept(wire.decode_session_accepted(body))
    assert "sk" not in repr(t) and "_tx" not in repr(t)  # secrets never printed
