"""Frames and message bodies against the tables of docs/PROTOCOL.md §1–2."""

from __future__ import annotations

import hashlib
import struct

import pytest

from sealstream import messages, wire
from sealstream.demo import demo_key
from sealstream.errors import WireError


def test_frame_layout_and_byte_at_a_time_decoding():
    nonce = bytes(range(32))
    raw = wire.encode_frame(wire.EVIDENCE_REQUEST, nonce)
    assert raw[:6] == bytes([0, 0, 0, 34, 1, 1])  # length = 2 + 32, version 1, type 0x01
    decoder = wire.FrameDecoder()
    frames = []
    for b in raw + raw:
        frames += decoder.feed(bytes([b]))
    assert frames == [wire.Frame(1, nonce)] * 2 and decoder.pending == 0


@pytest.mark.parametrize(
    "prefix, field",
    [
        (struct.pack(">I", 1), "length"),  # bad_length
        (struct.pack(">I", 65537), "length"),  # frame_too_large: refused before any body byte
        (struct.pack(">IB", 10, 2), "version"),  # unsupported_version
    ],
)
def test_malformed_prefix_is_refused_at_once(prefix, field):
    with pytest.raises(WireError) as e:
        wire.FrameDecoder().feed(prefix)
    assert e.value.field == field


def test_body_sizes_are_enforced():
    with pytest.raises(WireError):
        wire.encode_frame(wire.EVIDENCE_REQUEST, bytes(31))
    with pytest.raises(WireError):
        wire.FrameDecoder().feed(struct.pack(">IBB", 2 + 18, 1, wire.REFUSAL) + bytes(18))  # Refusal is 19
    with pytest.raises(WireError):
        wire.encode_frame(0x7F, b"")


def test_new_order_layout():
    body = messages.new_order("ab", 1, messages.Side.SELL, 61_260_000_000, 150_000_000, messages.OrderType.LIMIT,
                              messages.TimeInForce.POST_ONLY, reduce_only=True)  # fmt: skip
    assert body == (bytes([1, 2]) + b"ab" + struct.pack(">I", 1) + bytes([1, 0, 2, 1])
                    + struct.pack(">q", 61_260_000_000) + struct.pack(">q", 150_000_000))  # fmt: skip
    assert messages.cancel("ab") == b"\x02\x02ab"
    assert messages.withdraw("w", 5) == b"\x03\x01w" + struct.pack(">q", 5)
    for bad in ("", "x" * 37):
        with pytest.raises(WireError):
            messages.cancel(bad)


def test_receipt_with_order_report_round_trip():
    fill = struct.pack(">IBqqqBQ", 2, 1, 3_011_500_000, 500_000_000, 753, 0, 17)
    report = bytes([1]) + struct.pack(">H", 1) + fill + struct.pack(">qqH", 0, 0, 1) + b"\x03abc"
    plain = struct.pack(">BQQHB", 0, 42, 7, 0, 6) + b"dave-1" + struct.pack(">H", len(report)) + report
    r = messages.decode_receipt(plain)
    assert (r.status, r.global_sequence, r.enclave_time, r.client_order_id) == (messages.ReceiptStatus.ACCEPTED, 42, 7, b"dave-1")
    assert r.report.fills == [messages.Fill(2, messages.Side.SELL, 3_011_500_000, 500_000_000, 753, False, 17)]
    assert r.report.self_trade_cancelled == [b"abc"]
    with pytest.raises(WireError):
        messages.decode_receipt(plain + b"\x00")  # trailing bytes are an error
    with pytest.raises(WireError):
        messages.decode_receipt(plain[:-1])


