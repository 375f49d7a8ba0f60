"""Evidence verification against an auditor's policy (docs/ATTESTATION.md §5): one
verdict per named check, every check evaluated whatever failed before it. A check whose
input is missing or did not parse fails with actual `not evaluated`.

With `state` (`sealstream.state.VerifierState`, the `--state` file of §5.3) the `nonce`
and `clock` checks also compare against what earlier verifications remembered, and a
passing report carries the state to save in `next_state`.
"""

from __future__ import annotations

import datetime
import hashlib
import json
from dataclasses import dataclass, field
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature

from . import evidence as ev
from . import tpm
from .state import ClockInfo, VerifierState
from .errors import EvidenceError, PolicyError

CHECKS = [
    "parse", "mode", "ek.chain", "ak.enrolled", "ak.attributes", "quote.signature", "quote.magic", "quote.type",
    "quote.signer", "quote.extraData", "preimage", "pcr.selection", "pcr.sha1", "pcr.digest", "nonce", "clock",
    "eventlog", "measurement", "configHash", "loadedObjects", "boot.pcrs",
    # The measured boot of the appliance image (IMAGE.md §7): this SDK refuses a policy with
    # an `image` section (Policy.from_json), so these pass as "not applicable", as in Swift.
    "boot.eventlog", "image.pcrs", "image.uki", "image.kernel", "image.initrd", "image.cmdline",
]  # fmt: skip
NOT_EVALUATED = "not evaluated"
BANKS = {"sha1": tpm.TPM_ALG_SHA1, "sha256": tpm.TPM_ALG_SHA256, "sha384": tpm.TPM_ALG_SHA384, "sha512": tpm.TPM_ALG_SHA512}


@dataclass(frozen=True)
class Policy:
    """ATTESTATION.md §5.1, as `attestation measure` writes it."""

    measurement: bytes
    config_hash: bytes
    allowed_modes: list[str]
    pcr: int = 23
    boot_pcrs: dict[int, bytes] = field(default_factory=dict)
    ek_roots: list[x509.Certificate] = field(default_factory=list)
    swtpm_ek_roots: list[x509.Certificate] = field(default_factory=list)
    ak_names: list[bytes] = field(default_factory=list)
    loaded_objects: list[dict] = field(default_factory=list)

    @classmethod
    def from_json(cls, data: bytes | str | dict) -> "Policy":
        try:
            p = data if isinstance(data, dict) else json.loads(data)
            if p.get("version") != 2:
                raise PolicyError(f"policy version {p.get('version')!r} (2 required)")
            if "image" in p:
                # Passing such a policy without its image checks would vouch for a boot
                # chain nobody checked (docs/IMAGE.md §5.3): refuse rather than ignore.
                raise PolicyError(
                    "policy has an image section (docs/IMAGE.md §5.3): this SDK does not verify a measured"
                    " boot; verify with `attestation verify`"
                )
            pcr = p.get("pcr", 23)
            if not isinstance(pcr, int) or not 8 <= pcr <= 23:
                raise PolicyError("pcr must be 8…23")
            modes = p["allowedModes"]
            if not isinstance(modes, list) or any(m not in ev.MODES for m in modes):
                raise PolicyError("allowedModes must name software, swtpm or tpm")
            return cls(
                measurement=ev._hex(p["measurement"], "measurement", 32),
                config_hash=ev._hex(p["configHash"], "configHash", 32),
                allowed_modes=list(modes),
                pcr=pcr,
                boot_pcrs={int(k): ev._hex(v, "bootPCRs", 32) for k, v in (p.get("bootPCRs") or {}).items()},
                ek_roots=_pems(p.get("ekRoots") or []),
                swtpm_ek_roots=_pems(p.get("swtpmEKRoots") or []),
                ak_names=[ev._hex(n, "akNames", 34) for n in p.get("akNames") or []],
                loaded_objects=ev.check_loaded_objects(p["loadedObjects"], "policy loadedObjects"),
            )
        except PolicyError:
            raise
        except (KeyError, TypeError, ValueError, EvidenceError) as e:
            raise PolicyError(f"policy does not parse: {e}") from None


def _pems(pems: list[str]) -> list[x509.Certificate]:
    out = []
    for text in pems:
        out.extend(x509.load_pem_x509_certificates(text.encode()))
    return out


