"""AK enrolment by credential activation (docs/ATTESTATION.md §8), the twin of
`attestation enroll`: TPM2_MakeCredential in software for the AK's Name under the
evidence's certified RSA-2048 EK, sent to the worker (`ActivateCredential`, PROTOCOL.md
§2.13), whose TPM can recover the credential only if it holds that EK and a loaded key
with exactly that Name. On a match the AK's Name is pinned in the policy's `akNames`.

    seed          = 32 random bytes
    encSecret     = RSA-OAEP-SHA256(EK, seed, label "IDENTITY\\0")
    symKey        = KDFa(SHA-256, seed, "STORAGE", akName, "", 128)
    encIdentity   = AES-128-CFB(symKey, IV 0, TPM2B_DIGEST(credential))
    hmacKey       = KDFa(SHA-256, seed, "INTEGRITY", "", "", 256)
    outerHMAC     = HMAC-SHA256(hmacKey, encIdentity ‖ akName)
    credentialBlob  = TPM2B_ID_OBJECT(TPM2B_DIGEST(outerHMAC) ‖ encIdentity)
    encryptedSecret = TPM2B_ENCRYPTED_SECRET(encSecret)
"""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import struct

from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms

try:  # cryptography ≥ 43 keeps CFB among the "decrepit" modes (still the TPM's TPM_ALG_CFB)
    from cryptography.hazmat.decrepit.ciphers.modes import CFB
except ImportError:  # pragma: no cover - older cryptography
    from cryptography.hazmat.primitives.ciphers.modes import CFB

from . import attest, tpm, wire
from .connection import Connection
from .errors import EnrollmentFailed, EvidenceError

OAEP_LABEL = b"IDENTITY\x00"
EK_MODULUS_BITS = 2048
AK_NAME_BYTES = 34  # 0x000B ‖ SHA-256


