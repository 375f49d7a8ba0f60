"""Surviving enclave restarts and lost connections, as docs/PROTOCOL.md §2.12 tells a
client to: bounded jittered back-off, fresh evidence against the same policy, the same
identity or stop, a new session, and every unanswered request resent with the same
client order id (a deposit or price: the same signed bytes), never later than the resend
horizon: `ResilientTrader` for a trader's session, `ResilientPublisher` for a custody
bridge or an oracle publisher. Given several host addresses they also fail over between
them (§2.14): round robin, the same identity required at the
new primary, a host of another identity or one answering `notPrimary` skipped."""

from __future__ import annotations

import random
import time
from dataclasses import dataclass, field

from nacl.signing import SigningKey

from . import attest, messages, wire
from .client import Client, PublicAnswer, SealedAnswer, SealedRequests, TraderSession
from .failover import Identity, WrongIdentity, parse_hosts
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
    failovers: int = 0  # recoveries completed at another address than the one lost
    identity_refusals: int = 0  # hosts skipped: their enclave is another identity
    not_primary: int = 0  # refusals notPrimary (a standby) that moved the client on


_RETRYABLE = {"enclaveUnavailable", "unknownSession", "tooManyRequests"}


def _connect_first(self, ready) -> None:
    """The first connection of a ResilientTrader or ResilientPublisher `self` (PROTOCOL.md
    §2.14 items 1 and 2). With several addresses, from the first: a refused connect, a
    connection lost or a `notPrimary` answer skips to the next address at once; an evidence
    request refused `enclaveUnavailable` or `tooManyRequests`, or unanswered, is backed off,
    then the next address is tried. When every address failed once in a row without a
    back-off, the last error is raised unless a venue host has been met since the start (an
    address answered, or accepted a connection that was then lost: a takeover or restart
    may be under way); then the client backs off and goes round again from the next
    address. With a single address: `notPrimary` and the two refusals are backed off and
    asked again on the same connection, a lost connection is backed off and connected
    again, and a refused connect stops the client unless the host was met before. Every
    back-off counts one failed attempt; `max_attempts` of them raise RecoveryFailed.
    `ready()` runs on the first address that attests."""
    self.addresses = parse_hosts(self.hosts if self.hosts is not None else self.address)
    self.identity: Identity | None = None
    n = len(self.addresses)
    last: Exception | None = None
    met_venue = False
    failures = 0  # back-offs so far, each one failed attempt
    skipped = 0  # addresses skipped at once since the last back-off
    i = 0
    client = None

    def back_off() -> None:
        nonlocal failures, skipped
        if failures >= self.reconnect.max_attempts - 1:
            raise RecoveryFailed(f"{self.reconnect.max_attempts} failed recovery attempts in a row (last: {last})")
        time.sleep(self.reconnect.delay(failures, self.rng))
        failures += 1
        skipped = 0

    def drop() -> None:
        nonlocal client
        if client is not None:
            client.close()
            client = None

    while True:
        self.index = i
        keep = False  # ask again on the same connection
        try:
            if client is None:
                client = Client(self.addresses[i], self.reconnect.reply_timeout_s)
            evidence = client.attest(self.policy, self.allow_simulated)
            self.client = client
            self.identity = Identity.of(evidence)
            ready()
            self.ready_index = i
            return
        except Refused as e:
            label = e.label
            if label == "notPrimary":
                self.stats.not_primary += 1
            elif label not in ("enclaveUnavailable", "tooManyRequests"):
                raise
            met_venue, last = True, e
            if n == 1 or label != "notPrimary":
                back_off()
                keep = n == 1
            else:
                skipped += 1  # a standby: the next address at once
        except ReplyTimeout as e:
            met_venue, last = True, e
            back_off()
        except ConnectionClosed as e:
            met_venue, last = True, e
            if n == 1:
                back_off()
            else:
                skipped += 1
        except OSError as e:  # the connect was refused: nobody there (yet)
            last = e
            client = None
            if n == 1:
                if not met_venue:
                    raise
                back_off()
            else:
                skipped += 1
        if not keep:
            drop()
            i = (i + 1) % n
        if n > 1 and skipped >= n:
            if not met_venue:
                raise last  # every address failed once and none was ever a venue host
            back_off()  # a host is there: a round with no primary is one failed attempt


