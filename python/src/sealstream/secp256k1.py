"""secp256k1 public-key recovery (`ecrecover`) for batch header signatures
(docs/COMMITMENTS.md §3). Verification only: nothing here handles a secret, so plain
integer arithmetic (not constant time) is fine.
"""

from __future__ import annotations

from .keccak import keccak256

P = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEFFFFFC2F
N = 0xFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFFEBAAEDCE6AF48A03BBFD25E8CD0364141
G = (
    0x79BE667EF9DCBBAC55A06295CE870B07029BFCDB2DCE28D959F2815B16F81798,
    0x483ADA7726A3C4655DA4FBFC0E1108A8FD17B448A68554199C47D08FFB10D4B8,
)

Point = "tuple[int, int] | None"


def _add(p, q):
    if p is None:
        return q
    if q is None:
        return p
    if p[0] == q[0]:
        if (p[1] + q[1]) % P == 0:
            return None
        lam = 3 * p[0] * p[0] * pow(2 * p[1], -1, P) % P
    else:
        lam = (q[1] - p[1]) * pow(q[0] - p[0], -1, P) % P
    x = (lam * lam - p[0] - q[0]) % P
    return x, (lam * (p[0] - x) - p[1]) % P


def _mul(k: int, p):
    r = None
    while k:
        if k & 1:
            r = _add(r, p)
        p = _add(p, p)
        k >>= 1
    return r


def recover_public_key(digest: bytes, v: int, r: int, s: int) -> tuple[int, int] | None:
    """The public key whose signature (r, s) with recovery id v ∈ {27, 28} signs
    `digest`, or None when there is none (r or s out of range, x not on the curve)."""
    if v not in (27, 28) or not (0 < r < N and 0 < s < N):
        return None
    x = r
    alpha = (x * x * x + 7) % P
    y = pow(alpha, (P + 1) // 4, P)
    if y * y % P != alpha:
        return None
    if (y & 1) != (v - 27):
        y = P - y
    e = int.from_bytes(digest, "big") % N
    rinv = pow(r, -1, N)
    q = _add(_mul(s * rinv % N, (x, y)), _mul((-e * rinv) % N, G))
    return q


def address(public_key: tuple[int, int]) -> str:
    """The Ethereum address (lower-case 0x-hex) of a public key."""
    raw = public_key[0].to_bytes(32, "big") + public_key[1].to_bytes(32, "big")
    return "0x" + keccak256(raw)[12:].hex()


def ecrecover(digest: bytes, v: int, r: int, s: int) -> str | None:
    """The signer's address (lower-case), or None for an unrecoverable signature."""
    q = recover_public_key(digest, v, r, s)
    return None if q is None else address(q)