def kdfa(key: bytes, label: bytes, context_u: bytes, context_v: bytes, bits: int) -> bytes:
    """KDFa with SHA-256 (TPM 2.0 Part 1 §11.4.10.2): HMAC-SHA256(key, [i]₃₂ ‖ label ‖ 00h ‖
    contextU ‖ contextV ‖ [bits]₃₂) for i = 1, 2, …, truncated to `bits` (a positive multiple
    of 8). `label` is given without its terminating zero byte, which is appended here."""
    if bits <= 0 or bits % 8 or bits > 8192 or b"\x00" in label:
        raise ValueError("KDFa: bits must be a positive multiple of 8, the label without a zero byte")
    fixed = label + b"\x00" + context_u + context_v + struct.pack(">I", bits)
    out, i = b"", 1
    while len(out) < bits // 8:
        out += hmac.new(key, struct.pack(">I", i) + fixed, hashlib.sha256).digest()
        i += 1
    return out[: bits // 8]


def _tpm2b(data: bytes) -> bytes:
    return struct.pack(">H", len(data)) + data


def make_credential(ek: rsa.RSAPublicKey, ak_name: bytes, credential: bytes, seed: bytes | None = None) -> tuple[bytes, bytes]:
    """TPM2_MakeCredential (Part 1 §24) for the object named `ak_name` on the TPM with RSA-2048
    EK `ek`: the marshalled TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET. `credential` is 1 to
    32 bytes; `seed` is for known-answer tests only (a reused seed reuses the keystream)."""
    if not isinstance(ek, rsa.RSAPublicKey):
        raise EnrollmentFailed("the EK certificate's key is not RSA")
    if ek.key_size != EK_MODULUS_BITS:
        raise EnrollmentFailed(f"EK is RSA-{ek.key_size}; only the RSA-{EK_MODULUS_BITS} EK template is supported")
    if len(ak_name) != AK_NAME_BYTES or ak_name[:2] != b"\x00\x0b":
        raise EnrollmentFailed("AK Name must be 0x000B ‖ SHA-256 (34 bytes)")
    if not 1 <= len(credential) <= 32:
        raise EnrollmentFailed("credential must be 1 to 32 bytes")
    seed = os.urandom(32) if seed is None else seed
    if len(seed) != 32:
        raise EnrollmentFailed("MakeCredential seed must be 32 bytes")
    oaep = padding.OAEP(mgf=padding.MGF1(hashes.SHA256()), algorithm=hashes.SHA256(), label=OAEP_LABEL)
    wrapped = ek.encrypt(seed, oaep)
    sym_key = kdfa(seed, b"STORAGE", ak_name, b"", 128)
    enc = Cipher(algorithms.AES(sym_key), CFB(b"\x00" * 16)).encryptor()
    enc_identity = enc.update(_tpm2b(credential)) + enc.finalize()
    hmac_key = kdfa(seed, b"INTEGRITY", b"", b"", 256)
    outer = hmac.new(hmac_key, enc_identity + ak_name, hashlib.sha256).digest()
    return _tpm2b(_tpm2b(outer) + enc_identity), _tpm2b(wrapped)


def activation_target(document: bytes | str | dict, policy: attest.Policy) -> tuple[x509.Certificate, bytes]:
    """§8 steps 2 and the Name: the evidence's RSA EK certificate (`activationEKCertificate`),
    checked against the policy's EK roots for the evidence's mode, and the AK's Name.
    Raises EnrollmentFailed when there is none or it does not chain."""
    try:
        e = attest._parse(document)
    except (EvidenceError, ValueError, TypeError, KeyError) as err:
        raise EnrollmentFailed(f"the evidence does not parse: {err}") from None
    a = e.evidence.raw.get("attestation") or {}
    if a.get("activationEKCertificate") is None:
        raise EnrollmentFailed("the evidence carries no RSA EK certificate (software mode, or a TPM without one)")
    ek = attest._cert(a["activationEKCertificate"])
    roots = policy.ek_roots if e.evidence.mode == "tpm" else policy.swtpm_ek_roots
    why = attest.verify_ek_chain(ek, e.ek_chain, roots)
    if why is not None:
        raise EnrollmentFailed(f"the RSA EK certificate does not chain to the policy's {e.evidence.mode} roots: {why}")
    return ek, e.ak.name


def enroll(address: str, document: bytes | str | dict, policy_json: bytes | str | dict, allow_simulated: bool = False,
           timeout: float = 30.0) -> dict:
    """`attestation enroll`: verifies the evidence against the policy (every check but
    `ak.enrolled`), makes a credential for its AK under its certified RSA EK, has the worker
    at `address` activate it, and returns the policy (as a JSON object) with the AK's Name
    added to `akNames`. Raises EnrollmentFailed on any failure (a refusal names its reason)."""
    doc = policy_json if isinstance(policy_json, dict) else json.loads(policy_json)
    policy = attest.Policy.from_json(doc)
    report = attest.verify(document, policy, allow_simulated=allow_simulated)
    failed = [c for c in report.failed() if c != "ak.enrolled"]
    if failed:
        raise EnrollmentFailed("the evidence fails " + ", ".join(failed) + "; run `sealstream verify`")
    ek, name = activation_target(document, policy)
    credential = os.urandom(32)
    blob, secret = make_credential(ek.public_key(), name, credential)
    with Connection.to(address, timeout) as c:
        reply = c.request(wire.ACTIVATE_CREDENTIAL, wire.encode_activate_credential(blob, secret))
    if reply.type == wire.REFUSAL:
        raise EnrollmentFailed("the worker could not activate the credential: " + wire.decode_refusal(reply.body).reason_label)
    if reply.type != wire.CREDENTIAL_ACTIVATED:
        raise EnrollmentFailed(f"unexpected answer 0x{reply.type:02x}")
    if not hmac.compare_digest(wire.decode_credential_activated(reply.body), credential):
        raise EnrollmentFailed("the worker returned another credential")
    out = dict(doc)
    names = list(out.get("akNames") or [])
    if name.hex() not in (n.lower() for n in names):
        names.append(name.hex())
    out["akNames"] = names
    return out
