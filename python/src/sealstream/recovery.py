"""Surviving enclave restarts and lost connections, as docs/PROTOCOL.md §2.12 tells a
client to: bounded jittered back-off, fresh evidence against the same policy, the same
identity (signer and enclave key) or stop, a new session, and every unanswered request
resent with the same client order id, never later than the resend horizon."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from nacl.signing import SigningKey

from . import attest, messages
from .client import Client, SealedAnswer, SealedRequests, TraderSession
from .errors import (
    AttestationFailed, ConnectionClosed, EnclaveRestarted, IdentityChanged, Refused, ReplyTimeout, SealstreamError,
)  # fmt: skip


class RecoveryFailed(SealstreamError):
    """Recovery gave up: too many failed attempts in a row, or the account is unknown to
    the restarted worker (its state was not recovered)."""


class OutcomeUnknown(SealstreamError):
    """A request first sent longer ago than the resend horizon had no answer: it may or may
    not have been sequenced; look it up (§2.12 step 7)."""


@dataclass(frozen=True)
class ReconnectPolicy:
    """The SDK defaults of §2.12: 100 ms doubling to 2 s, 10 failed attempts, 20 s horizon."""

    initial_ms: float = 100
    cap_ms: float = 2000
    max_attempts: int = 10
    resend_horizon_s: float = 20.0
    reply_timeout_s: float = 10.0

    def delay(self, attempt: int, rng: random.Random) -> float:
        """Seconds to wait before attempt `attempt` (0-based): uniform in [base/2, base]."""
        base = min(self.cap_ms, self.initial_ms * 2**attempt)
        return rng.uniform(base / 2, base) / 1000


@dataclass
class RecoveryStats:
    restarts_seen: int = 0
    connections_lost: int = 0
    reconnects: int = 0
    resends: int = 0


_RETRYABLE = {"enclaveUnavailable", "unknownSession", "tooManyRequests"}


@dataclass
class ResilientTrader(SealedRequests):
    """One account's session that recovers by itself. `request()` returns the final answer
    to a request; a `duplicate` receipt means an earlier copy was sequenced (its
    `global_sequence` is the original's)."""

    address: str
    policy: attest.Policy
    account_id: int
    key: SigningKey
    allow_simulated: bool = False
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    rng: random.Random = field(default_factory=random.Random)
    stats: RecoveryStats = field(default_factory=RecoveryStats)

    def __post_init__(self) -> None:
        self.client = Client(self.address, self.reconnect.reply_timeout_s)
        evidence = self.client.attest(self.policy, self.allow_simulated)
        self.identity = (evidence.signer, evidence.enclave_key)
        self.session: TraderSession = self.client.open_session(self.account_id, self.key)

    def close(self) -> None:
        self.client.close()

    def request(self, plaintext: bytes) -> SealedAnswer:
        first_sent = time.monotonic()
        while True:
            try:
                return self.session.request(plaintext)
            except Refused as e:
                if e.label == "journalUnavailable":  # not forwarded; the session is intact
                    time.sleep(self.reconnect.delay(0, self.rng))
                elif e.label not in _RETRYABLE:
                    raise
                else:
                    self._recover()
            except EnclaveRestarted:
                self.stats.restarts_seen += 1
                self._recover()
            except (ConnectionClosed, ReplyTimeout):
                self.stats.connections_lost += 1
                self._recover(lost=True)
            if time.monotonic() - first_sent > self.reconnect.resend_horizon_s:
                raise OutcomeUnknown("no answer within the resend horizon; the request may have been sequenced")
            self.stats.resends += 1

    def _recover(self, lost: bool = False) -> None:
        """Steps 1–5 of §2.12; raises IdentityChanged, AttestationFailed, RecoveryFailed."""
        for attempt in range(self.reconnect.max_attempts):
            time.sleep(self.reconnect.delay(attempt, self.rng))
            try:
                if lost:
                    self.client.close()
                    self.client = Client(self.address, self.reconnect.reply_timeout_s)
                    lost = False
                evidence = self.client.attest(self.policy, self.allow_simulated)  # same policy; failing stops
                if (evidence.signer, evidence.enclave_key) != self.identity:
                    raise IdentityChanged("the enclave's signer or key changed: another epoch; not trusted automatically")
                self.session = self.client.open_session(self.account_id, self.key)
                self.stats.reconnects += 1
                return
            except (IdentityChanged, AttestationFailed):
                raise
            except Refused as e:
                if e.label == "unknownAccount":
                    raise RecoveryFailed("the restarted worker does not know the account (its state was not recovered)")
            except EnclaveRestarted:
                self.stats.restarts_seen += 1
            except (ConnectionClosed, ReplyTimeout, OSError):
                self.stats.connections_lost += 1
                lost = True
        raise RecoveryFailed(f"{self.reconnect.max_attempts} failed recovery attempts in a row")