@dataclass(frozen=True)
class Check:
    check: str
    passed: bool
    expected: str = ""
    actual: str = ""
    detail: str = ""


@dataclass(frozen=True)
class Report:
    checks: list[Check]
    mode: str
    simulated: bool
    # What to remember when every check passed (and a state was given); None otherwise.
    next_state: VerifierState | None = None

    @property
    def ok(self) -> bool:
        return all(c.passed for c in self.checks)

    def check(self, name: str) -> Check:
        return next(c for c in self.checks if c.check == name)

    def failed(self) -> list[str]:
        return [c.check for c in self.checks if not c.passed]

    def to_json(self) -> dict:
        """ATTESTATION.md §5.5 `verify --json`: `mode` is absent when the evidence did not parse."""
        out = {
            "ok": self.ok, "simulated": self.simulated, "mode": self.mode,
            "checks": [{"check": c.check, "pass": c.passed, "expected": c.expected, "actual": c.actual,
                        "detail": c.detail} for c in self.checks],
        }  # fmt: skip
        if self.mode not in ("software", "swtpm", "tpm"):
            del out["mode"]
        return out


@dataclass
class _Parsed:
    evidence: ev.Evidence
    ak: tpm.EccPublic
    attest: tpm.Attest
    signature: tpm.Signature
    attest_bytes: bytes
    preimage_bytes: bytes
    preimage: ev.Preimage
    bank: str
    pcrs: list[int]
    pcr_values: dict[int, bytes]
    event_log: list[dict]
    loaded_objects: list[dict]
    ek: x509.Certificate | None
    ek_chain: list[x509.Certificate]


def _parse(data: bytes | str | dict) -> _Parsed:
    e = ev.parse_evidence(data)
    doc = e.raw
    a = doc.get("attestation")
    if not isinstance(a, dict) or "eventLog" not in doc or "reportPreimage" not in doc:
        raise EvidenceError("attestation, eventLog and reportPreimage are required")
    attest_bytes = ev._hex(a.get("quote"), "quote")
    if len(attest_bytes) > 2048:
        raise EvidenceError("TPMS_ATTEST over 2,048 bytes")
    ak_bytes, sig_bytes = ev._hex(a.get("akPublic"), "akPublic"), ev._hex(a.get("signature"), "signature")
    if len(ak_bytes) > 1024 or len(sig_bytes) > 1024:
        raise EvidenceError("TPMT_PUBLIC or TPMT_SIGNATURE over 1,024 bytes")
    bank = a.get("pcrBank")
    if bank not in BANKS:
        raise EvidenceError(f"pcrBank {bank!r}")
    pcrs = a.get("pcrs")
    if not isinstance(pcrs, list) or any(not isinstance(i, int) or isinstance(i, bool) or not 0 <= i < 64 for i in pcrs):
        raise EvidenceError("pcrs must be indices < 64")
    if any(b <= x for x, b in zip(pcrs, pcrs[1:])):
        raise EvidenceError("pcrs not strictly ascending")
    values = a.get("pcrValues")
    size = tpm.DIGEST_SIZES[BANKS[bank]]
    if not isinstance(values, dict) or sorted(values) != sorted(str(i) for i in pcrs):
        raise EvidenceError("pcrValues must hold exactly one value per entry of pcrs")
    pcr_values = {int(k): ev._hex(v, "pcrValues", size) for k, v in values.items()}
    log = doc["eventLog"]
    if not isinstance(log, list) or len(log) > 64:
        raise EvidenceError("eventLog must be a list of at most 64 entries")
    entries = []
    for x in log:
        if not isinstance(x, dict) or x.get("type") not in ev.EVENT_TYPES or not isinstance(x.get("pcr"), int):
            raise EvidenceError("eventLog entry malformed")
        entries.append({"pcr": x["pcr"], "type": x["type"], "digest": ev._hex(x.get("digest"), "eventLog digest", 32)})
    ek = None
    if a.get("ekCertificate") is not None:
        ek = _cert(a["ekCertificate"])
    chain = [_cert(c) for c in (a.get("ekChain") or [])]
    if len(chain) > 4:
        raise EvidenceError("ekChain holds more than 4 certificates")
    preimage_bytes = ev._hex(doc["reportPreimage"], "reportPreimage")
    return _Parsed(
        evidence=e, ak=tpm.parse_public(ak_bytes), attest=tpm.parse_attest(attest_bytes),
        signature=tpm.parse_signature(sig_bytes), attest_bytes=attest_bytes, preimage_bytes=preimage_bytes,
        preimage=ev.parse_preimage(preimage_bytes), bank=bank, pcrs=pcrs, pcr_values=pcr_values, event_log=entries,
        loaded_objects=ev.check_loaded_objects(doc.get("loadedObjects", []), "loadedObjects"), ek=ek, ek_chain=chain,
    )  # fmt: skip