def test_client_order_ids_in_replies_are_1_to_36_bytes_as_in_swift():
    # Swift's decoders (Receipt, OrderReport, FillEvent) refuse an id of 0 or over 36
    # bytes (only a receipt of an undecodable request has id_len 0); so does this SDK.
    def receipt(cid: bytes, report: bytes = b"") -> bytes:
        return struct.pack(">BQQHB", 0, 1, 1, 0, len(cid)) + cid + struct.pack(">H", len(report)) + report

    assert messages.decode_receipt(receipt(b"")).client_order_id == b""
    assert messages.decode_receipt(receipt(b"x" * 36)).client_order_id == b"x" * 36
    with pytest.raises(WireError):
        messages.decode_receipt(receipt(b"x" * 37))
    for stc in (b"", b"y" * 37):
        report = bytes([1]) + struct.pack(">H", 0) + struct.pack(">qqH", 0, 0, 1) + bytes([len(stc)]) + stc
        with pytest.raises(WireError):
            messages.decode_receipt(receipt(b"a", report))
    tail = struct.pack(">IBqqqQQQ", 1, 0, 1, 1, 0, 5, 21, 99)
    assert messages.decode_fill_event(bytes([1, 1]) + b"m" + tail).client_order_id == b"m"
    for cid in (b"", b"m" * 37):
        with pytest.raises(WireError):
            messages.decode_fill_event(bytes([1, len(cid)]) + cid + tail)


def test_rejected_receipt_names_its_reason():
    plain = struct.pack(">BQQHB", 1, 9, 9, 12, 1) + b"x" + struct.pack(">H", 0)
    r = messages.decode_receipt(plain)
    assert r.status.label == "rejected" and r.reason_label == "postOnlyWouldCross" and r.report is None


def test_every_documented_reject_reason_has_its_label():
    # docs/PROTOCOL.md's reject reasons, 1...18 (18: a Greek limit, docs/OPTIONS.md §10.11).
    assert sorted(messages.REJECT_REASONS) == list(range(1, 19))
    plain = struct.pack(">BQQHB", 1, 9, 9, 18, 1) + b"x" + struct.pack(">H", 0)
    assert messages.decode_receipt(plain).reason_label == "greekLimitExceeded"


def test_fill_event_layout():
    plain = bytes([1, 3]) + b"mm1" + struct.pack(">IBqqqQQQ", 1, 0, 61_240_000_000, 20_000_000, 13, 5, 21, 99)
    e = messages.decode_fill_event(plain)
    assert (e.client_order_id, e.market, e.side, e.quantity, e.fee, e.maker_order_id, e.global_sequence) == (
        b"mm1", 1, messages.Side.BUY, 20_000_000, 13, 5, 21)


def test_public_replies():
    ack = wire.decode_public_ack(struct.pack(">BQQQ", 5, 77, 3, 1000))
    assert ack == wire.PublicAck(5, 77, 3, 1000)
    ref = wire.decode_refusal(struct.pack(">BQQH", 4, 0, 123, 8))
    assert ref.reason_label == "unknownPublisher"
    assert wire.decode_notice(struct.pack(">HQ", 1, 2)) == wire.Notice(1, 2)


def test_demo_custody_key_is_the_documented_one():
    # docs/SCENARIOS.md "Demo keys", and scripts/demo/venue.json's custodyKey.
    assert bytes(demo_key("custody", "custody").verify_key).hex() == \
        "4f40b7bf211d5790949f11ad49a3be029f192e39a503a97774a834b585767442"


def test_signed_public_messages_verify_under_their_keys():
    custody, account = demo_key("custody", "custody"), demo_key("trader", "carol")
    msg = messages.deposit_message(7400, 2001, bytes(account.verify_key), 50_000_000_000, 9)
    assert msg.startswith(b"sealstream/v1/deposit") and len(msg) == 21 + 8 + 8 + 32 + 8 + 8
    body = messages.deposit_body(2001, bytes(account.verify_key), 50_000_000_000, 9, custody.sign(msg).signature)
    assert len(body) == 120
    custody.verify_key.verify(msg, body[56:])
    publisher = demo_key("publisher", "pyth-a")
    pm = messages.price_message(1, 61_250_250_000, 12_500_000, 1_700_000_000_000_000_000)
    pb = messages.price_body(1, 61_250_250_000, 12_500_000, 1_700_000_000_000_000_000, bytes(publisher.verify_key),
                             publisher.sign(pm).signature)  # fmt: skip
    assert len(pb) == 124 and pb[:28] == pm[len(b"sealstream/v1/oracle-price"):]


