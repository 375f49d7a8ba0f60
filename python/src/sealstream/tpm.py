"""The TPM 2.0 structures evidence carries (TPM 2.0 Part 2; docs/ATTESTATION.md §3–4):
TPMT_PUBLIC (ECC), TPMS_ATTEST (quote) and TPMT_SIGNATURE, unmarshalled with no
trailing bytes allowed, and the AK's Name and qualified name."""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass

from .errors import EvidenceError

TPM_ALG_SHA1, TPM_ALG_SHA256, TPM_ALG_SHA384, TPM_ALG_SHA512 = 0x0004, 0x000B, 0x000C, 0x000D
TPM_ALG_NULL, TPM_ALG_ECC, TPM_ALG_ECDSA = 0x0010, 0x0023, 0x0018
TPM_ECC_NIST_P256 = 0x0003
TPM_GENERATED_VALUE = 0xFF544347
TPM_ST_ATTEST_QUOTE = 0x8018
TPM_RH_ENDORSEMENT = 0x4000000B
DIGEST_SIZES = {TPM_ALG_SHA1: 20, TPM_ALG_SHA256: 32, TPM_ALG_SHA384: 48, TPM_ALG_SHA512: 64}

# TPMA_OBJECT bits
FIXED_TPM, FIXED_PARENT, SENSITIVE_DATA_ORIGIN, USER_WITH_AUTH = 1 << 1, 1 << 4, 1 << 5, 1 << 6
RESTRICTED, DECRYPT, SIGN = 1 << 16, 1 << 17, 1 << 18


class _R:
    def __init__(self, data: bytes, what: str):
        self.d, self.at, self.what = data, 0, what

    def take(self, n: int) -> bytes:
        if self.at + n > len(self.d):
            raise EvidenceError(f"{self.what}: truncated")
        out = self.d[self.at : self.at + n]
        self.at += n
        return out

    def u8(self) -> int:
        return self.take(1)[0]

    def u16(self) -> int:
        return struct.unpack(">H", self.take(2))[0]

    def u32(self) -> int:
        return struct.unpack(">I", self.take(4))[0]

    def u64(self) -> int:
        return struct.unpack(">Q", self.take(8))[0]

    def tpm2b(self, limit: int) -> bytes:
        n = self.u16()
        if n > limit:
            raise EvidenceError(f"{self.what}: TPM2B of {n} bytes exceeds {limit}")
        return self.take(n)

    def end(self) -> None:
        if self.at != len(self.d):
            raise EvidenceError(f"{self.what}: {len(self.d) - self.at} trailing bytes")


@dataclass(frozen=True)
class EccPublic:
    name_alg: int
    attributes: int
    auth_policy: bytes
    symmetric: int
    scheme: int
    scheme_hash: int
    curve: int
    kdf: int
    x: bytes
    y: bytes
    raw: bytes

    @property
    def name(self) -> bytes:
        """Name = nameAlg ‖ H(TPMT_PUBLIC) (SHA-256 only)."""
        if self.name_alg != TPM_ALG_SHA256:
            raise EvidenceError("AK nameAlg is not SHA-256")
        return struct.pack(">H", self.name_alg) + hashlib.sha256(self.raw).digest()

    @property
    def qualified_name_as_endorsement_primary(self) -> bytes:
        """`0x000b ‖ SHA-256(0x4000000b ‖ Name)` (ATTESTATION.md §3)."""
        return struct.pack(">H", TPM_ALG_SHA256) + hashlib.sha256(struct.pack(">I", TPM_RH_ENDORSEMENT) + self.name).digest()


def parse_public(data: bytes) -> EccPublic:
    r = _R(data, "akPublic")
    alg = r.u16()
    if alg != TPM_ALG_ECC:
        raise EvidenceError(f"akPublic: type 0x{alg:04x} is not ECC")
    name_alg, attributes = r.u16(), r.u32()
    auth_policy = r.tpm2b(64)
    symmetric = r.u16()
    if symmetric != TPM_ALG_NULL:
        r.u16(), r.u16()  # keyBits, mode
    scheme = r.u16()
    scheme_hash = r.u16() if scheme != TPM_ALG_NULL else TPM_ALG_NULL
    curve = r.u16()
    kdf = r.u16()
    if kdf != TPM_ALG_NULL:
        r.u16()
    x, y = r.tpm2b(66), r.tpm2b(66)
    r.end()
    return EccPublic(name_alg, attributes, auth_policy, symmetric, scheme, scheme_hash, curve, kdf, x, y, data)


@dataclass(frozen=True)
class PcrSelection:
    hash_alg: int
    pcrs: list[int]


@dataclass(frozen=True)
class Attest:
    magic: int
    type: int
    qualified_signer: bytes
    extra_data: bytes
    clock: int  # ms the TPM has run
    reset_count: int
    restart_count: int
    safe: bool
    firmware_version: int
    selections: list[PcrSelection]
    pcr_digest: bytes


def parse_attest(data: bytes) -> Attest:
    r = _R(data, "quote")
    magic, typ = r.u32(), r.u16()
    qualified_signer = r.tpm2b(66)
    extra = r.tpm2b(66)
    clock, reset, restart, safe = r.u64(), r.u32(), r.u32(), r.u8()
    fw = r.u64()
    selections: list[PcrSelection] = []
    digest = b""
    if typ == TPM_ST_ATTEST_QUOTE:
        count = r.u32()
        if count > 16:
            raise EvidenceError("quote: more than 16 PCR banks")
        for _ in range(count):
            h, size = r.u16(), r.u8()
            if size > 8:
                raise EvidenceError("quote: PCR selection over 8 bytes")
            bits = r.take(size)
            selections.append(PcrSelection(h, [i for i in range(8 * size) if bits[i // 8] >> (i % 8) & 1]))
        digest = r.tpm2b(64)
    else:
        r.at = len(data)  # other attestation types parse and fail `quote.type`
    r.end()
    return Attest(magic, typ, qualified_signer, extra, clock, reset, restart, safe == 1, fw, selections, digest)


@dataclass(frozen=True)
class Signature:
    alg: int
    hash_alg: int
    r: bytes
    s: bytes


def parse_signature(data: bytes) -> Signature:
    rd = _R(data, "signature")
    alg = rd.u16()
    if alg != TPM_ALG_ECDSA:
        raise EvidenceError(f"signature: algorithm 0x{alg:04x} is not ECDSA")
    h = rd.u16()
    r, s = rd.tpm2b(66), rd.tpm2b(66)
    rd.end()
    return Signature(alg, h, r, s)
