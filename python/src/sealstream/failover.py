"""Client failover (docs/PROTOCOL.md §2.14), the pure parts: the host address list, the
round-robin order and the enclave identity a new primary must have."""

from __future__ import annotations

from dataclasses import dataclass

from .errors import SealstreamError


class AddressInvalid(SealstreamError):
    """A host list that is not `HOST:PORT[,HOST:PORT...]` (empty entry, bad port, repeat)."""


class WrongIdentity(SealstreamError):
    """With several host addresses: the enclave at `address` is another identity than the
    one first trusted (`differs` names the fields); the host is skipped, nothing is sent."""

    def __init__(self, address: str, differs: list[str]):
        super().__init__(f"refused the host at {address}: its enclave is another identity "
                         f"({', '.join(differs)} differ); nothing was sent to it")  # fmt: skip
        self.address, self.differs = address, differs


def parse_hosts(hosts: str | list[str]) -> list[str]:
    """A comma-separated list (or a list) of `HOST:PORT` (docs/PROTOCOL.md §2.14): each with
    a non-empty host and a port of ASCII digits (no sign, leading zeros allowed) whose value
    is 1–65535, none twice (compared as trimmed text), at least one; spaces (U+0020 only)
    around entries are ignored."""
    entries = hosts.split(",") if isinstance(hosts, str) else list(hosts)
    out: list[str] = []
    for raw in entries:
        entry = raw.strip(" ")
        host, colon, port = entry.rpartition(":")
        ascii_digits = port != "" and all("0" <= c <= "9" for c in port)
        if not colon or not host or not ascii_digits or not 1 <= int(port) <= 65535:
            raise AddressInvalid(f"invalid address {entry!r}, expected HOST:PORT")
        if entry in out:
            raise AddressInvalid(f"{entry} is given twice")
        out.append(entry)
    if not out:
        raise AddressInvalid("no host address")
    return out


def rotated(addresses: list[str], first: str) -> list[str]:
    """`addresses` starting at `first`, round-robin order kept; unchanged if absent."""
    if first not in addresses:
        return list(addresses)
    i = addresses.index(first)
    return addresses[i:] + addresses[:i]


@dataclass(frozen=True)
class Identity:
    """The enclave identity a client pins (§2.14 step 3): everything but the instance id."""

    signer: str
    enclave_key: bytes
    measurement: bytes
    config_hash: bytes
    mode: str

    @classmethod
    def of(cls, evidence) -> "Identity":
        return cls(evidence.signer.lower(), evidence.enclave_key, evidence.measurement, evidence.config_hash,
                   evidence.mode)  # fmt: skip

    def differences(self, other: "Identity") -> list[str]:
        """Names of the fields in which `other` differs, in a fixed order; empty if the same."""
        names = ("signer", "enclave_key", "measurement", "config_hash", "mode")
        swift = {"enclave_key": "enclaveKey", "config_hash": "configHash"}
        return [swift.get(n, n) for n in names if getattr(self, n) != getattr(other, n)]
