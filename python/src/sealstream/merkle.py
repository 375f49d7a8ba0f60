"""RFC 6962 Merkle trees (docs/COMMITMENTS.md §2): leaf and node hashes, roots,
inclusion and consistency proof verification (RFC 9162 §2.1.3.2, §2.1.4.2)."""

from __future__ import annotations

import hashlib


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


EMPTY_ROOT = sha256(b"")


def leaf_hash(data: bytes) -> bytes:
    return sha256(b"\x00" + data)


def node_hash(left: bytes, right: bytes) -> bytes:
    return sha256(b"\x01" + left + right)


def _split(n: int) -> int:
    """Largest power of two smaller than n (n > 1)."""
    return 1 << ((n - 1).bit_length() - 1)


def root(leaf_hashes: list[bytes]) -> bytes:
    """The root of a tree over already-hashed leaves (SHA-256("") when empty)."""
    n = len(leaf_hashes)
    if n == 0:
        return EMPTY_ROOT
    if n == 1:
        return leaf_hashes[0]
    k = _split(n)
    return node_hash(root(leaf_hashes[:k]), root(leaf_hashes[k:]))


class MerkleTree:
    """A tree over leaf hashes with memoised subtree roots, for roots of prefixes."""

    def __init__(self, leaf_hashes: list[bytes]):
        self.leaves = leaf_hashes
        self._memo: dict[tuple[int, int], bytes] = {}

    def _mth(self, lo: int, hi: int) -> bytes:
        if hi - lo == 1:
            return self.leaves[lo]
        key = (lo, hi)
        if key not in self._memo:
            k = _split(hi - lo)
            self._memo[key] = node_hash(self._mth(lo, lo + k), self._mth(lo + k, hi))
        return self._memo[key]

    def root(self, size: int | None = None) -> bytes:
        size = len(self.leaves) if size is None else size
        return EMPTY_ROOT if size == 0 else self._mth(0, size)

    def inclusion_proof(self, index: int, size: int | None = None) -> list[bytes]:
        size = len(self.leaves) if size is None else size

        def path(m: int, lo: int, hi: int) -> list[bytes]:
            if hi - lo <= 1:
                return []
            k = _split(hi - lo)
            if m < k:
                return path(m, lo, lo + k) + [self._mth(lo + k, hi)]
            return path(m - k, lo + k, hi) + [self._mth(lo, lo + k)]

        return path(index, 0, size)


def verify_inclusion(leaf: bytes, index: int, size: int, proof: list[bytes], root_hash: bytes) -> bool:
    """RFC 9162 §2.1.3.2, with `leaf` already the leaf hash."""
    if index >= size:
        return False
    fn, sn, r = index, size - 1, leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            r = node_hash(r, p)
        fn, sn = fn >> 1, sn >> 1
    return sn == 0 and r == root_hash


def verify_consistency(old_size: int, new_size: int, old_root: bytes, new_root: bytes, proof: list[bytes]) -> bool:
    """RFC 9162 §2.1.4.2, plus the trivial cases it leaves to the caller (an empty old
    tree, or equal sizes: both with an empty proof)."""
    if old_size > new_size:
        return False
    if old_size == 0:
        return proof == []
    if old_size == new_size:
        return proof == [] and old_root == new_root
    if not proof:
        return False
    path = list(proof)
    if old_size & (old_size - 1) == 0:
        path.insert(0, old_root)
    fn, sn = old_size - 1, new_size - 1
    while fn & 1:
        fn, sn = fn >> 1, sn >> 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr, sr = node_hash(c, fr), node_hash(c, sr)
            while not fn & 1 and fn != 0:
                fn, sn = fn >> 1, sn >> 1
        else:
            sr = node_hash(sr, c)
        fn, sn = fn >> 1, sn >> 1
    return fr == old_root and sr == new_root and sn == 0


def event_leaf(sequence: int, enclave_time: int, message_type: int, body: bytes) -> bytes:
    """The 49-byte `eventsRoot` leaf data of docs/COMMITMENTS.md §2.1 for a frame body."""
    return sequence.to_bytes(8, "big") + enclave_time.to_bytes(8, "big") + bytes([message_type]) + sha256(body)
