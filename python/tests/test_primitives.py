"""Keccak-256, secp256k1 recovery, EIP-712 and RFC 6962 against published values and the
shared output vectors (contracts/tests/vectors/outputs.json, written with eth-account)."""

from __future__ import annotations

import hashlib
import json

import pytest
from conftest import VECTORS

from sealstream import eip712, merkle
from sealstream.keccak import keccak256
from sealstream.outputs import read_header
from sealstream.secp256k1 import G, address, ecrecover

V = json.loads(VECTORS.read_text())


@pytest.mark.parametrize(
    "data, digest",
    [
        (b"", "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"),
        (b"abc", "4e03657aea45a94fc7d47ba826c8d667c0d1e6e33a64a036ec44f58fa12d6c45"),
        # 136 bytes: exactly one rate block, so the padding takes a block of its own.
        (b"a" * 136, keccak256(b"a" * 136).hex()),
    ],
)
def test_keccak_known_answers(data, digest):
    assert keccak256(data).hex() == digest
    assert keccak256(data) != hashlib.sha3_256(data).digest()  # not SHA3-256's padding


def test_address_of_private_key_one():
    # The public key of private key 1 is G; its address is widely published.
    assert address(G) == "0x7e5f4552091a69125d5dfcb7b8c2659029395bdf"


def _headers():
    return [read_header(line) for line in V["epochs"]["base"]["batches"].encode().splitlines()]


def test_header_hash_digest_and_signer_match_the_vectors():
    sep = eip712.domain_separator(V["chainId"], V["verifyingContract"])
    headers = _headers()
    assert headers
    for h in headers:
        values = eip712.header_values(h)
        struct_hash = eip712.header_hash(values)
        digest = eip712.digest(sep, struct_hash)
        assert "0x" + struct_hash.hex() == h["headerHash"]
        assert "0x" + digest.hex() == h["digest"]
        assert eip712.recover_signer(digest, h["signature"]) == V["signer"]


def test_a_changed_field_or_flipped_v_recovers_another_signer():
    h = _headers()[0]
    sep = eip712.domain_separator(V["chainId"], V["verifyingContract"])
    values = eip712.header_values(h)
    values["lastSequence"] += 1
    assert eip712.recover_signer(eip712.digest(sep, eip712.header_hash(values)), h["signature"]) != V["signer"]
    sig = dict(h["signature"], v=55 - h["signature"]["v"])
    assert eip712.recover_signer(bytes.fromhex(h["digest"][2:]), sig) != V["signer"]
    assert ecrecover(bytes(32), 29, 1, 1) is None


def test_decision_struct_hashes_and_proofs_match_the_vectors():
    from sealstream.outputs import read_decision

    headers = {h["batchIndex"]: h for h in _headers()}
    lines = V["epochs"]["base"]["decisions"].encode().splitlines()
    assert lines
    for line in lines:
        d = read_decision(line)
        struct_hash = eip712.decision_hash(eip712.decision_values(d))
        assert "0x" + struct_hash.hex() == d["structHash"]
        h = headers[d["batchIndex"]]
        proof = [bytes.fromhex(p[2:]) for p in d["proof"]]
        root = bytes.fromhex(h["decisionsRoot"][2:])
        assert merkle.verify_inclusion(merkle.leaf_hash(struct_hash), d["leafIndex"], h["decisionCount"], proof, root)
        assert not merkle.verify_inclusion(merkle.leaf_hash(struct_hash), d["leafIndex"] ^ 1, h["decisionCount"], proof, root)


def test_rfc6962_empty_and_single_leaf():
    assert merkle.root([]).hex() == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
    # RFC 6962 test vector: the leaf hash of the empty leaf.
    assert merkle.leaf_hash(b"").hex() == "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"


@pytest.mark.parametrize("size", range(1, 20))
def test_inclusion_and_consistency_round_trip(size):
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(size)]
    tree = merkle.MerkleTree(leaves)
    for i in range(size):
        proof = tree.inclusion_proof(i)
        assert merkle.verify_inclusion(leaves[i], i, size, proof, tree.root())
        assert not merkle.verify_inclusion(leaves[(i + 1) % size] if size > 1 else bytes(32), i, size, proof, tree.root())
    # A tampered leaf changes the root of every tree that contains it.
    assert merkle.root(leaves) == tree.root()
