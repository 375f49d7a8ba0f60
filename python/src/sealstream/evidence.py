"""Evidence documents (docs/EVIDENCE.md, docs/ATTESTATION.md §1, §2.1, §4): strict
parsing of the JSON, the report preimage, the loaded-object manifest."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Any

from .errors import EvidenceError

MAX_DOCUMENT = 60 * 1024
# EVIDENCE.md `bootEventLog`: at most 64 KiB of firmware log, hex; a document carrying one
# may be up to 60 KiB + 128 KiB.
MAX_BOOT_EVENT_LOG = 64 * 1024
MAX_DOCUMENT_WITH_BOOT_LOG = MAX_DOCUMENT + 2 * MAX_BOOT_EVENT_LOG
MODES = {"software": 1, "swtpm": 2, "tpm": 3}
PREIMAGE_TAG = b"sealstream/attest/v1" + b"\x00" * 4
EVENT_TYPES = ("enclave-executable", "venue-config", "loaded-objects")


def _hex(value: Any, what: str, size: int | None = None) -> bytes:
    """Hex with or without 0x, either case (ATTESTATION.md §4: parsers accept either)."""
    if not isinstance(value, str):
        raise EvidenceError(f"{what}: not a hex string")
    text = value[2:] if value[:2] in ("0x", "0X") else value
    try:
        out = bytes.fromhex(text)
    except ValueError:
        raise EvidenceError(f"{what}: not hex") from None
    if len(text) != 2 * len(out) or (size is not None and len(out) != size):
        raise EvidenceError(f"{what}: wrong length")
    return out


@dataclass(frozen=True)
class Preimage:
    mode: int
    nonce: bytes
    enclave_key: bytes
    signer: bytes  # 20-byte address
    measurement: bytes
    config_hash: bytes


def parse_preimage(data: bytes) -> Preimage:
    """ATTESTATION.md §1; no trailing bytes."""
    if len(data) < 26 or data[:24] != PREIMAGE_TAG:
        raise EvidenceError("reportPreimage: bad domain tag")
    mode, n = data[24], data[25]
    if n > 64 or len(data) != 26 + n + 116:
        raise EvidenceError("reportPreimage: wrong length")
    at = 26 + n
    return Preimage(mode, data[26:at], data[at : at + 32], data[at + 32 : at + 52], data[at + 52 : at + 84], data[at + 84 : at + 116])


def manifest(objects: list[dict]) -> bytes:
    """`sha256 ␠␠ path LF` per object, in the given (canonical) order (ATTESTATION.md §2.1)."""
    return b"".join(f"{o['sha256']}  {o['path']}\n".encode() for o in objects)


def check_loaded_objects(objects: Any, what: str) -> list[dict]:
    """Canonical: sorted by UTF-8 path bytes, unique, absolute, lower-case hex, ≤ 256."""
    if not isinstance(objects, list) or len(objects) > 256:
        raise EvidenceError(f"{what}: not a list of at most 256 objects")
    out, last = [], None
    for o in objects:
        if not isinstance(o, dict) or set(o) != {"path", "sha256"}:
            raise EvidenceError(f"{what}: each object is {{path, sha256}}")
        path, digest = o["path"], o["sha256"]
        if not isinstance(path, str) or not path.startswith("/") or any(c in path for c in "\x00\r\n"):
            raise EvidenceError(f"{what}: bad path {path!r}")
        if not isinstance(digest, str) or digest != digest.lower():
            raise EvidenceError(f"{what}: digest must be lower-case hex")
        _hex(digest, what, 32)
        key = path.encode()
        if last is not None and key <= last:
            raise EvidenceError(f"{what}: not strictly sorted by path")
        last = key
        out.append({"path": path, "sha256": digest})
    return out


@dataclass
class Evidence:
    """A parsed evidence document. `raw` is the document itself (the dict)."""

    raw: dict
    mode: str
    enclave_key: bytes
    signer: str  # lower-case 0x address
    measurement: bytes
    config_hash: bytes
    nonce: bytes
    venue_id: int
    chain_id: int
    verifying_contract: str
    instance_id: str
    storage_key: str | None

    @property
    def simulated(self) -> bool:
        return self.mode != "tpm"


def parse_evidence(data: bytes | str | dict) -> Evidence:
    """The fields every client needs; the attestation parts are read by `attest.verify`.
    Anything malformed raises EvidenceError."""
    try:
        return _parse_evidence(data)
    except (TypeError, KeyError, AttributeError, ValueError) as e:
        if isinstance(e, EvidenceError):
            raise
        raise EvidenceError(f"evidence malformed: {type(e).__name__}") from None


def _parse_evidence(data: bytes | str | dict) -> Evidence:
    if isinstance(data, dict):
        doc = data
    else:
        raw = data.encode() if isinstance(data, str) else data
        if len(raw) > MAX_DOCUMENT_WITH_BOOT_LOG:
            raise EvidenceError(f"evidence of {len(raw)} bytes exceeds {MAX_DOCUMENT_WITH_BOOT_LOG}")
        from .outputs.strict import RecordError, strict_loads

        try:  # EVIDENCE.md "Parsing" rule 1: repeated members, 7.0, -0, a BOM refused
            doc = strict_loads(raw)
        except RecordError as e:
            raise EvidenceError(f"evidence is not strict JSON: {e}") from None
        if isinstance(doc, dict) and "bootEventLog" not in doc and len(raw) > MAX_DOCUMENT:
            raise EvidenceError(f"evidence of {len(raw)} bytes without a bootEventLog exceeds {MAX_DOCUMENT}")
    if not isinstance(doc, dict):
        raise EvidenceError("evidence is not a JSON object")
    if "bootEventLog" in doc:
        log = doc["bootEventLog"]
        # Hex without 0x (either case), 1 to 64 KiB once decoded, as the Swift parser.
        if not isinstance(log, str) or log[:2] in ("0x", "0X") or not 0 < len(_hex(log, "bootEventLog")) <= MAX_BOOT_EVENT_LOG:
            raise EvidenceError(f"bootEventLog is not hex of 1...{MAX_BOOT_EVENT_LOG} bytes")
    _check_members(doc)
    if doc.get("version") != 2:
        raise EvidenceError(f"evidence version {doc.get('version')!r} (2 required)")
    mode = doc.get("mode")
    if mode not in MODES:
        raise EvidenceError(f"unknown mode {mode!r}")
    if doc.get("simulated") is not (mode != "tpm"):
        raise EvidenceError("`simulated` disagrees with `mode`")
    signer = doc.get("signer")
    if not isinstance(signer, str) or not signer.startswith("0x"):
        raise EvidenceError("signer is not a 0x address")
    enclave_key = _plain_hex(doc["enclaveKey"], "enclaveKey", 32)
    _hex(signer, "signer", 20)
    contract = doc["verifyingContract"]
    if not contract.startswith("0x"):
        raise EvidenceError("verifyingContract is not a 0x address")
    _hex(contract, "verifyingContract", 20)
    nonce = _plain_hex(doc["nonce"], "nonce")
    if len(nonce) > 64:
        raise EvidenceError("nonce is longer than 64 bytes")
    storage = doc.get("storageKey")
    return Evidence(
        raw=doc,
        mode=mode,
        enclave_key=enclave_key,
        signer=signer.lower(),
        measurement=_plain_hex(doc["measurement"], "measurement", 32),
        config_hash=_plain_hex(doc["configHash"], "configHash", 32),
        nonce=nonce,
        venue_id=doc["venueID"],
        chain_id=doc["chainId"],
        verifying_contract=doc["verifyingContract"].lower(),
        instance_id=str(doc.get("instanceID", "")),
        storage_key=storage if isinstance(storage, str) else None,
    )


_U64 = (0, 2**64 - 1)
_I64 = (-(2**63), 2**63 - 1)
# EVIDENCE.md "Parsing" rule 2: the required members and their JSON types.
_REQUIRED = {
    "version": _I64, "mode": str, "isolation": ("process", "vm", "cvm"), "simulated": bool, "instanceID": str,
    "enclaveKey": str, "signer": str, "verifyingContract": str, "measurement": str, "configHash": str, "nonce": str,
    "chainId": _U64, "venueID": _U64, "enclaveTime": _U64, "isolationReport": dict,
}  # fmt: skip
_ISOLATION_REPORT = {"dumpable": bool, "noNewPrivileges": bool, "privateNetworkNamespace": bool,
                     "listeningSockets": _I64, "openFileDescriptors": _I64}  # fmt: skip


def _conforms(value: Any, kind: Any) -> bool:
    if kind is bool:
        return isinstance(value, bool)
    if isinstance(kind, tuple) and isinstance(kind[0], int):
        return isinstance(value, int) and not isinstance(value, bool) and kind[0] <= value <= kind[1]
    if isinstance(kind, tuple):
        return value in kind
    return isinstance(value, kind)


def _check_members(doc: dict) -> None:
    for table, where in ((_REQUIRED, doc), (_ISOLATION_REPORT, doc.get("isolationReport"))):
        for name, kind in table.items():
            if name not in where or not _conforms(where[name], kind):
                raise EvidenceError(f"{name} is missing or not of its type (EVIDENCE.md, Parsing rule 2)")


def _plain_hex(value: Any, what: str, size: int | None = None) -> bytes:
    """Hex without 0x, either case (EVIDENCE.md, Parsing rule 4)."""
    if isinstance(value, str) and value[:2] in ("0x", "0X"):
        raise EvidenceError(f"{what}: hex without 0x expected")
    return _hex(value, what, size)


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
