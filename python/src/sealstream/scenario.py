"""Scenario files (docs/SCENARIOS.md) run through the Python SDK: the same steps the
Swift `sealstream-client scenario` takes, answers recorded in the `--receipts-out`
shape so the two clients' runs can be compared."""

from __future__ import annotations

import hashlib
import re
import time
from dataclasses import dataclass, field
from decimal import Decimal

from . import attest, messages, wire
from .client import Client, PublicAnswer, SealedAnswer, TraderSession
from .demo import demo_key
from .errors import Refused, ScenarioError
from .failover import parse_hosts

QUOTE_UNIT, BASE_UNIT = 10**6, 10**8


_DECIMAL = re.compile(r"-?[0-9]+(\.[0-9]*)?")
_DIGITS = re.compile(r"[0-9]+")
INT64_MAX = 2**63 - 1


def exact(text: str, scale: int, line: int, what: str) -> int:
    """A decimal amount in units of 1/scale (docs/SCENARIOS.md "Parse rules"):
    `-?[0-9]+(.[0-9]*)?` in ASCII, no more fractional digits than the unit allows (never a
    silent rounding), and the value in units within the i64 magnitude."""
    if not _DECIMAL.fullmatch(text) or not text.isascii():
        raise ScenarioError(line, f"{what} {text!r} is not a decimal")
    fraction = text.partition(".")[2]
    if len(fraction) > len(str(scale)) - 1:
        raise ScenarioError(line, f"{what} {text!r} has more decimals than its unit")
    value = Decimal(text) * scale
    if abs(value) > INT64_MAX:
        raise ScenarioError(line, f"{what} {text!r} is outside the i64 range of its unit")
    return int(value)


def _digits(text: str) -> int | None:
    """One or more ASCII digits, no sign: the format's integers (account=, wait)."""
    return int(text) if _DIGITS.fullmatch(text) and text.isascii() else None


def _options(words: list[str]) -> dict[str, str]:
    """Option words `KEY=VALUE` (a word without `=` is a key with an empty value); of a
    repeated key the last counts, as in the Swift runner."""
    return {w.partition("=")[0]: w.partition("=")[2] for w in words}


_NANO = re.compile(r"-?[0-9]+(\.[0-9]{1,9})?")


def nano_units(text: str, line: int, what: str) -> int:
    """A smile parameter (docs/SCENARIOS.md): `-?[0-9]+(.[0-9]{1,9})?` exactly, as an integer of 10⁻⁹ units
    in the i64 range."""
    if not _NANO.fullmatch(text) or not text.isascii():
        raise ScenarioError(line, f"{what} {text!r} is not a decimal with at most 9 fractional digits")
    negative = text.startswith("-")
    whole, _, fraction = text.lstrip("-").partition(".")
    value = int(whole + fraction.ljust(9, "0"))
    value = -value if negative else value
    if not -(2**63) <= value < 2**63:
        raise ScenarioError(line, f"{what} {text!r} is outside the i64 range of 10⁻⁹ units")
    return value


@dataclass
class Step:
    line: int
    op: str
    args: dict


