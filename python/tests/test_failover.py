"""Client failover's pure parts (PROTOCOL.md §2.14): the address list and the identity."""

from __future__ import annotations

from types import SimpleNamespace

import pytest

from sealstream.failover import AddressInvalid, Identity, WrongIdentity, parse_hosts, rotated


def test_host_lists_parse_and_reject_what_the_docs_reject():
    assert parse_hosts("127.0.0.1:7400") == ["127.0.0.1:7400"]
    assert parse_hosts("a:1, b:2 ,[::1]:3") == ["a:1", "b:2", "[::1]:3"]
    assert parse_hosts(["a:1", "b:2"]) == ["a:1", "b:2"]
    # PROTOCOL §2.14: leading zeros allowed, entries compared as text, only U+0020 trimmed.
    assert parse_hosts("a:0080,a:80") == ["a:0080", "a:80"]
    assert parse_hosts("\ta:1") == ["\ta:1"]
    for bad in ["", "a:1,", ",a:1", "a", "a:0", "a:65536", ":1", "a:x", "a:1,a:1", "a:+80", "a:-0", "a: 80",
                "a:80\t", "a:\u0668\u0660", "a:\uff18\uff10", "a:"]:
        with pytest.raises(AddressInvalid):
            parse_hosts(bad)
    with pytest.raises(AddressInvalid):
        parse_hosts([])


def test_rotation_starts_at_the_given_address():
    assert rotated(["a", "b", "c"], "b") == ["b", "c", "a"]
    assert rotated(["a", "b", "c"], "a") == ["a", "b", "c"]
    assert rotated(["a", "b"], "z") == ["a", "b"]


def evidence(**changes):
    base = dict(signer="0x" + "aa" * 20, enclave_key=b"\xbb" * 32, measurement=b"\x01" * 32,
                config_hash=b"\x02" * 32, mode="software", instance_id="one")  # fmt: skip
    base.update(changes)
    return SimpleNamespace(**base)


def test_identity_is_everything_but_the_instance():
    pin = Identity.of(evidence())
    assert pin.differences(Identity.of(evidence(instance_id="two"))) == []
    assert pin.differences(Identity.of(evidence(signer="0x" + "AA" * 20))) == []  # case of the hex address
    assert pin.differences(Identity.of(evidence(signer="0x" + "ab" * 20, enclave_key=b"\xbc" * 32))) == [
        "signer", "enclaveKey"]  # fmt: skip
    assert pin.differences(Identity.of(evidence(measurement=b"\x03" * 32, config_hash=b"\x04" * 32, mode="tpm"))) == [
        "measurement", "configHash", "mode"]  # fmt: skip
    e = WrongIdentity("b:2", ["signer"])
    assert e.address == "b:2" and "another identity" in str(e)
