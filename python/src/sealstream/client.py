"""The trader's and publisher's client over one connection: challenge and verify the
enclave, open sessions, send sealed orders, cancels and withdrawals, public deposits and
prices, and read receipts, acknowledgements and fill events."""

from __future__ import annotations

import collections

import os
import struct
import time
from dataclasses import dataclass

from nacl.signing import SigningKey

from . import attest, messages, statement, wire
from .connection import Connection
from .errors import AttestationFailed, EvidenceError, IdentityChanged, Refused, WireError
from .evidence import Evidence, parse_evidence
from .failover import Identity
from .outputs.strict import RecordError, read_header
from .session import Session


@dataclass(frozen=True)
class Sent:
    """What a request was sent as: its frame body is the event leaf's input (COMMITMENTS.md §2.1)."""

    message_type: int
    body: bytes


@dataclass(frozen=True)
class SealedAnswer:
    """A sealed request's answer: the opened receipt, and the body that was sent."""

    receipt: messages.Receipt
    sent: Sent


@dataclass(frozen=True)
class PublicAnswer:
    """A deposit's or price's answer: the acknowledgement, and the body that was sent."""

    ack: wire.PublicAck
    sent: Sent


def _reply_error(frame: wire.Frame, expected: int) -> Exception:
    if frame.type == wire.REFUSAL:
        return Refused(wire.decode_refusal(frame.body))
    return WireError(f"expected reply 0x{expected:02x}, got 0x{frame.type:02x}", "type")


