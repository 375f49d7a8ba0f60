"""Keccak-256 (the pre-standard padding 0x01 Ethereum uses, not SHA3-256's 0x06).

Pure Python so the SDK needs nothing beyond PyNaCl and cryptography; the output
verifier hashes a few hundred bytes per header, so speed does not matter here.
"""

from __future__ import annotations

_RC = [
    0x0000000000000001, 0x0000000000008082, 0x800000000000808A, 0x8000000080008000,
    0x000000000000808B, 0x0000000080000001, 0x8000000080008081, 0x8000000000008009,
    0x000000000000008A, 0x0000000000000088, 0x0000000080008009, 0x000000008000000A,
    0x000000008000808B, 0x800000000000008B, 0x8000000000008089, 0x8000000000008003,
    0x8000000000008002, 0x8000000000000080, 0x000000000000800A, 0x800000008000000A,
    0x8000000080008081, 0x8000000000008080, 0x0000000080000001, 0x8000000080008008,
]  # fmt: skip
_ROT = [
    [0, 36, 3, 41, 18], [1, 44, 10, 45, 2], [62, 6, 43, 15, 61], [28, 55, 25, 21, 56], [27, 20, 39, 8, 14],
]  # fmt: skip
_MASK = (1 << 64) - 1
_RATE = 136  # bytes, for a 256-bit output


# Lane i = x + 5y of the state; rho offsets and pi destinations flattened once.
_RHO = [_ROT[i % 5][i // 5] for i in range(25)]
_PI = [(i // 5) + 5 * ((2 * (i % 5) + 3 * (i // 5)) % 5) for i in range(25)]


def _permute(a: list[int]) -> None:
    m = _MASK
    for rc in _RC:
        c = [a[x] ^ a[x + 5] ^ a[x + 10] ^ a[x + 15] ^ a[x + 20] for x in range(5)]
        for x in range(5):
            d = c[(x - 1) % 5] ^ (((c[(x + 1) % 5] << 1) | (c[(x + 1) % 5] >> 63)) & m)
            for y in (0, 5, 10, 15, 20):
                a[x + y] ^= d
        b = [0] * 25
        for i in range(25):
            n, v = _RHO[i], a[i]
            b[_PI[i]] = ((v << n) | (v >> (64 - n))) & m if n else v
        for y in (0, 5, 10, 15, 20):
            b0, b1, b2, b3, b4 = b[y], b[y + 1], b[y + 2], b[y + 3], b[y + 4]
            a[y] = b0 ^ (~b1 & b2)
            a[y + 1] = b1 ^ (~b2 & b3)
            a[y + 2] = b2 ^ (~b3 & b4)
            a[y + 3] = b3 ^ (~b4 & b0)
            a[y + 4] = b4 ^ (~b0 & b1)
        a[0] ^= rc


def keccak256(data: bytes) -> bytes:
    """Keccak-256 of `data` (32 bytes)."""
    padded = bytearray(data) + b"\x01"
    padded += b"\x00" * (-len(padded) % _RATE)
    padded[-1] |= 0x80
    a = [0] * 25
    for off in range(0, len(padded), _RATE):
        for i in range(_RATE // 8):
            a[i] ^= int.from_bytes(padded[off + 8 * i : off + 8 * i + 8], "little")
        _permute(a)
    return b"".join(a[i].to_bytes(8, "little") for i in range(4))