def _cert(value: Any) -> x509.Certificate:
    der = ev._hex(value, "certificate")
    if len(der) > 16 * 1024:
        raise EvidenceError("certificate over 16 KiB")
    try:
        return x509.load_der_x509_certificate(der)
    except ValueError as e:
        raise EvidenceError(f"certificate does not parse: {e}") from None


def _bits(attributes: int) -> list[str]:
    names = {tpm.FIXED_TPM: "fixedTPM", tpm.FIXED_PARENT: "fixedParent", tpm.SENSITIVE_DATA_ORIGIN: "sensitiveDataOrigin",
             tpm.RESTRICTED: "restricted", tpm.SIGN: "sign"}  # fmt: skip
    return [n for bit, n in names.items() if not attributes & bit]


def verify_ek_chain(leaf: x509.Certificate, chain: list[x509.Certificate], roots: list[x509.Certificate],
                    now: datetime.datetime | None = None) -> str | None:
    """None when `leaf` chains through `chain` (untrusted intermediates) to a self-signed
    root in `roots` (ATTESTATION.md §5.4: validity at `now` for every certificate, issuers
    must be CAs, no unknown critical extension, no partial chains); else why not."""
    now = now or datetime.datetime.now(datetime.timezone.utc)
    known = {x509.BasicConstraints, x509.KeyUsage, x509.SubjectAlternativeName, x509.ExtendedKeyUsage,
             x509.CertificatePolicies, x509.NameConstraints, x509.AuthorityKeyIdentifier, x509.SubjectKeyIdentifier}  # fmt: skip
    cert, path = leaf, [leaf]
    for _ in range(len(chain) + len(roots) + 1):
        if not cert.not_valid_before_utc <= now <= cert.not_valid_after_utc:
            return f"certificate {cert.subject.rfc4514_string()!r} is outside its validity period"
        for ext in cert.extensions:
            if ext.critical and (isinstance(ext.value, x509.UnrecognizedExtension) or type(ext.value) not in known):
                return f"unknown critical extension {ext.oid.dotted_string}"
        if cert in roots and cert.issuer == cert.subject:
            return None
        issuers = [c for c in chain + roots if c.subject == cert.issuer and c not in path]
        for issuer in issuers:
            try:
                bc = issuer.extensions.get_extension_for_class(x509.BasicConstraints).value
            except x509.ExtensionNotFound:
                continue
            if not bc.ca:
                continue
            try:
                cert.verify_directly_issued_by(issuer)
            except (ValueError, TypeError, InvalidSignature):
                continue
            cert = issuer
            path.append(issuer)
            break
        else:
            return f"no trusted issuer for {cert.subject.rfc4514_string()!r}"
    return "chain too long"


