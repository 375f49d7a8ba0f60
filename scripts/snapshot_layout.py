#!/usr/bin/env python3
"""A reader of the snapshot layouts of docs/DURABILITY.md §6.2 (`SSEN`), §6.4 (`SSBC`) and
§6.5 (`SSWK`), written from the document alone (Python 3 standard library only).

    snapshot_layout.py KIND FILE VENUE_JSON

KIND is `engine`, `committer` or `payload`; VENUE_JSON the little the layouts leave to the
venue configuration: {"underlyings": {"<perpetual id>": {"series": N, "expiries": N}},
"optionMarkets": [ids], "marginCall": true|false, "maintenanceBps": {"<perpetual id>": its
tier's maintenanceBps}} (a mark of a market in neither "maintenanceBps" nor "optionMarkets"
is refused, §6.5). Reads the file to its last byte, applying every check the document
lists, and prints a JSON summary (counts and a few values) on stdout; exits 1 with the
offset and field of the first violation.
`Tests/EnclaveCoreTests/SnapshotLayoutTests.swift` and `Tests/EngineTests/SnapshotLayoutTests.swift`
run it on snapshots the Swift code writes and compare the summary with the Swift state, so
the document is complete enough to read them; `python/tests/test_snapshot_layout.py` gives
its statement-log reader hand-built bytes no worker writes.
"""
import json
import struct
import sys


class Malformed(Exception):
    pass


class Reader:
    def __init__(self, data: bytes):
        self.b, self.o = data, 0

    def take(self, n: int, field: str) -> bytes:
        if n < 0 or self.o + n > len(self.b):
            raise Malformed(f"truncated at {field} (offset {self.o})")
        self.o += n
        return self.b[self.o - n:self.o]

    def unpack(self, fmt: str, field: str):
        return struct.unpack(">" + fmt, self.take(struct.calcsize(">" + fmt), field))[0]

    def u8(self, f): return self.unpack("B", f)
    def u16(self, f): return self.unpack("H", f)
    def u32(self, f): return self.unpack("I", f)
    def i32(self, f): return self.unpack("i", f)
    def u64(self, f): return self.unpack("Q", f)
    def i64(self, f): return self.unpack("q", f)

    def i128(self, f):
        hi, lo = struct.unpack(">qQ", self.take(16, f))
        return hi << 64 | lo

    def count(self, f, min_bytes=1):
        n = self.u32(f)
        if n * max(min_bytes, 1) > len(self.b) - self.o:
            raise Malformed(f"truncated: {f} count {n} (offset {self.o})")
        return n

    def boolean(self, f):
        v = self.u8(f)
        if v not in (0, 1):
            raise Malformed(f"{f}: {v} is no bool (offset {self.o - 1})")
        return v == 1

    def opt_i64(self, f):
        return self.i64(f) if self.boolean(f) else None

    def client_order_id(self, f):
        n = self.u8(f)
        if not 1 <= n <= 36:
            raise Malformed(f"{f}: length {n}")
        return self.take(n, f)

    def magic(self, m: bytes, version: int):
        if self.take(4, "magic") != m:
            raise Malformed(f"bad magic, expected {m!r}")
        v = self.u16("version")
        if v != version:
            raise Malformed(f"unsupported version {v}")


def require(cond, what):
    if not cond:
        raise Malformed(what)


def strictly_ascending(xs):
    return all(a < b for a, b in zip(xs, xs[1:]))


def state_markets(state, account, what):
    """The markets of `state` if it is a canonical COMMITMENTS §2.2 state of `account`
    (§6.2 item 5, §6.5 "The statement logs"): its id, collateral, a position count and
    exactly that many 44-byte positions, markets strictly ascending, sizes != 0, an open
    order count below 2**31, nothing after it."""
    require(len(state) >= 32 and int.from_bytes(state[0:8], "big") == account, what)
    held = int.from_bytes(state[24:28], "big")
    require(len(state) == 32 + 44 * held, what)
    markets = [int.from_bytes(state[28 + 44 * i:32 + 44 * i], "big") for i in range(held)]
    sizes = [int.from_bytes(state[32 + 44 * i:40 + 44 * i], "big") for i in range(held)]
    require(strictly_ascending(markets) and 0 not in sizes, what)
    require(int.from_bytes(state[-4:], "big") < 2**31, what)
    return markets


