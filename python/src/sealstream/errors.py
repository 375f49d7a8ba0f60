"""The SDK's typed exceptions: one base class, one subclass per kind of failure, each
carrying the stable code or label the docs define so callers can switch on it."""

from __future__ import annotations


class SealstreamError(Exception):
    """Base of every exception the SDK raises on purpose."""


class WireError(SealstreamError):
    """A frame or message body that breaks docs/PROTOCOL.md §1–2 (`field` names what)."""

    def __init__(self, message: str, field: str = ""):
        super().__init__(message)
        self.field = field


class CryptoError(SealstreamError):
    """A sealed body that does not open (wrong key, altered ciphertext or associated data)."""


class ConnectionClosed(SealstreamError):
    """The host closed the connection (or it was lost) before the expected reply."""


class HostError(SealstreamError):
    """An `Error` frame (0x86): the host found a malformed frame and closed the connection."""

    def __init__(self, code: int, label: str):
        super().__init__(f"host error {code} {label}")
        self.code, self.label = code, label


class Refused(SealstreamError):
    """A `Refusal` (0x85) where an answer was expected; `reason` is the PROTOCOL.md §2.9 code."""

    def __init__(self, refusal):
        super().__init__(f"refused: {refusal.reason_label} (type 0x{refusal.refused_type:02x}, reference {refusal.reference})")
        self.refusal = refusal

    @property
    def reason(self) -> int:
        return self.refusal.reason

    @property
    def label(self) -> str:
        return self.refusal.reason_label


class EnclaveRestarted(SealstreamError):
    """A `Notice enclaveRestarted`: every session on the connection is gone (PROTOCOL.md §2.12)."""

    def __init__(self, restarts: int):
        super().__init__(f"enclave restarted ({restarts} restarts so far)")
        self.restarts = restarts


class ReplyTimeout(SealstreamError):
    """No reply within the caller's timeout."""


class EvidenceError(SealstreamError):
    """Evidence that cannot be parsed, or whose nonce answers another request."""


class AttestationFailed(SealstreamError):
    """Evidence that fails the policy; `report` holds every check's verdict."""

    def __init__(self, report):
        failed = [c.check for c in report.checks if not c.passed]
        super().__init__("evidence fails the policy: " + ", ".join(failed))
        self.report = report


class IdentityChanged(SealstreamError):
    """After a restart the enclave's identity (signer, enclave key, measurement, config hash,
    mode) differs: another epoch (PROTOCOL.md §2.12 step 4)."""


class PolicyError(SealstreamError):
    """A policy file that does not parse (ATTESTATION.md §5.1)."""


class ProofError(SealstreamError):
    """An inclusion proof or header that does not check out against the attested signer."""


class ScenarioError(SealstreamError):
    """A scenario file line that breaks docs/SCENARIOS.md (`line` is 1-based)."""

    def __init__(self, line: int, message: str):
        super().__init__(f"line {line}: {message}")
        self.line = line


class EnrollmentFailed(SealstreamError):
    """AK enrolment (ATTESTATION.md §8) did not pin the AK: the evidence fails the policy, it
    has no RSA EK certificate or that does not chain, or the worker's TPM did not recover the
    credential (`activationFailed`) or returned another one."""


class CertificateRejected(SealstreamError):
    """A TLS server's certificate failed verification (the market data feed over `wss:`,
    MARKETDATA.md §6): `reason` is OpenSSL's verify result (`self-signed certificate`,
    `hostname mismatch`, …). Nothing was read from the server."""

    def __init__(self, address: str, reason: str):
        super().__init__(f"certificate of {address} rejected: {reason}")
        self.address, self.reason = address, reason
