"""reference.py itself, against published RFC 6962 vectors (Certificate Transparency's
test tree), so that agreeing with it means agreeing with the RFC."""

from __future__ import annotations

import pytest

import reference

CT_LEAVES = [
    bytes.fromhex(h)
    for h in (
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    )
]
# Root of the first n leaves, n = 0..8.
CT_ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
CT_INCLUSION = [  # (leaf index, tree size, proof)
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
]
CT_CONSISTENCY = [  # (old size, new size, proof)
    (
        1,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        6,
        8,
        [
            "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (
        2,
        5,
        [
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


@pytest.fixture(scope="module")
def ct_tree() -> reference.MerkleTree:
    tree = reference.MerkleTree()
    for leaf in CT_LEAVES:
        tree.append(leaf)
    return tree


def test_roots(ct_tree):
    assert [ct_tree.root(n).hex() for n in range(9)] == CT_ROOTS


@pytest.mark.parametrize("index, size, proof", CT_INCLUSION)
def test_inclusion_vectors(ct_tree, index, size, proof):
    assert [p.hex() for p in ct_tree.inclusion_proof(index, size)] == proof
    root = bytes.fromhex(CT_ROOTS[size])
    path = [bytes.fromhex(p) for p in proof]
    assert reference.verify_inclusion(ct_tree.leaves[index], index, size, path, root)


@pytest.mark.parametrize("old, new, proof", CT_CONSISTENCY)
def test_consistency_vectors(ct_tree, old, new, proof):
    assert [p.hex() for p in ct_tree.consistency_proof(old, new)] == proof
    roots = bytes.fromhex(CT_ROOTS[old]), bytes.fromhex(CT_ROOTS[new])
    path = [bytes.fromhex(p) for p in proof]
    assert reference.verify_consistency(old, new, *roots, path)


def test_every_proof_of_every_small_tree():
    """All shapes of the recursion: every leaf and every old size up to 33 leaves
    verifies, and the same proof fails for the neighbouring index or a changed hash."""
    tree = reference.MerkleTree()
    for i in range(33):
        tree.append(bytes([i, i * 7 % 256]))
    for n in range(1, 34):
        root = tree.root(n)
        for m in range(n):
            proof = tree.inclusion_proof(m, n)
            assert reference.verify_inclusion(tree.leaves[m], m, n, proof, root)
            assert not reference.verify_inclusion(tree.leaves[m], m ^ 1, n, proof, root)
            if proof:
                bad = [proof[0][:-1] + bytes([proof[0][-1] ^ 1])] + proof[1:]
                assert not reference.verify_inclusion(tree.leaves[m], m, n, bad, root)
        for m in range(n + 1):
            proof = tree.consistency_proof(m, n)
            assert reference.verify_consistency(m, n, tree.root(m), root, proof)
            if 0 < m < n:
                assert not reference.verify_consistency(m, n, tree.root(m - 1), root, proof)
                assert not reference.verify_consistency(m, n, tree.root(m), root, proof[:-1])