def maintenance_bps(venue, market):
    """The maintenanceBps a mark of `market` carries (§6.5 "The maintenance fraction of a
    mark"): its tier's for a perpetual, 0 for an option market, None for neither."""
    perpetuals = venue.get("maintenanceBps", {})
    if str(market) in perpetuals:
        return perpetuals[str(market)]
    return 0 if market in venue.get("optionMarkets", []) else None


def marks_match(marks, held, venue):
    """One mark (market, bps) per held market in its order, each with the venue's bps."""
    return [m for m, _ in marks] == held and all(bps == maintenance_bps(venue, m) for m, bps in marks)


def scenario(r):
    if not r.boolean("scenario"):
        return None
    r.i64("linearRequirement")
    n = r.count("scenario portfolios", 72)
    for _ in range(n):
        r.u32("underlying"), r.i64("mark"), r.i64("scanBps"), r.u32("scenario"), r.i64("moveSteps")
        r.i64("volShiftBps"), r.i64("price"), r.i64("loss"), r.i64("shortOptionContingency"), r.i64("confidenceContingency")
    return n


def engine(r, venue):
    """§6.2."""
    r.magic(b"SSEN", 4)
    out = {"venueId": r.u64("venue id")}
    binding = [(r.u32("market id"), r.u32("publisher count")) for _ in range(r.u32("market count"))]
    out["markets"] = [m for m, _ in binding]
    r.u64("next funding due"), r.i128("fee pool"), r.i128("net deposits")
    accounts = r.count("accounts", 57)
    require(accounts >= 1, "accounts: no insurance fund")
    ids, open_orders = [], {}
    for slot in range(accounts):
        account = r.u64("account id")
        require((slot == 0) == (account == 0) and account not in ids, f"account id {account} at slot {slot}")
        ids.append(account)
        r.i128("collateral")
        open_orders[slot] = r.i32("open order count")
        markets = []
        for _ in range(r.count("positions", 44)):
            markets.append(r.u32("position market"))
            size = r.i64("size")
            r.i128("cost basis"), r.i128("funding index")
            require(size != 0 and markets[-1] in out["markets"], f"position of account {account}")
        require(strictly_ascending(markets), f"positions of account {account} out of order")
        stamps = [(r.u32("cooldown market"), r.u64("cooldown time"))[0] for _ in range(r.count("cooldown stamps", 12))]
        require(len(set(stamps)) == len(stamps), f"cooldown stamps of account {account}")
        r.u32("index version")
        require(-1 <= r.i32("key market slot") < len(binding), "key market slot")
        r.boolean("key long"), r.i128("key")
    out["accounts"] = ids
    changed = [r.i32("changed slot") for _ in range(r.count("changed accounts", 4))]
    require(all(0 <= s < accounts for s in changed), "changed account slot")
    out["changed"] = len(changed)
    cooldown = [r.u64("cooldown account") for _ in range(r.count("cooldown accounts", 8))]
    require(strictly_ascending(cooldown) and set(cooldown) <= set(ids), "awaitingCooldown")
    out["cooldown"] = len(cooldown)
    decisions = []
    for _ in range(r.count("decisions", 111)):
        d = {"sequence": r.u64("decision sequence")}
        r.u64("decision time")
        r.take(r.count("decision account", 1), "decision account")
        d["market"] = r.u32("decision market")
        d["side"] = r.u8("decision side")
        require(d["side"] in (0, 1), "decision side")
        d["size"] = r.i64("size")
        for f in ("markPrice", "bankruptcyPrice", "worstPrice", "equity", "maintenanceRequirement"):
            r.i64(f)
        require(r.u8("reason") in (1, 2, 3), "decision reason")
        for f in ("filledOnBook", "toInsuranceFund", "autoDeleveraged", "liquidationFee"):
            r.i64(f)
        fills = r.count("decision fills", 17)
        for _ in range(fills):
            require(r.u8("fill kind") in (1, 2, 3), "fill kind")
            r.i64("fill price"), r.i64("fill quantity")
        d["fills"] = fills
        d["account"] = r.u64("decision account id")
        d["step"] = r.u32("step")
        markets = state_markets(r.take(r.count("pre-step state", 1), "pre-step state"), d["account"], "decision state")
        marks = [(r.u32("mark market"), r.i64("mark"), r.u32("maintenance bps"))[::2]
                 for _ in range(r.count("decision marks", 16))]
        require(marks_match(marks, markets, venue), "decision marks")
        d["scenario"] = scenario(r)
        decisions.append(d)
    out["decisions"] = decisions
    funding = []
    for _ in range(r.count("funding payments", 52)):
        market = r.u32("funding market")
        r.u64("funding time"), r.i64("funding mark"), r.i64("rate bps")
        per_unit = r.i64("per unit")
        funding.append({"market": market, "perUnit": per_unit, "sequence": r.u64("funding sequence")})
        r.u64("due time")
    out["funding"] = funding
    maker = []
    for _ in range(r.count("maker fills", 48)):
        account = r.u64("maker account")
        cid = r.client_order_id("maker client order id").decode("latin-1")
        r.u32("market")
        require(r.u8("side") in (0, 1), "maker fill side")
        r.i64("price"), r.i64("quantity"), r.i64("fee"), r.boolean("maker"), r.u64("maker order id")
        maker.append([account, cid])
    out["makerFills"] = maker
    live_orders, resting = {s: 0 for s in range(accounts)}, []
    for market, publishers in binding:
        require(r.u32("market id") == market, f"market {market} out of place")
        r.i128("funding index"), r.u64("next funding time")
        for _ in range(publishers):
            if r.boolean("quote"):
                r.i64("quote price"), r.u64("confidence"), r.u64("publish time")
        r.opt_i64("reference")
        if r.boolean("pending jump"):
            r.u64("since"), r.i64("level")
        r.boolean("tripped"), r.opt_i64("cached mark")
        require(r.u8("cached invalidity") <= 6, "cached invalidity")
        r.u64("valid until"), r.u64("computed at")
        r.i128("odometer"), r.opt_i64("last mark")
        for heap in ("longs", "shorts", "cross"):
            for _ in range(r.count(heap, 32)):
                r.i128("heap key"), r.u64("heap account")
                require(0 <= r.i32("heap slot") < accounts, "heap slot")
                r.u32("heap version")
        holders = [r.i32("holder") for _ in range(r.count("holders", 4))]
        require(len(set(holders)) == len(holders) and all(0 <= h < accounts for h in holders), "holders")
        orders = r.count("orders", 43)
        levels_of = []
        for _ in range(orders):
            r.u64("order id")
            account = r.u64("order account")
            slot = r.i32("order slot")
            require(0 <= slot < accounts and ids[slot] == account, "order account slot")
            cid = r.client_order_id("order client order id").decode("latin-1")
            require(r.u8("order side") in (0, 1), "order side")
            price = r.i64("order price")
            remaining = r.i64("remaining")
            r.boolean("reduce only")
            if r.boolean("live"):
                live_orders[slot] += 1
                resting.append([market, account, cid, price, remaining])
            levels_of.append(r.i32("order level"))
        require(all(0 <= i < orders for i in [r.i32("free order") for _ in range(r.count("free orders", 4))]), "free order")
        levels = r.count("levels", 20)
        for _ in range(levels):
            r.i128("live quantity")
            require(all(0 <= i < orders for i in [r.i32("queued") for _ in range(r.count("level queue", 4))]), "queued order")
        require(all(-1 <= l < levels for l in levels_of), "order level")
        require(all(0 <= i < levels for i in [r.i32("free level") for _ in range(r.count("free levels", 4))]), "free level")
        for side, ascending in (("bids", True), ("asks", False)):
            prices = []
            for _ in range(r.count(side, 12)):
                prices.append(r.i64("level price"))
                require(0 <= r.i32("book level") < levels, "book level")
            require(strictly_ascending(prices if ascending else prices[::-1]), f"{side} out of order")
    require(all(open_orders[s] == live_orders[s] for s in range(accounts)), "open order counts")
    out["resting"] = resting
    if venue.get("underlyings"):
        publishers = dict(binding)
        feeds = []
        for underlying in sorted(venue["underlyings"], key=int):
            spec = venue["underlyings"][underlying]
            r.i128("variance")
            if r.boolean("last tick"):
                r.i64("tick price"), r.u64("tick time")
            settled = [r.boolean("settled") for _ in range(spec["series"])]
            for _ in range(spec["expiries"]):
                times = [r.u64("smile publish time") for _ in range(publishers[int(underlying)])]
                in_force = None
                if r.boolean("smile in force"):
                    params = [r.i64(p) for p in ("a", "b", "rho", "m", "sigma")]
                    in_force = {"parameters": params, "publishTime": r.u64("smile time"), "publisher": r.u32("publisher index")}
                    require(in_force["publisher"] < publishers[int(underlying)], "smile publisher")
                feeds.append({"underlying": int(underlying), "times": times, "inForce": in_force, "settled": settled})
        out["feeds"] = feeds
    if venue.get("marginCall"):
        memory = [(r.u64("called account"), r.u64("call time")) for _ in range(r.count("marginCallMemory", 16))]
        require(strictly_ascending([m[0] for m in memory]) and {m[0] for m in memory} <= set(ids), "marginCallMemory")
        out["marginCallMemory"] = [list(m) for m in memory]
    return out


