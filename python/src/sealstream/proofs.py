"""A trader's inclusion proof (docs/COMMITMENTS.md §2.1, §4): rebuild the event leaf from
your own frame body and receipt, check the host's proof against the header's
`eventsRoot`, and the header's signature against the attested signer."""

from __future__ import annotations

import json
from dataclasses import dataclass

from . import eip712, merkle
from .errors import ProofError
from .outputs.strict import RecordError, read_header, strict_loads


@dataclass(frozen=True)
class Domain:
    """What a header is checked against: from verified evidence, never from the host."""

    signer: str
    chain_id: int
    verifying_contract: str
    venue_id: int

    @classmethod
    def from_evidence(cls, evidence) -> "Domain":
        return cls(evidence.signer, evidence.chain_id, evidence.verifying_contract, evidence.venue_id)


def check_header(header: dict, domain: Domain) -> bytes:
    """Recompute hash and digest, recover the signer; returns the header hash."""
    values = eip712.header_values(header)
    struct_hash = eip712.header_hash(values)
    digest = eip712.digest(eip712.domain_separator(domain.chain_id, domain.verifying_contract), struct_hash)
    if header["headerHash"] != "0x" + struct_hash.hex() or header["digest"] != "0x" + digest.hex():
        raise ProofError("header hash or digest does not match its fields")
    if eip712.recover_signer(digest, header["signature"]) != domain.signer.lower():
        raise ProofError("header is not signed by the attested signer")
    if header["venueId"] != domain.venue_id:
        raise ProofError("header of another venue")
    return struct_hash


def verify_event_inclusion(answer: bytes, body: bytes, message_type: int, sequence: int, enclave_time: int,
                           domain: Domain) -> dict:
    """Check a `GET /v1/events/proof` answer for the frame `body` of `message_type`
    (3, 4 or 5) that was sequenced at (`sequence`, `enclave_time`); returns the header."""
    try:
        doc = strict_loads(answer)
        if not isinstance(doc, dict) or set(doc) != {"header", "leaf", "leafIndex", "proof"}:
            raise ProofError("proof answer has the wrong members")
        header = read_header(json.dumps(doc["header"]).encode())
        proof = [bytes.fromhex(p[2:]) for p in doc["proof"]]
    except RecordError as e:
        raise ProofError(f"proof answer refused: {e}") from None
    except (TypeError, ValueError, AttributeError):
        raise ProofError("proof answer malformed") from None
    if doc["leafIndex"] != sequence - 1:
        raise ProofError("proof for another leaf")
    if not header["firstSequence"] <= sequence <= header["lastSequence"]:
        raise ProofError("header does not cover the sequence number")
    check_header(header, domain)
    leaf = merkle.event_leaf(sequence, enclave_time, message_type, body)
    if not merkle.verify_inclusion(merkle.leaf_hash(leaf), sequence - 1, header["lastSequence"], proof,
                                   bytes.fromhex(header["eventsRoot"][2:])):
        raise ProofError("inclusion proof does not reach the signed eventsRoot")
    return header


def verify_decisions(answer: bytes, header_answer: bytes, domain: Domain) -> list[dict]:
    """Check a `GET /v1/decisions?batch=I` answer against `GET /v1/batches/I`: the header
    signed by the attested signer, and every decision's struct hash and RFC 6962 proof
    into its `decisionsRoot` (COMMITMENTS.md §2.3, §5.2 checks 14–15). Returns the
    decisions; a trader finds its own by the account commitment its session returned."""
    from .outputs.strict import read_decision

    try:
        header = read_header(header_answer)
        items = strict_loads(answer)
        if not isinstance(items, list):
            raise ProofError("decisions answer is not an array")
        decisions = [read_decision(json.dumps(d).encode()) for d in items]
    except RecordError as e:
        raise ProofError(f"record refused: {e}") from None
    check_header(header, domain)
    root = bytes.fromhex(header["decisionsRoot"][2:])
    if [d["leafIndex"] for d in decisions] != list(range(header["decisionCount"])):
        raise ProofError("the answer does not hold the batch's decisions in order")
    for d in decisions:
        if d["batchIndex"] != header["batchIndex"] or d["venueId"] != domain.venue_id:
            raise ProofError("decision of another batch or venue")
        struct_hash = eip712.decision_hash(eip712.decision_values(d))
        if d["structHash"] != "0x" + struct_hash.hex():
            raise ProofError("decision struct hash does not match its fields")
        proof = [bytes.fromhex(p[2:]) for p in d["proof"]]
        if not merkle.verify_inclusion(merkle.leaf_hash(struct_hash), d["leafIndex"], header["decisionCount"], proof, root):
            raise ProofError("decision proof does not reach the signed decisionsRoot")
    return decisions


