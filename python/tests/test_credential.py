"""Credential activation's software half (ATTESTATION.md §8): KDFa and the credential blob
against the known answers Tests/AttestationTests/MakeCredentialTests.swift checks the Swift
implementation with, a round trip through a test-only ActivateCredential with the EK's
private key, and the EK certificate of the golden swtpm evidence."""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest
from conftest import FIXTURES
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # cryptography ≥ 43 keeps CFB among the "decrepit" modes (still the TPM's TPM_ALG_CFB)
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB

from sealstream import attest, credential, tpm
from sealstream.errors import EnrollmentFailed

AK_NAME = b"\x00\x0b" + hashlib.sha256(b"abc").digest()
EK = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def test_kdfa_known_answers():
    key = bytes(range(32))
    assert credential.kdfa(key, b"STORAGE", AK_NAME, b"", 128).hex() == "aa3a2f8cf3049d3e74e13d0e20f4a2aa"
    assert credential.kdfa(key, b"INTEGRITY", b"", b"", 256).hex() == \
        "bacf689f634ece301e1f1b15b072d9c87db6a69585db42b1a0cb8f73ebe2692e"
    assert credential.kdfa(key, b"KDFTEST", b"\x01\x02\x03", b"\x04\x05", 320).hex() == \
        "2c7fac7c9d99d2fbef8674d82110dff6c015ce4a77370c5c4e43624571a45a24e5f99496f7f31edd"
    with pytest.raises(ValueError):
        credential.kdfa(key, b"X", b"", b"", 12)


def test_blob_with_a_fixed_seed_is_the_swift_known_answer():
    blob, secret = credential.make_credential(EK.public_key(), AK_NAME, bytes(range(0xA0, 0xC0)), seed=bytes(range(0x40, 0x60)))
    assert blob.hex() == ("00440020ebf6ce7c2b4cc97ea943333f674c8d3659131fad65a91aa403b2073ea82a27481e879aa04d5a95ba29bbabd"
                          "32e8faed100ad15ad4f973c48724aaa27df6103573d3b")
    assert secret[:2] == b"\x01\x00" and len(secret) == 258


def unmake(blob: bytes, secret: bytes, name: bytes) -> bytes:
    """A test-only TPM2_ActivateCredential (Part 1 §24.4–24.5) with the EK's private key."""
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=b"IDENTITY\x00")
    assert int.from_bytes(secret[:2], "big") == len(secret) - 2
    seed = EK.decrypt(secret[2:], oaep)
    assert int.from_bytes(blob[:2], "big") == len(blob) - 2 and blob[2:4] == b"\x00\x20"
    outer, enc = blob[4:36], blob[36:]
    if not hmac.compare_digest(outer, hmac.new(credential.kdfa(seed, b"INTEGRITY", b"", b"", 256), enc + name,
                                               hashlib.sha256).digest()):  # fmt: skip
        raise EnrollmentFailed("integrity")
    d = Cipher(algorithms.AES(credential.kdfa(seed, b"STORAGE", name, b"", 128)), CFB(b"\x00" * 16)).decryptor()
    plain = d.update(enc) + d.finalize()
    assert int.from_bytes(plain[:2], "big") == len(plain) - 2
    return plain[2:]


@pytest.mark.parametrize("cred", [b"\x5a" * 32, b"\x01", b"hello, TPM"])
def test_round_trip_and_name_binding(cred):
    blob, secret = credential.make_credential(EK.public_key(), AK_NAME, cred)
    assert len(blob) == 2 + 2 + 32 + 2 + len(cred)
    assert unmake(blob, secret, AK_NAME) == cred
    other = b"\x00\x0b" + hashlib.sha256(b"another key").digest()
    with pytest.raises(EnrollmentFailed):
        unmake(blob, secret, other)  # a TPM whose key has another Name cannot open it


def test_refusals():
    with pytest.raises(EnrollmentFailed):
        credential.make_credential(rsa.generate_private_key(65537, 1024).public_key(), AK_NAME, b"x")
    with pytest.raises(EnrollmentFailed):
        credential.make_credential(ec.generate_private_key(ec.SECP256R1()).public_key(), AK_NAME, b"x")
    with pytest.raises(EnrollmentFailed):
        credential.make_credential(EK.public_key(), AK_NAME[:-1], b"x")
    with pytest.raises(EnrollmentFailed):
        credential.make_credential(EK.public_key(), AK_NAME, b"x" * 33)
    a = credential.make_credential(EK.public_key(), AK_NAME, b"\x07" * 32)
    b = credential.make_credential(EK.public_key(), AK_NAME, b"\x07" * 32)
    assert a[0] != b[0] and a[1] != b[1], "a fresh seed each time"


def test_the_golden_swtpm_evidence_names_a_certified_rsa_ek_and_its_ak():
    doc = json.loads((FIXTURES / "swtpm-evidence.json").read_text())
    policy = attest.Policy.from_json((FIXTURES / "swtpm-policy.json").read_text())
    ek, name = credential.activation_target(doc, policy)
    assert isinstance(ek.public_key(), rsa.RSAPublicKey) and ek.public_key().key_size == 2048
    assert name == tpm.parse_public(bytes.fromhex(doc["attestation"]["akPublic"])).name
    # The same EK against no roots, and software evidence without any EK, are refused.
    with pytest.raises(EnrollmentFailed, match="does not chain"):
        credential.activation_target(doc, attest.Policy(**dict(vars(policy), swtpm_ek_roots=[])))
    software = json.loads((FIXTURES / "software-evidence.json").read_text())
    with pytest.raises(EnrollmentFailed, match="no RSA EK certificate"):
        credential.activation_target(software, attest.Policy.from_json((FIXTURES / "software-policy.json").read_text()))