def settlement(r):
    if r.boolean("settlement"):
        r.u64("enclaveTime"), r.i64("paid"), r.i64("positions"), r.i64("received"), r.i64("residue")
        r.u64("sequence"), r.i64("settlementPrice"), r.i64("valuePerUnit")
        return True
    return False


def trades(r):
    n = r.count("trades", 33)
    for _ in range(n):
        r.boolean("aggressor"), r.u64("trade time"), r.i64("trade price"), r.u64("trade sequence"), r.i64("trade size")
    return n


def committer(r, venue):
    """§6.4."""
    options = set(venue.get("optionMarkets", []))
    r.magic(b"SSBC", 5)
    out = {"venueId": r.u64("venue id"), "batchIndex": r.u64("batch index")}
    r.take(32, "previous header hash")
    out["closedSize"] = r.u64("closed size")
    r.take(32, "closed root")
    out["frontier"] = [r.take(32, "frontier node").hex() for _ in range(bin(out["closedSize"]).count("1"))]
    events = r.count("open batch events", 49)
    out["openEvents"] = [r.take(49, "event leaf").hex() for _ in range(events)]
    r.u64("first sequence"), r.u64("last sequence"), r.u64("first event time"), r.boolean("saw price")
    lines = r.take(r.count("input lines", 1), "input lines")
    require(lines == b"" or lines.endswith(b"\n"), "open batch input lines")
    decisions = []
    for _ in range(r.count("decisions", 178)):
        d = {"sequence": r.u64("decision sequence")}
        r.u64("decision time"), r.take(32, "account commitment")
        d["market"] = r.u32("decision market")
        d["isBuy"] = r.boolean("isBuy")
        d["size"] = r.i64("size")
        for f in ("markPrice", "bankruptcyPrice", "worstPrice", "equity", "maintenanceRequirement"):
            r.i64(f)
        d["reason"] = r.u8("reason")
        for f in ("filledOnBook", "toInsuranceFund", "autoDeleveraged", "liquidationFee"):
            r.i64(f)
        d["fills"] = r.count("fills", 17)
        for _ in range(d["fills"]):
            r.u8("fill kind"), r.i64("fill price"), r.i64("fill quantity")
        r.take(32, "stateHash"), r.take(32, "marksHash")
        d["scenario"] = scenario(r)
        decisions.append(d)
    out["decisions"] = decisions
    funding = r.count("funding", 60)
    for _ in range(funding):
        r.u64("sequence"), r.u64("time"), r.u32("market"), r.i64("mark"), r.i64("rate"), r.i64("per unit")
        r.u64("interval"), r.u64("due")
    out["funding"] = funding
    dirty = [r.u64("dirty account") for _ in range(r.count("dirty accounts", 8))]
    require(len(set(dirty)) == len(dirty), "dirty account repeated")
    out["dirty"] = dirty
    leaves = []
    for _ in range(r.count("state leaves", 48)):
        leaves.append([r.u64("leaf account"), r.u64("salt version"), r.take(32, "leaf hash").hex()])
    require(len({l[0] for l in leaves}) == len(leaves), "state leaf repeated")
    out["leaves"] = leaves
    markets = []
    for _ in range(r.u32("market data markets")):
        m = {"market": r.u32("market data market"), "published": r.u64("published"), "trades": trades(r)}
        if m["market"] in options:
            m["settlement"] = settlement(r)
        markets.append(m)
    out["marketData"] = markets
    pending = []
    for _ in range(r.count("pending records", 72)):
        r.u64("releaseAt")
        p = {"market": r.u32("pending market")}
        require(p["market"] in [m["market"] for m in markets], "pending market not listed")
        r.u64("firstSequence"), r.u64("lastSequence"), r.u64("stateTime")
        for side in ("bids", "asks"):
            for _ in range(r.count(side, 16)):
                r.i64("price"), r.i64("size")
        r.i64("markPrice"), r.u8("priceInvalidity")
        for _ in range(r.count("quotes", 28)):
            r.u32("publisher"), r.i64("price"), r.u64("confidence"), r.u64("publishTime")
        r.i64("fundingRateBps"), r.u64("nextFundingTime"), r.i64("openInterest")
        p["trades"] = trades(r)
        if p["market"] in options:
            r.i64("contractSize"), r.u64("expiry")
            require(r.u8("kind") <= 1 and r.u8("settled") <= 1, "option series")
            r.i64("strike"), r.u32("underlying"), r.i64("underlyingMark")
            p["settlement"] = settlement(r)
            p["greeks"] = r.boolean("greeks")
            if p["greeks"]:
                for f in ("delta", "gamma", "impliedVolatilityPpm", "realizedVolatilityPpm", "theta", "vega"):
                    r.i64(f)
        pending.append(p)
    out["pending"] = pending
    return out


