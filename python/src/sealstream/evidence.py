"""Evidence documents (docs/EVIDENCE.md, docs/ATTESTATION.md §1, §2.1, §4): strict
parsing of the JSON, the report preimage, the loaded-object manifest."""

from __future__ import annotations

import hashlib
import json
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


def _dup_refusing(pairs: list) -> dict:
    out: dict = {}
    for k, v in pairs:
        if k in out:
            raise EvidenceError(f"duplicate member {k!r}")
        out[k] = v
    return out


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
        try:
            doc = json.loads(raw, object_pairs_hook=_dup_refusing)
        except (ValueError, UnicodeDecodeError) as e:
            if isinstance(e, EvidenceError):
                raise
            raise EvidenceError(f"evidence is not JSON: {e}") from None
        if isinstance(doc, dict) and "bootEventLog" not in doc and len(raw) > MAX_DOCUMENT:
            raise EvidenceError(f"evidence of {len(raw)} bytes without a bootEventLog exceeds {MAX_DOCUMENT}")
    if not isinstance(doc, dict):
        raise EvidenceError("evidence is not a JSON object")
    if "bootEventLog" in doc:
        log = doc["bootEventLog"]
        # Hex without 0x (either case), 1 to 64 KiB once decoded, as the Swift parser.
        if not isinstance(log, str) or log[:2] in ("0x", "0X") or not 0 < len(_hex(log, "bootEventLog")) <= MAX_BOOT_EVENT_LOG:
            raise EvidenceError(f"bootEventLog is not hex of 1...{MAX_BOOT_EVENT_LOG} bytes")
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
    _hex(signer, "signer", 20)
    for name in ("venueID", "chainId"):
        if isinstance(doc.get(name), bool) or not isinstance(doc.get(name), int):
            raise EvidenceError(f"{name} is not an integer")
    _hex(doc.get("verifyingContract"), "verifyingContract", 20)
    storage = doc.get("storageKey")
    return Evidence(
        raw=doc,
        mode=mode,
        enclave_key=_hex(doc.get("enclaveKey"), "enclaveKey", 32),
        signer=signer.lower(),
        measurement=_hex(doc.get("measurement"), "measurement", 32),
        config_hash=_hex(doc.get("configHash"), "configHash", 32),
        nonce=_hex(doc.get("nonce", ""), "nonce"),
        venue_id=doc["venueID"],
        chain_id=doc["chainId"],
        verifying_contract=doc["verifyingContract"].lower(),
        instance_id=str(doc.get("instanceID", "")),
        storage_key=storage if isinstance(storage, str) else None,
    )


def sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()