def parse(text: str, venue: dict) -> list[Step]:
    markets = {m["symbol"]: m["id"] for m in venue["markets"]}
    options = {m["symbol"]: m for m in (venue.get("options") or {}).get("markets", [])}
    traders: dict[str, int] = {}
    steps = []
    for n, raw in enumerate(text.split("\n"), 1):
        # Words are separated by spaces and tabs only (docs/SCENARIOS.md).
        words = [w for w in re.split(r"[ \t]+", raw.split("#", 1)[0]) if w]
        if not words:
            continue
        op, rest = words[0], words[1:]
        opts = {w.split("=", 1)[0]: w.split("=", 1)[1] for w in rest if "=" in w}
        plain = [w for w in rest if "=" not in w]

        def need(ok: bool, usage: str) -> None:
            if not ok:
                raise ScenarioError(n, f"expected: {usage}")

        def market(sym: str, tradable: bool = False) -> int:
            """A perpetual's id; with `tradable` (orders) an option market's too."""
            if sym in markets:
                return markets[sym]
            if tradable and sym in options:
                return options[sym]["id"]
            raise ScenarioError(n, f"unknown symbol {sym}")

        def trader(name: str) -> str:
            if name not in traders:
                raise ScenarioError(n, f"trader {name} not declared")
            return name

        if op == "trader":
            account = _digits(words[2][len("account="):]) if len(words) == 3 and words[2].startswith("account=") else None
            need(account is not None and 1 <= account < 2**64, "trader NAME account=ID")
            traders[words[1]] = account
            steps.append(Step(n, op, {"name": words[1], "account": account}))
        elif op == "deposit":
            need(len(words) == 3, "deposit TRADER AMOUNT (quote units, up to 6 decimals)")
            amount = exact(words[2], QUOTE_UNIT, n, "amount")
            need(amount > 0, "deposit TRADER AMOUNT (quote units, up to 6 decimals)")
            steps.append(Step(n, op, {"trader": trader(words[1]), "amount": amount}))
        elif op == "price":
            need(len(words) >= 3, "price SYMBOL PRICE [conf=C] [publisher=NAME]")
            price_opts = _options(words[3:])
            conf = exact(price_opts.get("conf", "0"), QUOTE_UNIT, n, "conf")
            need(conf >= 0, "price SYMBOL PRICE [conf=C] [publisher=NAME] (conf >= 0)")
            steps.append(Step(n, op, {
                "market": market(words[1]), "price": exact(words[2], QUOTE_UNIT, n, "price"),
                "conf": conf, "publisher": price_opts.get("publisher", "pyth-a")}))
        elif op == "smile":
            usage = "expected: smile OPTION-SYMBOL a=A b=B rho=R m=M sigma=S [publisher=NAME] (up to 9 decimals)"
            names = ("a", "b", "rho", "m", "sigma")
            if len(plain) != 1 or not set(names) <= set(opts) or not set(opts) <= {*names, "publisher"}:
                raise ScenarioError(n, usage)
            if len(opts) != len(rest) - 1:  # each option once
                raise ScenarioError(n, usage)
            if plain[0] not in options:
                raise ScenarioError(n, f"unknown symbol {plain[0]}")
            option = options[plain[0]]
            steps.append(Step(n, op, {
                "underlying": option["underlying"], "expiry": option["expiry"],
                "svi": tuple(nano_units(opts[k], n, k) for k in names), "publisher": opts.get("publisher", "pyth-a")}))
        elif op in ("order", "market"):
            usage = "market TRADER buy|sell SYMBOL QTY worst=PRICE" if op == "market" else "order TRADER buy|sell SYMBOL QTY @ PRICE"
            need(len(words) >= (6 if op == "market" else 7) and words[2] in ("buy", "sell"), f"{usage} [options]")
            name, side, sym = words[1], words[2], words[3]
            qty = exact(words[4], BASE_UNIT, n, "quantity")
            if op == "order":
                need(words[5] == "@", f"{usage} ('@' before the limit price)")
                order_opts = _options(words[7:])
                price = exact(words[6], QUOTE_UNIT, n, "price")
                kind = messages.OrderType.LIMIT
            else:
                order_opts = _options(words[5:])
                need("worst" in order_opts, f"{usage} (market orders need worst=PRICE)")
                price = exact(order_opts["worst"], QUOTE_UNIT, n, "worst")
                kind = messages.OrderType.MARKET
            # post-only wins, then ioc (always for a market order), else GTC; other words are ignored.
            tif = 2 if "post-only" in order_opts else 1 if ("ioc" in order_opts or op == "market") else 0
            cid = order_opts.get("id", f"{name}-{n}")
            need("id" not in order_opts or 1 <= len(cid.encode()) <= 36, f"{usage} (id must be 1...36 bytes)")
            steps.append(Step(n, "order", {
                "trader": trader(name), "side": messages.Side.BUY if side == "buy" else messages.Side.SELL,
                "market": market(sym, tradable=True), "quantity": qty, "price": price,
                "type": kind, "tif": messages.TimeInForce(tif), "reduce_only": "reduce-only" in order_opts,
                "id": cid}))
        elif op == "cancel":
            need(len(words) == 3, "cancel TRADER ID")
            steps.append(Step(n, op, {"trader": trader(words[1]), "id": words[2]}))
        elif op == "withdraw":
            need(len(words) == 3, "withdraw TRADER AMOUNT (quote units, up to 6 decimals)")
            amount = exact(words[2], QUOTE_UNIT, n, "amount")
            need(amount > 0, "withdraw TRADER AMOUNT (quote units, up to 6 decimals)")
            steps.append(Step(n, op, {"trader": trader(words[1]), "amount": amount, "id": f"{words[1]}-w{n}"}))
        elif op == "wait":
            t = words[1] if len(words) == 2 else ""
            v = _digits(t[:-2]) if t.endswith("ms") else _digits(t[:-1]) if t.endswith("s") else None
            ms = None if v is None else v if t.endswith("ms") else v * 1000
            need(ms is not None and ms <= INT64_MAX, "wait DURATION (e.g. 250ms, 2s)")
            steps.append(Step(n, op, {"ms": ms}))
        else:
            raise ScenarioError(n, f"unknown step {op}")
    return steps