def payload(r, venue):
    """§6.5."""
    r.magic(b"SSWK", 2)
    out = {"configHash": r.take(32, "configuration hash").hex(), "globalSequence": r.u64("last global sequence"),
           "lastTime": r.u64("clock clamp")}
    keys = [(r.u64("key account"), r.take(32, "account key"))[0] for _ in range(r.count("account keys", 40))]
    require(strictly_ascending(keys), "account keys out of order")
    require(0 not in keys, "a key for account 0")
    out["accountKeys"] = keys
    deposits = [r.u64("deposit id") for _ in range(r.count("deposit ids", 8))]
    require(strictly_ascending(deposits), "deposit ids out of order")
    out["deposits"] = deposits
    times = []
    for _ in range(r.count("publish times", 48)):
        market = r.u32("publish market")
        require(r.u32("key length") == 32, "publisher key length")
        key = r.take(32, "publisher key")
        times.append((market, key, r.u64("publish time")))
    require(strictly_ascending([(t[0], t[1]) for t in times]), "publish times out of order")
    out["publishTimes"] = len(times)
    out["counter"] = r.u64("counter")
    dedupe = []
    for _ in range(r.count("duplicate memory", 27)):
        account = r.u64("dedupe account")
        kind = r.u8("dedupe kind")
        require(kind in (1, 3), "dedupe kind")
        cid = r.client_order_id("dedupe client order id").decode("latin-1")
        dedupe.append([account, kind, cid, r.u64("original sequence"), r.u64("original time")])
    require(strictly_ascending([d[3] for d in dedupe]), "duplicate memory out of order")
    out["dedupe"] = dedupe
    start = r.o
    out["engine"] = engine(r, venue)
    out["engineBytes"] = [start, r.o]
    flag = r.u8("committer flag")
    require(flag in (0, 1), "committer flag")
    if flag == 1:
        start = r.o
        out["committer"] = committer(r, venue)
        out["committerBytes"] = [start, r.o]
    out["statements"] = statement_logs(r, out["globalSequence"], venue)
    return out