def verify(data: bytes | str | dict, policy: Policy, nonce: bytes | None = None, allow_simulated: bool = False,
           state: VerifierState | None = None) -> Report:
    """Every check of ATTESTATION.md §5.2; with `state`, the comparisons of §5.3 too."""
    results: dict[str, Check] = {}

    def put(name: str, ok: bool, expected: Any = "", actual: Any = "", detail: str = "") -> None:
        results[name] = Check(name, bool(ok), str(expected), str(actual), detail)

    try:
        p = _parse(data)
        put("parse", True)
    except (EvidenceError, ValueError, TypeError, KeyError, AttributeError) as e:  # any malformed part
        put("parse", False, "strict evidence version 2", NOT_EVALUATED, str(e))
        for name in CHECKS[1:]:
            put(name, False, "", NOT_EVALUATED, "evidence did not parse")
        return Report([results[c] for c in CHECKS], "unknown", True)

    e, a = p.evidence, p.attest
    mode_ok = e.mode in policy.allowed_modes and (e.mode == "tpm" or allow_simulated)
    put("mode", mode_ok, policy.allowed_modes, e.mode,
        "" if mode_ok or e.mode in policy.allowed_modes else "mode not allowed by the policy")  # fmt: skip
    if e.mode == "software":
        put("ek.chain", p.ek is None, "no EK certificate", "present" if p.ek else "absent",
            "skipped: nothing is anchored in hardware in software mode")  # fmt: skip
    elif p.ek is None:
        put("ek.chain", False, "EK certificate", "absent")
    else:
        roots = policy.ek_roots if e.mode == "tpm" else policy.swtpm_ek_roots
        why = verify_ek_chain(p.ek, p.ek_chain, roots)
        put("ek.chain", why is None, "chain to a policy root", "ok" if why is None else "fails", why or "")
    name = p.ak.name
    if policy.ak_names:
        put("ak.enrolled", name in policy.ak_names, "an enrolled AK", name.hex())
    else:
        put("ak.enrolled", e.mode != "tpm", "an enrolled AK", name.hex(), "no akNames: the AK is not bound to the EK")
    missing = _bits(p.ak.attributes)
    attrs_ok = (
        p.ak.curve == tpm.TPM_ECC_NIST_P256 and p.ak.name_alg == tpm.TPM_ALG_SHA256
        and p.ak.scheme == tpm.TPM_ALG_ECDSA and p.ak.scheme_hash == tpm.TPM_ALG_SHA256
        and p.ak.symmetric == tpm.TPM_ALG_NULL and p.ak.kdf == tpm.TPM_ALG_NULL
        and not missing and not p.ak.attributes & tpm.DECRYPT
    )  # fmt: skip
    key = None
    try:
        key = ec.EllipticCurvePublicNumbers(int.from_bytes(p.ak.x, "big"), int.from_bytes(p.ak.y, "big"), ec.SECP256R1()).public_key()
    except ValueError:
        attrs_ok = False
    put("ak.attributes", attrs_ok, "P-256 ECDSA-SHA256 restricted signing key", "ok" if attrs_ok else "differs",
        ", ".join(f"{m} clear" for m in missing))  # fmt: skip
    sig_ok = False
    if key is not None and p.signature.hash_alg == tpm.TPM_ALG_SHA256:
        der = encode_dss_signature(int.from_bytes(p.signature.r, "big"), int.from_bytes(p.signature.s, "big"))
        try:
            key.verify(der, p.attest_bytes, ec.ECDSA(hashes.SHA256()))
            sig_ok = True
        except InvalidSignature:
            pass
    put("quote.signature", sig_ok, "valid ECDSA-SHA256 under the AK", "valid" if sig_ok else "invalid")
    put("quote.magic", a.magic == tpm.TPM_GENERATED_VALUE, "0xff544347", f"0x{a.magic:08x}")
    put("quote.type", a.type == tpm.TPM_ST_ATTEST_QUOTE, "0x8018", f"0x{a.type:04x}")
    qn = p.ak.qualified_name_as_endorsement_primary
    put("quote.signer", a.qualified_signer == qn, qn.hex(), a.qualified_signer.hex())
    want_extra = hashlib.sha256(p.preimage_bytes).digest()
    put("quote.extraData", a.extra_data == want_extra, want_extra.hex(), a.extra_data.hex())
    pre = p.preimage
    pre_ok = (
        pre.mode == ev.MODES[e.mode] and pre.nonce == e.nonce and pre.enclave_key == e.enclave_key
        and "0x" + pre.signer.hex() == e.signer and pre.measurement == e.measurement and pre.config_hash == e.config_hash
    )  # fmt: skip
    put("preimage", pre_ok, "the evidence's fields", "equal" if pre_ok else "differ")
    sha256_sel = [s for s in a.selections if s.hash_alg == tpm.TPM_ALG_SHA256]
    other = [s for s in a.selections if s.hash_alg != tpm.TPM_ALG_SHA256 and s.pcrs]
    need = {policy.pcr} | (set(range(8)) if e.mode == "tpm" else set())
    selected = sha256_sel[0].pcrs if len(sha256_sel) == 1 else []
    sel_ok = len(sha256_sel) == 1 and need <= set(selected) and not other and p.bank == "sha256" and p.pcrs == selected
    put("pcr.selection", sel_ok, f"sha256 {sorted(need)}", f"{p.bank} {p.pcrs}")
    put("pcr.sha1", not any(s.hash_alg == tpm.TPM_ALG_SHA1 and s.pcrs for s in a.selections), "no SHA-1 bank", "")
    if sel_ok:
        computed = hashlib.sha256(b"".join(p.pcr_values[i] for i in selected)).digest()
        put("pcr.digest", computed == a.pcr_digest, a.pcr_digest.hex(), computed.hex())
    else:
        put("pcr.digest", False, a.pcr_digest.hex(), NOT_EVALUATED, "the selection does not match")
    if nonce is not None and (not nonce or pre.nonce != nonce):
        put("nonce", False, nonce.hex(), pre.nonce.hex(),
            "an empty verifier nonce proves no freshness" if not nonce else "the quote answers another nonce")
    elif nonce is None and not pre.nonce:
        put("nonce", True, "", "(empty)", "no nonce on either side: this evidence is not shown to be fresh")
    elif state is not None and state.nonce_used(pre.nonce):
        put("nonce", False, (nonce or b"").hex(), pre.nonce.hex(), "this nonce was already accepted once (state)")
    else:
        put("nonce", True, (nonce or b"").hex(), pre.nonce.hex(),
            ("answers this verifier's nonce" if nonce else "no verifier nonce: freshness is not established")
            + ("" if state is not None else "; no state: reuse not checked"))
    clock = ClockInfo(a.clock, a.reset_count, a.restart_count, a.safe)
    clock_actual = f"clock {a.clock} ms, resetCount {a.reset_count}, restartCount {a.restart_count}, safe {'yes' if a.safe else 'no'}"
    if not a.safe:
        put("clock", False, "safe = YES", clock_actual, "safe is NO: the TPM clock may have gone back (unorderly shutdown)")
    elif state is None:
        put("clock", True, "safe = YES", clock_actual, "no state: rollback not checked")
    else:
        ok, why = state.clock_verdict(name, clock)
        put("clock", ok, "safe = YES, not behind the state", clock_actual, why)
    want_log = [
        (policy.pcr, "enclave-executable", pre.measurement), (policy.pcr, "venue-config", pre.config_hash),
        (policy.pcr, "loaded-objects", hashlib.sha256(ev.manifest(p.loaded_objects)).digest()),
    ]  # fmt: skip
    got_log = [(x["pcr"], x["type"], x["digest"]) for x in p.event_log]
    replay = b"\x00" * 32
    for _, _, d in got_log:
        replay = hashlib.sha256(replay + d).digest()
    log_ok = got_log == want_log and p.pcr_values.get(policy.pcr) == replay
    put("eventlog", log_ok, replay.hex(), (p.pcr_values.get(policy.pcr) or b"").hex(),
        "" if got_log == want_log else "the log is not the measured start of §2")  # fmt: skip
    put("measurement", pre.measurement == policy.measurement, policy.measurement.hex(), pre.measurement.hex())
    put("configHash", pre.config_hash == policy.config_hash, policy.config_hash.hex(), pre.config_hash.hex())
    have = {(o["path"], o["sha256"]) for o in p.loaded_objects}
    want = {(o["path"], o["sha256"]) for o in policy.loaded_objects}
    extra = sorted(o[0] for o in have - want)
    gone = sorted(o[0] for o in want - have)
    put("loadedObjects", have == want, f"{len(want)} objects", f"{len(have)} objects",
        "; ".join(x for x in (extra and "not in policy: " + ", ".join(extra), gone and "missing: " + ", ".join(gone)) if x))  # fmt: skip
    if e.mode == "tpm" and policy.boot_pcrs:
        bad = [i for i, v in policy.boot_pcrs.items() if p.pcr_values.get(i) != v]
        put("boot.pcrs", not bad, "policy values", "differ: " + str(bad) if bad else "equal")
    else:
        put("boot.pcrs", True, "", "", "not applicable" if e.mode != "tpm" else "unconstrained")
    for image_check in CHECKS[CHECKS.index("boot.eventlog"):]:
        put(image_check, True, "no image in the policy", "not applicable", "the policy names no appliance image")
    checks = [results[c] for c in CHECKS]
    passed = all(c.passed for c in checks)
    nxt = (state or VerifierState()).after(name, clock, pre.nonce) if passed and state is not None else None
    return Report(checks, e.mode, e.simulated, nxt)