class Client:
    """One connection. `attest()` first (or pass verified evidence), then sessions and
    public messages. Replies are matched by position: one request at a time per client
    unless you use the `Connection` directly."""

    def __init__(self, address: str, timeout: float = 10.0):
        self.connection = Connection.to(address, timeout)
        self.evidence: Evidence | None = None
        self.report: attest.Report | None = None
        # Nonces of evidence requests sent and not yet answered, oldest first. Every
        # evidence request is answered (evidence or a refusal), in request order, even
        # when its caller stopped waiting (a notice, a timeout): PROTOCOL.md §1.1, §2.12.
        self._evidence_nonces: collections.deque[bytes] = collections.deque()

    def close(self) -> None:
        self.connection.close()

    def __enter__(self) -> "Client":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def fetch_evidence(self, nonce: bytes | None = None) -> tuple[bytes, bytes]:
        """(nonce, evidence document bytes) for a fresh random (or the given) 32-byte nonce."""
        nonce = os.urandom(32) if nonce is None else nonce
        if len(nonce) != 32:
            raise WireError("the evidence nonce is 32 bytes", "nonce")
        self.connection.send(wire.EVIDENCE_REQUEST, nonce)
        self._evidence_nonces.append(nonce)
        while True:
            frame = self.connection.next_reply()  # a notice or a timeout raises; the nonce stays queued
            answers = frame.type == wire.EVIDENCE or (
                frame.type == wire.REFUSAL and wire.decode_refusal(frame.body).refused_type == wire.EVIDENCE_REQUEST)
            if not answers:
                raise _reply_error(frame, wire.EVIDENCE)
            # The answer to the oldest request still unanswered: an earlier attempt's
            # (refused when the worker died, say) is skipped, never taken for this one.
            if self._evidence_nonces.popleft() != nonce:
                continue
            if frame.type != wire.EVIDENCE:
                raise _reply_error(frame, wire.EVIDENCE)
            return nonce, frame.body

    def attest(self, policy: attest.Policy, allow_simulated: bool = False) -> Evidence:
        """Challenge the enclave with a fresh nonce and verify its evidence against `policy`;
        raises AttestationFailed (with the report) unless every check passes. On a second
        call (after a restart) the identity (signer, enclave key, measurement, config hash,
        mode: PROTOCOL.md §2.12 step 4) must be the one first trusted."""
        nonce, document = self.fetch_evidence()
        report = attest.verify(document, policy, nonce, allow_simulated)
        if not report.ok:
            raise AttestationFailed(report)
        evidence = parse_evidence(document)
        if self.evidence is not None and Identity.of(self.evidence).differences(Identity.of(evidence)):
            raise IdentityChanged("the enclave's identity changed: another epoch; not trusted automatically")
        self.evidence, self.report = evidence, report
        return evidence

    def trust_without_attestation(self) -> Evidence:
        """Fetch evidence and take its key without checking it (debugging only, like `--no-attestation`)."""
        nonce, document = self.fetch_evidence()
        evidence = parse_evidence(document)
        if evidence.nonce != nonce:
            raise EvidenceError("evidence answers another nonce")
        self.evidence = evidence
        return evidence

    # -------------------------------------------------------------- sessions

    def open_session(self, account_id: int, signing_key: SigningKey) -> "TraderSession":
        """SessionOpen with a fresh ephemeral key and random id; Refused on refusal
        (`sessionIDInUse` is retried with another id)."""
        if self.evidence is None:
            raise EvidenceError("attest the enclave before opening a session")
        for _ in range(8):
            session = Session(self.evidence.enclave_key, account_id, signing_key)
            frame = self.connection.request(wire.SESSION_OPEN, session.open_body())
            if frame.type == wire.SESSION_ACCEPTED:
                session.accept(wire.decode_session_accepted(frame.body))
                return TraderSession(self, session)
            error = _reply_error(frame, wire.SESSION_ACCEPTED)
            if not (isinstance(error, Refused) and error.label == "sessionIDInUse"):
                raise error
        raise error

    # ------------------------------------------------------- public messages

    def _public(self, frame_type: int, body: bytes) -> PublicAnswer:
        frame = self.connection.request(frame_type, body)
        if frame.type != wire.PUBLIC_ACK:
            raise _reply_error(frame, wire.PUBLIC_ACK)
        return PublicAnswer(wire.decode_public_ack(frame.body), Sent(frame_type, body))

    def deposit(self, custody_key: SigningKey, venue_id: int, account_id: int, account_key: bytes, amount: int,
                deposit_id: int) -> PublicAnswer:
        """A custody-signed deposit of `amount` quote micro-units (PROTOCOL.md §2.7)."""
        signature = custody_key.sign(messages.deposit_message(venue_id, account_id, account_key, amount, deposit_id)).signature
        return self.send_deposit(messages.deposit_body(account_id, account_key, amount, deposit_id, signature))

    def send_deposit(self, body: bytes) -> PublicAnswer:
        """An already signed deposit body (a custody bridge signs elsewhere)."""
        return self._public(wire.DEPOSIT, body)

    def publish_price(self, publisher: SigningKey, market: int, price: int, confidence: int,
                      publish_time: int) -> PublicAnswer:
        """A signed oracle price (PROTOCOL.md §2.6): quote micro-units per base unit, Unix ns."""
        signature = publisher.sign(messages.price_message(market, price, confidence, publish_time)).signature
        return self.send_price(messages.price_body(market, price, confidence, publish_time,
                                                   bytes(publisher.verify_key), signature))  # fmt: skip

    def send_price(self, body: bytes) -> PublicAnswer:
        """An already signed OraclePrice body (a publisher signs elsewhere)."""
        return self._public(wire.ORACLE_PRICE, body)

    def publish_smile(self, publisher: SigningKey, underlying: int, expiry: int, svi: tuple[int, int, int, int, int],
                      publish_time: int) -> PublicAnswer:
        """A signed raw SVI smile (PROTOCOL.md §2.17): `svi` = (a, b, rho, m, sigma) in units
        of 10⁻⁹, for the option markets of `expiry` (Unix ns) on perpetual `underlying`."""
        signature = publisher.sign(messages.smile_message(underlying, expiry, svi, publish_time)).signature
        return self.send_smile(messages.smile_body(underlying, expiry, svi, publish_time, bytes(publisher.verify_key),
                                                   signature))  # fmt: skip

    def send_smile(self, body: bytes) -> PublicAnswer:
        """An already signed OracleSmile body (a publisher signs elsewhere)."""
        return self._public(wire.ORACLE_SMILE, body)


class SealedRequests:
    """The sealed requests a trader sends, over any `request(plaintext) -> SealedAnswer`:
    shared by `TraderSession` and `ResilientTrader`."""

    def request(self, plaintext: bytes) -> SealedAnswer:
        raise NotImplementedError

    def place(self, client_order_id: str, market: int, side: messages.Side, price: int, quantity: int,
              order_type: messages.OrderType = messages.OrderType.LIMIT,
              time_in_force: messages.TimeInForce = messages.TimeInForce.GTC, reduce_only: bool = False) -> SealedAnswer:
        return self.request(messages.new_order(client_order_id, market, side, price, quantity, order_type,
                                               time_in_force, reduce_only))  # fmt: skip

    def cancel(self, client_order_id: str) -> SealedAnswer:
        return self.request(messages.cancel(client_order_id))

    def withdraw(self, request_id: str, amount: int) -> SealedAnswer:
        return self.request(messages.withdraw(request_id, amount))