def statement_logs(r, head, venue):
    """§6.5 "The statement logs"."""
    logs, starts = [], {}
    for _ in range(r.count("statement logs", 38)):
        account = r.u64("log account")
        require(account != 0, "statement log of 0")
        start = r.u64("window start")
        require(start <= head, f"statement window of {account}")
        r.i128("opening collateral")
        markets = []
        for _ in range(r.u16("opening positions")):
            markets.append(r.u32("opening market"))
            require(r.i64("opening size") != 0, f"opening balance of {account}")
        require(strictly_ascending(markets), f"opening balance of {account}")
        last, entries = start, 0
        for _ in range(r.count("statement entries", 53)):
            sequence = r.u64("entry sequence")
            require(1 <= r.u8("entry kind") <= 9 and start < sequence and last <= sequence <= head,
                    f"statement entry of {account}")
            last = sequence
            r.u32("entry market"), r.i64("entry price"), r.i64("entry quantity"), r.i64("entry amount")
            r.i128("entry collateral")
            entries += 1
        logs.append([account, start, entries])
        starts[account] = start
    require(strictly_ascending([l[0] for l in logs]), "statement logs out of order")
    openings = []
    for _ in range(r.count("statement openings", 9)):
        account = r.u64("openings account")
        require(account != 0, "statement openings of 0")
        m = r.u8("openings count")
        require(1 <= m <= 16, f"openings count of {account}")
        previous = None
        for _ in range(m):
            key = (r.u64("opening sequence"), r.u32("opening step"))
            require(starts.get(account, 0) < key[0] <= head and (previous is None or previous < key), f"opening of {account}")
            previous = key
            held = state_markets(r.take(r.count("opening state", 1), "opening state"), account,
                                 f"opening state of {account}")
            require(r.u16("opening marks") == len(held), f"opening marks of {account}")
            marks = [(r.u32("mark market"), r.i64("mark"), r.u32("maintenance bps"))[::2] for _ in held]
            require(marks_match(marks, held, venue), f"opening marks of {account}")
        openings.append([account, m])
    require(strictly_ascending([o[0] for o in openings]), "statement openings out of order")
    return {"logs": logs, "openings": openings}


def main(argv):
    kind, path, venue = argv[1], argv[2], json.loads(argv[3])
    r = Reader(open(path, "rb").read())
    try:
        out = {"engine": engine, "committer": committer, "payload": payload}[kind](r, venue)
        require(r.o == len(r.b), f"{len(r.b) - r.o} trailing bytes")
    except Malformed as e:
        print(f"{path}: {e} (offset {r.o})", file=sys.stderr)
        return 1
    print(json.dumps(out, sort_keys=True))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
