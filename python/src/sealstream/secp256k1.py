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

def _jadd(p, q):
    """Jacobian addition (X, Y, Z), Z = 0 the point at infinity."""
    if p[2] == 0:
        return q
    if q[2] == 0:
        return p
    z1z1, z2z2 = p[2] * p[2] % P, q[2] * q[2] % P
    u1, u2 = p[0] * z2z2 % P, q[0] * z1z1 % P
    s1, s2 = p[1] * q[2] * z2z2 % P, q[1] * p[2] * z1z1 % P
    if u1 == u2:
        return _jdouble(p) if s1 == s2 else (0, 1, 0)
    h, r = (u2 - u1) % P, (s2 - s1) % P
    hh = h * h % P
    hhh, v = h * hh % P, u1 * hh % P
    x = (r * r - hhh - 2 * v) % P
    return x, (r * (v - x) - s1 * hhh) % P, h * p[2] * q[2] % P


def _jdouble(p):
    if p[2] == 0 or p[1] == 0:
        return (0, 1, 0)
    ysq = p[1] * p[1] % P
    s = 4 * p[0] * ysq % P
    m = 3 * p[0] * p[0] % P  # a = 0
    x = (m * m - 2 * s) % P
    return x, (m * (s - x) - 8 * ysq * ysq) % P, 2 * p[1] * p[2] % P


def _affine(p):
    if p[2] == 0:
        return None
    zinv = pow(p[2], -1, P)
    return p[0] * zinv * zinv % P, p[1] * zinv * zinv * zinv % P


def _mul2(a: int, p, b: int, q):
    """a·p + b·q (Shamir's trick), affine in, affine or None out."""
    jp, jq = (p[0], p[1], 1), (q[0], q[1], 1)
    both = _jadd(jp, jq)
    r = (0, 1, 0)
    for i in range(max(a.bit_length(), b.bit_length()) - 1, -1, -1):
        r = _jdouble(r)
        bits = (a >> i & 1, b >> i & 1)
        if bits == (1, 1):
            r = _jadd(r, both)
        elif bits[0]:
            r = _jadd(r, jp)
        elif bits[1]:
            r = _jadd(r, jq)
    return _affine(r)


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
    return _mul2(s * rinv % N, (x, y), (-e * rinv) % N, G)


def address(public_key: tuple[int, int]) -> str:
    """The Ethereum address (lower-case 0x-hex) of a public key."""
    raw = public_key[0].to_bytes(32, "big") + public_key[1].to_bytes(32, "big")
    return "0x" + keccak256(raw)[12:].hex()


def ecrecover(digest: bytes, v: int, r: int, s: int) -> str | None:
    """The signer's address (lower-case), or None for an unrecoverable signature."""
    q = recover_public_key(digest, v, r, s)
    return None if q is None else address(q)