@dataclass
class ResilientTrader(SealedRequests):
    """One account's session that recovers by itself. `request()` returns the final answer
    to a request; a `duplicate` receipt means an earlier copy was sequenced (its
    `global_sequence` is the original's). `address` is `HOST:PORT` or a comma-separated
    list of them (or pass `hosts=[...]`): the client fails over between them (§2.14)."""

    address: str
    policy: attest.Policy
    account_id: int
    key: SigningKey
    allow_simulated: bool = False
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    rng: random.Random = field(default_factory=random.Random)
    stats: RecoveryStats = field(default_factory=RecoveryStats)
    hosts: list[str] | None = None
    log: object = None  # called with progress lines (a failover, a refused host), if given

    def __post_init__(self) -> None:
        _connect_first(self, self._open_session)

    def _open_session(self) -> None:
        self.session: TraderSession = self.client.open_session(self.account_id, self.key)

    @property
    def current(self) -> str:
        """The address of the current (or next) connection."""
        return self.addresses[self.index]

    def _say(self, line: str) -> None:
        if callable(self.log):
            self.log(line)

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
                elif e.label == "notPrimary":
                    self.stats.not_primary += 1
                    self._recover(lost=len(self.addresses) > 1)
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
        _recover(self, self._open_session, lost)


@dataclass(frozen=True)
class Published:
    """The final answer to a deposit or price sent through a ResilientPublisher."""

    answer: PublicAnswer | None  # the acknowledgement, when this copy was sequenced
    sequenced_before: bool = False  # a resend refused duplicateDeposit or stalePrice: an earlier copy was (§2.12 step 6)


# What a resend of each public message is refused with when an earlier copy was sequenced.
_SEQUENCED_BEFORE = {wire.DEPOSIT: "duplicateDeposit", wire.ORACLE_PRICE: "stalePrice", wire.ORACLE_SMILE: "stalePrice"}


@dataclass
class ResilientPublisher:
    """A custody bridge's or an oracle publisher's connection that recovers by itself
    (PROTOCOL.md §2.12 for public messages): after a restart, a lost connection or a
    refusal that asks for it, it backs off, re-verifies the same identity (failing over
    between `hosts` as §2.14 says) and resends the unanswered message, the same signed
    bytes, within the resend horizon. A resend refused `duplicateDeposit` (a deposit) or
    `stalePrice` (a price) means the earlier copy was sequenced: `Published.sequenced_before`.
    The same refusal to a first send is raised as `Refused`."""

    address: str
    policy: attest.Policy
    allow_simulated: bool = False
    reconnect: ReconnectPolicy = field(default_factory=ReconnectPolicy)
    rng: random.Random = field(default_factory=random.Random)
    stats: RecoveryStats = field(default_factory=RecoveryStats)
    hosts: list[str] | None = None
    log: object = None

    def __post_init__(self) -> None:
        _connect_first(self, lambda: None)

    @property
    def current(self) -> str:
        return self.addresses[self.index]

    @property
    def evidence(self):
        """The evidence of the enclave currently connected (its venue id, signer, …)."""
        return self.client.evidence

    def _say(self, line: str) -> None:
        if callable(self.log):
            self.log(line)

    def close(self) -> None:
        self.client.close()

    def deposit(self, custody_key: SigningKey, venue_id: int, account_id: int, account_key: bytes, amount: int,
                deposit_id: int) -> Published:
        """A custody-signed deposit (PROTOCOL.md §2.7), signed once and resent as is."""
        signature = custody_key.sign(messages.deposit_message(venue_id, account_id, account_key, amount, deposit_id)).signature
        return self.send(wire.DEPOSIT, messages.deposit_body(account_id, account_key, amount, deposit_id, signature))

    def publish_price(self, publisher: SigningKey, market: int, price: int, confidence: int,
                      publish_time: int) -> Published:
        """A signed oracle price (PROTOCOL.md §2.6), signed once and resent as is."""
        signature = publisher.sign(messages.price_message(market, price, confidence, publish_time)).signature
        return self.send(wire.ORACLE_PRICE, messages.price_body(market, price, confidence, publish_time,
                                                                bytes(publisher.verify_key), signature))  # fmt: skip

    def publish_smile(self, publisher: SigningKey, underlying: int, expiry: int, svi: tuple[int, int, int, int, int],
                      publish_time: int) -> Published:
        """A signed raw SVI smile (PROTOCOL.md §2.17), signed once and resent as is."""
        signature = publisher.sign(messages.smile_message(underlying, expiry, svi, publish_time)).signature
        return self.send(wire.ORACLE_SMILE, messages.smile_body(underlying, expiry, svi, publish_time,
                                                                bytes(publisher.verify_key), signature))  # fmt: skip

    def send(self, frame_type: int, body: bytes) -> Published:
        """An already signed deposit (`wire.DEPOSIT`), price (`wire.ORACLE_PRICE`) or smile
        (`wire.ORACLE_SMILE`) body."""
        if frame_type not in _SEQUENCED_BEFORE:
            raise ValueError(f"not a public message type: {frame_type:#04x}")
        first_sent = time.monotonic()
        resent = False
        while True:
            try:
                return Published(self.client._public(frame_type, body))
            except Refused as e:
                if resent and e.label == _SEQUENCED_BEFORE[frame_type]:
                    return Published(None, sequenced_before=True)
                if e.label == "journalUnavailable":  # not forwarded: send it again after a pause
                    time.sleep(self.reconnect.delay(0, self.rng))
                elif e.label == "notPrimary":
                    self.stats.not_primary += 1
                    _recover(self, lambda: None, lost=len(self.addresses) > 1)
                elif e.label in _RETRYABLE:
                    _recover(self, lambda: None)
                else:
                    raise
            except EnclaveRestarted:
                self.stats.restarts_seen += 1
                _recover(self, lambda: None)
            except (ConnectionClosed, ReplyTimeout):
                self.stats.connections_lost += 1
                _recover(self, lambda: None, lost=True)
            if time.monotonic() - first_sent > self.reconnect.resend_horizon_s:
                raise OutcomeUnknown("no answer within the resend horizon; the message may have been sequenced")
            resent = True
            self.stats.resends += 1