class TraderSession(SealedRequests):
    """An accepted session: sealed requests and their receipts, and fill events."""

    def __init__(self, client: Client, session: Session):
        self.client, self.session = client, session
        self._fills: list[messages.FillEvent] = []
        self._margin_calls: list[messages.MarginCallEvent] = []

    @property
    def account_commitment(self) -> bytes:
        return self.session.accepted.account_commitment

    def request(self, plaintext: bytes) -> SealedAnswer:
        body = self.session.seal_request(plaintext)
        frame = self.client.connection.request(wire.SEALED_REQUEST, body)
        if frame.type != wire.SEALED_RECEIPT:
            raise _reply_error(frame, wire.SEALED_RECEIPT)
        sealed = wire.decode_sealed(wire.SEALED_RECEIPT, frame.body)
        sid, seq = struct.unpack_from(">QQ", body)
        if (sealed.session_id, sealed.sequence) != (sid, seq):
            raise WireError("receipt for another request", "sequence")
        return SealedAnswer(self.session.open_receipt(sealed), Sent(wire.SEALED_REQUEST, body))

    def statement_page(self, since: int, offset: int = 0, account_id: int | None = None) -> "statement.Page":
        """One page of the private statement (PROTOCOL.md §2.16); `account_id` defaults to
        the session's (another is answered status notOwner)."""
        account = self.session.account_id if account_id is None else account_id
        body = self.session.seal_statement_request(statement.query(account, since, offset))
        frame = self.client.connection.request(wire.STATEMENT_REQUEST, body)
        if frame.type != wire.STATEMENT_REPLY:
            raise _reply_error(frame, wire.STATEMENT_REPLY)
        sealed = wire.decode_sealed(wire.STATEMENT_REPLY, frame.body)
        if (sealed.session_id, sealed.sequence) != struct.unpack_from(">QQ", body):
            raise WireError("statement for another request", "sequence")
        return statement.decode_page(self.session.open_statement_reply(sealed))

    def statement(self, since: int = 0, attempts: int = 25) -> "statement.Page":
        """The whole statement after `since`, checkable (COMMITMENTS.md §7.4-§7.5): asks again
        every 200 ms while no leaf exists, and from the header's lastSequence when `since`
        lies after it. Raises `StatementRefused` for a status other than ok."""
        def whole(after: int) -> statement.Page:
            pages = [self.statement_page(after)]
            while pages[-1].status == "ok" and sum(len(p.entries) for p in pages) < pages[-1].total:
                if not pages[-1].entries:
                    raise WireError("an empty statement page before the last entry", "statement")
                pages.append(self.statement_page(after, sum(len(p.entries) for p in pages)))
            if pages[-1].status != "ok":
                raise statement.StatementRefused(pages[-1].status, pages[-1].oldest)
            return statement.join(pages)

        s = whole(since)
        for _ in range(attempts - 1):
            if s.leaf is not None:
                break
            time.sleep(0.2)
            s = whole(since)
        if s.leaf is not None:
            try:
                last = read_header(s.leaf.header_record)["lastSequence"]
            except RecordError:
                return s
            if statement.balance_at(s, last) is None and last < since:
                s = whole(last)
        return s

    def _take_events(self) -> None:
        frames = self.client.connection.take_events(self.session.session_id)
        for f in sorted(frames, key=lambda f: f.sequence):
            event = self.session.open_event(f)
            if isinstance(event, messages.MarginCallEvent):
                self._margin_calls.append(event)
            else:
                self._fills.append(event)

    def fill_events(self) -> list[messages.FillEvent]:
        """Open and return the fill events pushed to this session since the last call."""
        self._take_events()
        fills, self._fills = self._fills, []
        return fills

    def margin_calls(self) -> list[messages.MarginCallEvent]:
        """Open and return the margin calls (docs/OPTIONS.md §10.10) pushed to this session
        since the last call."""
        self._take_events()
        calls, self._margin_calls = self._margin_calls, []
        return calls