# The same frame the Swift suite builds with DemoKeys.smile (Tests/EnclaveCoreTests/
# OracleSmileTests.swift): Ed25519 is deterministic, so both must hash alike.
SMILE_FRAME_SHA256 = "4a222f5bcb8d1ec47983c422abf39a8254e279302e7f8eb79e01a06539643aac"


def test_oracle_smile_layout_signature_and_cross_language_frame():
    publisher = demo_key("publisher", "pyth-a")
    svi = (20_000_000, 100_000_000, -300_000_000, -5, 100_000_000)
    msg = messages.smile_message(1, 2_592_000_000_000_000, svi, 1_700_000_000_000_000_000)
    assert msg.startswith(b"sealstream/v1/oracle-smile") and len(msg) == 26 + 60
    assert not msg.startswith(messages.PRICE_DOMAIN)
    body = messages.smile_body(1, 2_592_000_000_000_000, svi, 1_700_000_000_000_000_000, bytes(publisher.verify_key),
                               publisher.sign(msg).signature)  # fmt: skip
    assert len(body) == 156 and body[:60] == msg[26:]
    assert body[28:36] == (-300_000_000).to_bytes(8, "big", signed=True)
    publisher.verify_key.verify(msg, body[92:])
    frame = wire.encode_frame(wire.ORACLE_SMILE, body)
    assert frame[:6] == bytes([0, 0, 0, 158, 1, 0x0A])
    assert hashlib.sha256(frame).hexdigest() == SMILE_FRAME_SHA256
    assert wire.REFUSAL_LABELS[24] == "unknownExpiry" and wire.REFUSAL_LABELS[25] == "invalidSmile"
    with pytest.raises(WireError):
        wire.encode_frame(wire.ORACLE_SMILE, body[:-1])
    with pytest.raises(WireError):
        messages.smile_body(1, 1, (0, 0, 0, 0), 1, bytes(32), bytes(64))  # type: ignore[arg-type]
    with pytest.raises(WireError):
        messages.smile_message(1, 1, (2**63, 0, 0, 0, 1), 1)


# The margin-call vector of Tests/WireTests/MarginCallEventTests.swift (docs/PROTOCOL.md
# §2.11, kind 2), decoded here from the same bytes.
MARGIN_CALL_VECTOR = bytes.fromhex(
    "0201000087d600000000075bcd150000000053724e00000000004c1680eb000000000000002a000000e8d4a5107b0002"
    "00000001010000000beebcf08000109b03000087d6ffffffffff7e1ca7fffffffffffffb2effffffffd941c980"
    "000000030000000000000000000000000000000000000000000000000000000000000000000000000000000000"
)


def test_margin_call_event_layout():
    e = messages.decode_session_event(MARGIN_CALL_VECTOR)
    assert isinstance(e, messages.MarginCallEvent)
    assert (e.trigger, e.probability_ppm, e.distance, e.equity, e.maintenance) == (
        messages.MarginCallTrigger.CROSSED, 34_774, 123_456_789, 1_400_000_000, 1_276_543_211)
    assert (e.global_sequence, e.enclave_time) == (42, 1_000_000_000_123)
    assert e.distance == e.equity - e.maintenance
    assert len(MARGIN_CALL_VECTOR) == messages.MARGIN_CALL_HEADER + 2 * messages.MARGIN_CALL_EXPOSURE
    btc, other = e.exposures
    assert btc == messages.MarginCallExposure(1, True, 51_250_000_000, 1_088_259, 34_774, -8_512_345, -1_234, -650_000_000)
    assert other == messages.MarginCallExposure(3, False, 0, 0, 0, 0, 0, 0)
    # Kind 1 still decodes as a fill.
    fill = bytes([1, 1]) + b"a" + struct.pack(">IBqqqQQQ", 1, 1, 1, 2, 0, 3, 4, 5)
    assert isinstance(messages.decode_session_event(fill), messages.FillEvent)