@dataclass
class Answer:
    """One request's final answer, in the shape of docs/SCENARIOS.md `--receipts-out`."""

    client: str
    request: str
    operation: str
    kind: str
    status: str
    globalSequence: int
    enclaveTime: int
    messageType: int
    bodyHash: str
    reason: str = ""
    fills: int = 0
    body: bytes = field(default=b"", repr=False)


@dataclass
class Run:
    answers: list[Answer] = field(default_factory=list)
    fill_events: dict[str, list[messages.FillEvent]] = field(default_factory=dict)
    margin_calls: dict[str, list[messages.MarginCallEvent]] = field(default_factory=dict)
    sessions: dict[str, TraderSession] = field(default_factory=dict)
    commitments: dict[str, bytes] = field(default_factory=dict)

    def summary(self) -> dict:
        """The counts of docs/SCENARIOS.md's ScenarioSummary that describe the answers."""
        receipts = [a for a in self.answers if a.kind == "receipt"]
        rejected: dict[str, int] = {}
        refusals: dict[str, int] = {}
        for a in receipts:
            if a.status == "rejected":
                rejected[a.reason] = rejected.get(a.reason, 0) + 1
        for a in self.answers:
            if a.kind == "refused":
                refusals[a.status] = refusals.get(a.status, 0) + 1
        return {
            "receipts": len(receipts), "accepted": sum(a.status == "accepted" for a in receipts),
            "rejected": rejected, "notSequenced": sum(a.status == "notSequenced" for a in receipts),
            "refusals": refusals, "fills": sum(a.fills for a in receipts),
            "fillEvents": sum(len(v) for v in self.fill_events.values()),
            "marginCalls": sum(len(v) for v in self.margin_calls.values()),
            "depositsAcked": sum(a.operation == "deposit" and a.kind == "ack" for a in self.answers),
            "pricesAcked": sum(a.operation == "price" and a.kind == "ack" for a in self.answers),
            "smilesAcked": sum(a.operation == "smile" and a.kind == "ack" for a in self.answers),
            "ordersSent": sum(a.operation == "order" for a in self.answers),
            "cancelsSent": sum(a.operation == "cancel" for a in self.answers),
            "withdrawalsSent": sum(a.operation == "withdraw" for a in self.answers),
            "globalSequences": sorted(a.globalSequence for a in self.answers if a.globalSequence),
        }  # fmt: skip


def _sealed(client: str, request: str, op: str, answer: SealedAnswer) -> Answer:
    r = answer.receipt
    return Answer(client, request, op, "receipt", r.status.label, r.global_sequence, r.enclave_time,
                  wire.SEALED_REQUEST, "0x" + hashlib.sha256(answer.sent.body).hexdigest(),
                  r.reason_label if r.reason else "", len(r.report.fills) if r.report else 0, answer.sent.body)


def _public(request: str, op: str, mtype: int, answer: PublicAnswer | Refused, body: bytes) -> Answer:
    h = "0x" + hashlib.sha256(body).hexdigest()
    if isinstance(answer, Refused):
        return Answer("public", request, op, "refused", answer.label, 0, 0, mtype, h, body=body)
    return Answer("public", request, op, "ack", "", answer.ack.global_sequence, answer.ack.enclave_time, mtype, h, body=body)