def _recover(self, ready, lost: bool = False) -> None:
    """Steps 1–5 of §2.12 and, with several addresses, §2.14, for a ResilientTrader or a
    ResilientPublisher `self`: a lost connection or a failed attempt moves to the next
    address; `ready()` (the trader reopens its session) runs once the identity is the
    pinned one. Raises IdentityChanged (one address), AttestationFailed, RecoveryFailed."""
    failover = len(self.addresses) > 1
    last: Exception | None = None
    for attempt in range(self.reconnect.max_attempts):
        time.sleep(self.reconnect.delay(attempt, self.rng))
        try:
            if lost:
                self.client.close()
                if failover:
                    self.index = (self.index + 1) % len(self.addresses)
                self.client = Client(self.current, self.reconnect.reply_timeout_s)
                lost = False
            self.client.evidence = None  # the identity is checked here, against the pin
            evidence = self.client.attest(self.policy, self.allow_simulated)  # same policy; failing stops
            differs = self.identity.differences(Identity.of(evidence))
            if differs and not failover:
                raise IdentityChanged("the enclave's identity changed: another epoch; not trusted automatically")
            if differs:
                self.stats.identity_refusals += 1
                last = WrongIdentity(self.current, differs)
                self._say(str(last))
                lost = True
                continue
            ready()
            self.stats.reconnects += 1
            if self.index != self.ready_index:
                self.stats.failovers += 1
                self._say(f"failed over to {self.current}: the same enclave identity")
            self.ready_index = self.index
            return
        except (IdentityChanged, AttestationFailed):
            raise
        except Refused as e:
            last = e
            if e.label == "unknownAccount":
                raise RecoveryFailed("the restarted worker does not know the account (its state was not recovered)")
            if e.label == "notPrimary":
                self.stats.not_primary += 1
            if failover:
                lost = True
        except EnclaveRestarted as e:
            last = e
            self.stats.restarts_seen += 1
        except (ConnectionClosed, ReplyTimeout, OSError) as e:
            last = e
            self.stats.connections_lost += 1
            lost = True
    raise RecoveryFailed(f"{self.reconnect.max_attempts} failed recovery attempts in a row (last: {last})")