@pytest.mark.parametrize(
    "edit",
    [
        lambda b: b[:1].replace(b"\x02", b"\x03") + b[1:],  # unknown kind
        lambda b: b[:1] + b"\x00" + b[2:],  # trigger 0
        lambda b: b[:2] + struct.pack(">I", 1_000_001) + b[6:],  # probability above 1
        lambda b: b[:52] + b"\x02" + b[53:],  # exposed flag 2
        lambda b: b + b"\x00",  # trailing byte
        lambda b: b[:-1],  # truncated
        lambda b: b[:46] + struct.pack(">H", 3) + b[48:],  # count 3, two exposures
        lambda b: b[:46] + struct.pack(">H", 0),  # no exposure at all
        lambda b: b[:93] + struct.pack(">I", 1) + b[97:],  # the second underlying repeats the first
        lambda b: b[:93] + struct.pack(">I", 0) + b[97:],  # ... or comes before it
        lambda b: b[:98] + struct.pack(">q", 1) + b[106:],  # unexposed, yet a mark
        lambda b: b[:-1] + b"\x01",  # unexposed, yet a vega
        lambda b: b"",
    ],
)
def test_margin_call_event_is_strict(edit):
    with pytest.raises(WireError):
        messages.decode_session_event(edit(MARGIN_CALL_VECTOR))


def test_a_margin_call_has_one_exposure_per_option_underlying_of_the_venue():
    assert len(messages.decode_margin_call_event(MARGIN_CALL_VECTOR, underlyings=2).exposures) == 2
    for n in (1, 3):
        with pytest.raises(WireError):
            messages.decode_margin_call_event(MARGIN_CALL_VECTOR, underlyings=n)


@pytest.mark.parametrize(
    "plaintext,field",
    [
        (bytes([2, 9]), "trigger"),  # an unknown trigger, then nothing: the trigger is refused first
        (bytes([2, 1]) + (1_000_001).to_bytes(4, "big"), "probability_ppm"),
        (bytes([2, 1, 0, 0, 0, 0]), "margin call"),  # ends before `distance`: truncated
        # a whole header with count 1, then an exposure cut short after exposed = 7
        (MARGIN_CALL_VECTOR[:46] + (1).to_bytes(2, "big") + (5).to_bytes(4, "big") + bytes([7]), "exposed"),
    ],
)
def test_margin_call_refusal_is_the_first_rule_broken_in_reading_order(plaintext, field):
    # PROTOCOL §2.11: each rule applies as soon as its field is read, truncation included.
    with pytest.raises(WireError) as refused:
        messages.decode_margin_call_event(plaintext)
    assert refused.value.field == field


def test_values_the_protocol_does_not_list_do_not_decode_as_in_swift():
    # PROTOCOL.md §1: a reply's code outside §2's tables is malformed (the Swift decoders
    # throw); the SDK used to label them `reasonN` or pass them through.
    wire.decode_refusal(struct.pack(">BQQH", wire.SEALED_REQUEST, 1, 1, 25))
    for body in (struct.pack(">BQQH", 3, 1, 1, 99), struct.pack(">BQQH", 0x7F, 1, 1, 1), struct.pack(">BQQH", 3, 1, 1, 0)):
        with pytest.raises(WireError):
            wire.decode_refusal(body)
    wire.decode_notice(struct.pack(">HQ", 2, 0))
    for code in (0, 3, 0xFFFF):
        with pytest.raises(WireError):
            wire.decode_notice(struct.pack(">HQ", code, 0))
    wire.decode_public_ack(struct.pack(">BQQQ", wire.DEPOSIT, 1, 2, 3))
    with pytest.raises(WireError):
        wire.decode_public_ack(struct.pack(">BQQQ", 0x0B, 1, 2, 3))

    def receipt(reason: int) -> bytes:
        return struct.pack(">BQQHB", 1, 7, 8, reason, 1) + b"x" + struct.pack(">H", 0)

    assert messages.decode_receipt(receipt(18)).reason_label == "greekLimitExceeded"
    for reason in (19, 0xFFFF):
        with pytest.raises(WireError):
            messages.decode_receipt(receipt(reason))