def run(text: str, venue: dict, address: str, policy: attest.Policy | None, allow_simulated: bool = False,
        settle_seconds: float = 0.5) -> Run:
    """Run a scenario: one connection per trader plus one for deposits and prices, each
    verifying the enclave against `policy` first (None: no attestation, debugging only).
    `address` may list several hosts (`A,B`): connections go to the first that accepts one
    and does not answer `notPrimary` (a standby, REPLICATION.md §8.1); this runner does not
    recover or fail over mid-run (`ResilientTrader` does)."""
    addresses = parse_hosts(address)
    steps = parse(text, venue)
    result = Run()
    clients: list[Client] = []

    def connect() -> Client:
        for i, a in enumerate(addresses):
            last = i == len(addresses) - 1
            try:
                c = Client(a)
            except OSError:
                if last:
                    raise
                continue
            try:
                if policy is None:
                    c.trust_without_attestation()
                else:
                    c.attest(policy, allow_simulated)
            except Refused as e:
                c.close()
                if e.label != "notPrimary" or last:
                    raise
                continue
            clients.append(c)
            return c
        raise AssertionError("unreachable: parse_hosts returns at least one address")

    try:
        public = connect()
        venue_id = public.evidence.venue_id
        custody = demo_key("custody", "custody")
        accounts: dict[str, int] = {}
        deposit_id = time.time_ns() // 1000
        for step in steps:
            a = step.args
            if step.op == "trader":
                accounts[a["name"]] = a["account"]
            elif step.op == "deposit":
                key = demo_key("trader", a["trader"])
                deposit_id += 1
                sig = custody.sign(messages.deposit_message(venue_id, accounts[a["trader"]], bytes(key.verify_key),
                                                            a["amount"], deposit_id)).signature
                body = messages.deposit_body(accounts[a["trader"]], bytes(key.verify_key), a["amount"], deposit_id, sig)
                try:
                    answer: PublicAnswer | Refused = public.send_deposit(body)
                except Refused as e:
                    answer = e
                result.answers.append(_public(f"deposit:{deposit_id}", "deposit", wire.DEPOSIT, answer, body))
            elif step.op == "price":
                t = time.time_ns()
                publisher = demo_key("publisher", a["publisher"])
                sig = publisher.sign(messages.price_message(a["market"], a["price"], a["conf"], t)).signature
                body = messages.price_body(a["market"], a["price"], a["conf"], t, bytes(publisher.verify_key), sig)
                try:
                    answer = public.send_price(body)
                except Refused as e:
                    answer = e
                result.answers.append(_public(f"price:{t}", "price", wire.ORACLE_PRICE, answer, body))
            elif step.op == "smile":
                t = time.time_ns()
                publisher = demo_key("publisher", a["publisher"])
                sig = publisher.sign(messages.smile_message(a["underlying"], a["expiry"], a["svi"], t)).signature
                body = messages.smile_body(a["underlying"], a["expiry"], a["svi"], t, bytes(publisher.verify_key), sig)
                try:
                    answer = public.send_smile(body)
                except Refused as e:
                    answer = e
                result.answers.append(_public(f"smile:{t}", "smile", wire.ORACLE_SMILE, answer, body))
            elif step.op == "wait":
                time.sleep(a["ms"] / 1000)
            else:
                name = a["trader"]
                if name not in result.sessions:
                    s = connect().open_session(accounts[name], demo_key("trader", name))
                    result.sessions[name] = s
                    result.commitments[name] = s.account_commitment
                s = result.sessions[name]
                if step.op == "order":
                    ans = s.place(a["id"], a["market"], a["side"], a["price"], a["quantity"], a["type"], a["tif"],
                                  a["reduce_only"])  # fmt: skip
                    result.answers.append(_sealed(name, a["id"], "order", ans))
                elif step.op == "cancel":
                    result.answers.append(_sealed(name, "cancel:" + a["id"], "cancel", s.cancel(a["id"])))
                else:
                    result.answers.append(_sealed(name, a["id"], "withdraw", s.withdraw(a["id"], a["amount"])))
        time.sleep(settle_seconds)  # fill events of the last steps are pushed with their replies
        for name, s in result.sessions.items():
            result.fill_events[name] = s.fill_events()
            result.margin_calls[name] = s.margin_calls()
    finally:
        for c in clients:
            c.close()
    return result


def load_venue(path: str) -> dict:
    """The venue configuration, read strictly as docs/CONFIG.md says `sealstream-client
    scenario` reads it (`config.ConfigParseError` naming the JSON path), defaults filled in."""
    from .config import parse_venue_config

    with open(path, "rb") as f:
        return parse_venue_config(f.read())
