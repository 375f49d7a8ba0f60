"""Decoders fed garbage raise their typed error and nothing else; the verifier turns any
malformed evidence into a `parse` verdict rather than an exception (seeded, bounded)."""

from __future__ import annotations

import copy
import json
import random
import struct

import pytest
from conftest import FIXTURES

from sealstream import attest, messages, wire
from sealstream.errors import WireError

DECODERS = [
    messages.decode_receipt, messages.decode_fill_event, messages.decode_session_event, messages.decode_margin_call_event,
    messages.decode_order_report, messages.decode_acceptance,
]


def _valid_receipt() -> bytes:
    fill = struct.pack(">IBqqqBQ", 1, 0, 5, 5, 1, 1, 3)
    report = bytes([1]) + struct.pack(">H", 1) + fill + struct.pack(">qqH", 0, 0, 0)
    return struct.pack(">BQQHB", 0, 1, 2, 0, 1) + b"a" + struct.pack(">H", len(report)) + report


@pytest.mark.parametrize("decode", DECODERS, ids=lambda f: f.__name__)
def test_garbage_raises_only_wire_errors(decode):
    rng = random.Random(0x5EA1)
    seeds = [_valid_receipt(), bytes([1, 1]) + b"x" + struct.pack(">IBqqqQQQ", 1, 0, 1, 1, 1, 1, 1, 1)]
    for _ in range(2000):
        data = bytearray(rng.choice(seeds))
        for _ in range(rng.randint(1, 4)):
            op = rng.randrange(3)
            if op == 0 and data:
                data[rng.randrange(len(data))] = rng.randrange(256)
            elif op == 1 and data:
                del data[rng.randrange(len(data)) :]
            else:
                data += bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        try:
            decode(bytes(data))
        except WireError:
            pass


def test_frame_decoder_garbage_raises_only_wire_errors():
    rng = random.Random(7)
    for _ in range(2000):
        data = bytes(rng.randrange(256) for _ in range(rng.randint(0, 40)))
        try:
            wire.FrameDecoder().feed(data)
        except WireError:
            pass


def _mutate(value, rng):
    choices = [None, 0, -1, 2**70, "", "zz", [], {}, True, "00" * 33]
    if isinstance(value, dict) and value:
        key = rng.choice(sorted(value))
        if rng.random() < 0.3:
            del value[key]
        else:
            value[key] = _mutate(value[key], rng) if rng.random() < 0.5 else rng.choice(choices)
        return value
    if isinstance(value, list) and value:
        i = rng.randrange(len(value))
        value[i] = _mutate(value[i], rng) if rng.random() < 0.5 else rng.choice(choices)
        return value
    return rng.choice(choices)


def test_malformed_evidence_is_a_verdict_not_an_exception():
    doc = json.loads((FIXTURES / "swtpm-evidence.json").read_text())
    policy = attest.Policy.from_json((FIXTURES / "swtpm-policy.json").read_text())
    rng = random.Random(11)
    bound = ("attestation", "eventLog", "loadedObjects", "reportPreimage", "enclaveKey", "signer", "measurement",
             "configHash", "nonce", "mode", "version", "simulated")  # fmt: skip
    for _ in range(300):
        mutated = _mutate(copy.deepcopy(doc), rng)
        report = attest.verify(mutated, policy, None, allow_simulated=True)
        assert [c.check for c in report.checks] == attest.CHECKS
        changed = [k for k in bound if mutated.get(k) != doc[k]]
        if changed == ["attestation"] and isinstance(mutated.get("attestation"), dict):
            # activationEKCertificate is for `enroll`; an absent or empty ekChain is allowed.
            quoted = ("akPublic", "quote", "signature", "pcrBank", "pcrs", "pcrValues", "ekCertificate")
            changed = [k for k in quoted if mutated["attestation"].get(k) != doc["attestation"][k]]
        if changed:  # a verified part changed: it must not pass
            assert not report.ok, changed