def _answer_records(answer: bytes, read) -> list[dict]:
    items = strict_loads(answer)
    if not isinstance(items, list):
        raise ProofError("answer is not an array")
    return [read(json.dumps(d, separators=(",", ":")).encode()) for d in items]


def verify_inputs(answer: bytes, header_answer: bytes, domain: Domain, event_proof) -> list[dict]:
    """Check a `GET /v1/inputs?batch=I` answer against `GET /v1/batches/I` (COMMITMENTS.md
    §4.1, §4.2): the header signed by the attested signer; every record read strictly
    (§5.1), in ascending sequence order inside the header's range; its frame body rebuilt
    from its fields and proven in the signed event log by `event_proof(sequence)` (the
    bytes of `GET /v1/events/proof?sequence=N`). Signatures and admission need the venue
    configuration, and a withheld input needs `events.log`: `verify_directory(public=True,
    config=…)` checks those. Returns the records."""
    from .outputs.public import INPUT_TYPES, input_body, read_input

    try:
        header = read_header(header_answer)
        records = _answer_records(answer, read_input)
    except RecordError as e:
        raise ProofError(f"record refused: {e}") from None
    check_header(header, domain)
    previous = header["firstSequence"] - 1
    for r in records:
        if not previous < r["sequence"] <= header["lastSequence"]:
            raise ProofError("input out of order or outside the batch")
        previous = r["sequence"]
        message_type = INPUT_TYPES[r["kind"]]
        proven = verify_event_inclusion(event_proof(r["sequence"]), input_body(r), message_type, r["sequence"],
                                        r["enclaveTime"], domain)  # fmt: skip
        if proven["headerHash"] != header["headerHash"]:
            raise ProofError("input proven under another batch")
    return records


def verify_funding(answer: bytes, header_answer: bytes, domain: Domain) -> list[dict]:
    """Check a `GET /v1/funding?batch=I` answer against `GET /v1/batches/I` (§4.3): the
    header signed by the attested signer; every record read strictly, its struct hash and
    digest recomputed, signed by the attested signer, of this venue, in order inside the
    header's range. The schedule and the marks need `verify_directory(public=True, config=…)`.
    Returns the records."""
    from .outputs.public import read_funding

    try:
        header = read_header(header_answer)
        records = _answer_records(answer, read_funding)
    except RecordError as e:
        raise ProofError(f"record refused: {e}") from None
    check_header(header, domain)
    separator = eip712.domain_separator(domain.chain_id, domain.verifying_contract)
    previous = header["firstSequence"]
    for r in records:
        struct_hash = eip712.funding_hash(r)
        digest = eip712.digest(separator, struct_hash)
        if r["structHash"] != "0x" + struct_hash.hex() or r["digest"] != "0x" + digest.hex():
            raise ProofError("funding struct hash or digest does not match its fields")
        try:
            recovered = eip712.recover_signer(digest, r["signature"])
        except ValueError:
            recovered = None
        if recovered != domain.signer.lower() or r["signer"] != domain.signer.lower():
            raise ProofError("funding record is not signed by the attested signer")
        if r["venueId"] != domain.venue_id:
            raise ProofError("funding record of another venue")
        if not previous <= r["sequence"] <= header["lastSequence"]:
            raise ProofError("funding record out of order or outside the batch")
        previous = r["sequence"]
    return records
