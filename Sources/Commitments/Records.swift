#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import SealCrypto
import Wire

/// One line of `DATA/outputs/batches.jsonl`: a signed header and the consistency proof
/// of the event log from the previous batch (docs/COMMITMENTS.md §4).
public struct BatchRecord: Codable, Equatable, Sendable {

    /// Every field as given (the strict readers of OutputVerification build records with it).
    package init(memberwise batchIndex: UInt64, venueId: UInt64, previousHeaderHash: String, firstSequence: UInt64, lastSequence: UInt64, enclaveTime: UInt64, eventsRoot: String, stateRoot: String, accountCount: UInt64, decisionsRoot: String, decisionCount: UInt64, marketDataRoot: String, haltedMarkets: [UInt32], headerHash: String, digest: String, signer: String, signature: Signature, eventsConsistency: Consistency) {
        self.batchIndex = batchIndex
        self.venueId = venueId
        self.previousHeaderHash = previousHeaderHash
        self.firstSequence = firstSequence
        self.lastSequence = lastSequence
        self.enclaveTime = enclaveTime
        self.eventsRoot = eventsRoot
        self.stateRoot = stateRoot
        self.accountCount = accountCount
        self.decisionsRoot = decisionsRoot
        self.decisionCount = decisionCount
        self.marketDataRoot = marketDataRoot
        self.haltedMarkets = haltedMarkets
        self.headerHash = headerHash
        self.digest = digest
        self.signer = signer
        self.signature = signature
        self.eventsConsistency = eventsConsistency
    }
    public struct Signature: Codable, Equatable, Sendable {
        public var r: String
        public var s: String
        public var v: UInt8

        package init(r: String, s: String, v: UInt8) { (self.r, self.s, self.v) = (r, s, v) }
    }

    public struct Consistency: Codable, Equatable, Sendable {
        public var fromSize: UInt64
        public var proof: [String]

        package init(fromSize: UInt64, proof: [String]) { (self.fromSize, self.proof) = (fromSize, proof) }
    }

    public var batchIndex: UInt64
    public var venueId: UInt64
    public var previousHeaderHash: String
    public var firstSequence: UInt64
    public var lastSequence: UInt64
    public var enclaveTime: UInt64
    public var eventsRoot: String
    public var stateRoot: String
    public var accountCount: UInt64
    public var decisionsRoot: String
    public var decisionCount: UInt64
    public var marketDataRoot: String
    public var haltedMarkets: [UInt32]
    /// Convenience copies: a verifier recomputes both from the fields.
    public var headerHash: String
    public var digest: String
    public var signer: String
    public var signature: Signature
    public var eventsConsistency: Consistency

    /// `headerHash` and `digest`, when given, must be `h.structHash` and `h.digest(domain:)`
    /// (a batch close has them already; computed here otherwise).
    public init(header h: BatchHeader, domain: EIP712Domain, signer: EthereumAddress, signature: RecoverableSignature,
                consistencyFrom: UInt64, consistency: [Hash32], headerHash: Hash32? = nil, digest: Hash32? = nil) {
        batchIndex = h.batchIndex
        venueId = h.venueId
        previousHeaderHash = h.previousHeaderHash.hex
        firstSequence = h.firstSequence
        lastSequence = h.lastSequence
        enclaveTime = h.enclaveTime
        eventsRoot = h.eventsRoot.hex
        stateRoot = h.stateRoot.hex
        accountCount = h.accountCount
        decisionsRoot = h.decisionsRoot.hex
        decisionCount = h.decisionCount
        marketDataRoot = h.marketDataRoot.hex
        haltedMarkets = h.haltedMarkets
        self.headerHash = (headerHash ?? h.structHash).hex
        self.digest = (digest ?? h.digest(domain: domain)).hex
        self.signer = signer.hex
        self.signature = Signature(r: Hash32(signature.r).hex, s: Hash32(signature.s).hex, v: signature.v)
        eventsConsistency = Consistency(fromSize: consistencyFrom, proof: consistency.map(\.hex))
    }

    /// The signed fields (hex parsed strictly). Records read with `init(jsonLine:)` have
    /// been checked already; this also guards records built or decoded otherwise.
}

/// One line of `DATA/outputs/decisions.jsonl`: a liquidation decision, where it is
/// committed, and the proof (docs/COMMITMENTS.md §4).
public struct DecisionRecord: Codable, Equatable, Sendable {

    /// Every field as given (the strict readers of OutputVerification build records with it).
    package init(memberwise venueId: UInt64, sequence: UInt64, enclaveTime: UInt64, account: String, market: UInt32, side: String, isBuy: Bool, size: Int64, markPrice: Int64, bankruptcyPrice: Int64, worstPrice: Int64, equity: Int64, maintenanceRequirement: Int64, reason: String, reasonCode: UInt8, filledOnBook: Int64, toInsuranceFund: Int64, autoDeleveraged: Int64, liquidationFee: Int64, fills: [Fill], stateHash: String, marksHash: String, scenario: DecisionScenario?, batchIndex: UInt64, leafIndex: UInt64, structHash: String, proof: [String]) {
        self.liquidationFee = liquidationFee
        self.stateHash = stateHash
        self.marksHash = marksHash
        self.scenario = scenario
        self.fills = fills
        self.venueId = venueId
        self.sequence = sequence
        self.enclaveTime = enclaveTime
        self.account = account
        self.market = market
        self.side = side
        self.isBuy = isBuy
        self.size = size
        self.markPrice = markPrice
        self.bankruptcyPrice = bankruptcyPrice
        self.worstPrice = worstPrice
        self.equity = equity
        self.maintenanceRequirement = maintenanceRequirement
        self.reason = reason
        self.reasonCode = reasonCode
        self.filledOnBook = filledOnBook
        self.toInsuranceFund = toInsuranceFund
        self.autoDeleveraged = autoDeleveraged
        self.batchIndex = batchIndex
        self.leafIndex = leafIndex
        self.structHash = structHash
        self.proof = proof
    }
    public var venueId: UInt64
    public var sequence: UInt64
    public var enclaveTime: UInt64
    public var account: String
    public var market: UInt32
    /// "buy" or "sell": the closing trade (sell closes a long).
    public var side: String
    public var isBuy: Bool
    public var size: Int64
    public var markPrice: Int64
    public var bankruptcyPrice: Int64
    public var worstPrice: Int64
    public var equity: Int64
    public var maintenanceRequirement: Int64
    /// "maintenance-full" or "maintenance-partial".
    public var reason: String
    public var reasonCode: UInt8
    public var filledOnBook: Int64
    public var toInsuranceFund: Int64
    public var autoDeleveraged: Int64
    /// Quote micro-units paid to the insurance fund.
    public var liquidationFee: Int64
    /// The step's trades in order; their hash is the struct's `fillsHash` (§3).
    public var fills: [Fill]
    /// Salted commitment to the account's state just before the step (§3).
    public var stateHash: String
    /// Salted commitment to the marks and maintenance fractions of its markets (§3).
    public var marksHash: String
    /// The triggering scenario (§3, §4): null on the linear model; its hash is `scenarioHash`.
    public var scenario: DecisionScenario?
    public var batchIndex: UInt64
    public var leafIndex: UInt64
    public var structHash: String
    public var proof: [String]

    /// `{"kind": "book" | "insuranceFund" | "adl", "price": i64, "quantity": i64}`.
    public struct Fill: Codable, Equatable, Sendable {
        public var kind: String
        public var price: Int64
        public var quantity: Int64

        package init(kind: String, price: Int64, quantity: Int64) { (self.kind, self.price, self.quantity) = (kind, price, quantity) }
    }

    /// `structHash` is `d.structHash` when the caller has it already (the batch close hashes
    /// each decision once, for its tree leaf and its record); nil computes it here.
    public init(_ d: DecisionFields, batchIndex: UInt64, leafIndex: UInt64, proof: [Hash32], structHash: Hash32? = nil) {
        venueId = d.venueId
        sequence = d.sequence
        enclaveTime = d.enclaveTime
        account = d.account.hex
        market = d.market
        side = d.isBuy ? "buy" : "sell"
        isBuy = d.isBuy
        size = d.size
        markPrice = d.markPrice
        bankruptcyPrice = d.bankruptcyPrice
        worstPrice = d.worstPrice
        equity = d.equity
        maintenanceRequirement = d.maintenanceRequirement
        reason = d.reason.name
        reasonCode = d.reason.rawValue
        filledOnBook = d.filledOnBook
        toInsuranceFund = d.toInsuranceFund
        autoDeleveraged = d.autoDeleveraged
        liquidationFee = d.liquidationFee
        fills = d.fills.map { Fill(kind: $0.kind.name, price: $0.price, quantity: $0.quantity) }
        stateHash = d.stateHash.hex
        marksHash = d.marksHash.hex
        scenario = d.scenario
        self.batchIndex = batchIndex
        self.leafIndex = leafIndex
        self.structHash = (structHash ?? d.structHash).hex
        self.proof = proof.map(\.hex)
    }

    /// The committed fields. The redundant `side` and `reason` names must agree with
    /// `isBuy` and `reasonCode`, so a reader of either form sees the same decision.
}

/// One record of `DATA/outputs/events.log`: the public leaf of a sequenced input in the
/// event log (docs/COMMITMENTS.md §2.1). 49 bytes.
public struct EventLeaf: Equatable, Sendable {
    public static let byteCount = 49
    /// The message types of sequenced inputs (docs/PROTOCOL.md): 0x03 sealed request,
    /// 0x04 oracle price, 0x05 deposit, 0x0a oracle smile. No other type is ever a leaf.
    public static let messageTypes: Set<UInt8> = [0x03, 0x04, 0x05, 0x0a]
    /// The leaf types whose input is published in full in `inputs.jsonl` (docs/COMMITMENTS.md
    /// §4.1): oracle prices, deposits and oracle smiles.
    public static let publishedInputTypes: Set<UInt8> = [0x04, 0x05, 0x0a]

    public var globalSequence: UInt64
    public var enclaveTime: UInt64
    /// Message type byte of the input frame.
    public var messageType: UInt8
    /// SHA-256 of the input frame's body as received.
    public var bodyHash: Hash32

    public init(globalSequence: UInt64, enclaveTime: UInt64, messageType: UInt8, bodyHash: Hash32) {
        self.globalSequence = globalSequence
        self.enclaveTime = enclaveTime
        self.messageType = messageType
        self.bodyHash = bodyHash
    }

    /// Reads one record; nil unless `bytes` holds exactly 49 bytes.
    public init?(_ bytes: some Collection<UInt8>) {
        guard bytes.count == Self.byteCount else { return nil }
        let a = Array(bytes)
        func u64(_ at: Int) -> UInt64 { a[at..<(at + 8)].reduce(0) { $0 << 8 | UInt64($1) } }
        globalSequence = u64(0)
        enclaveTime = u64(8)
        messageType = a[16]
        bodyHash = Hash32(Array(a[17..<49]))
    }

    public var bytes: [UInt8] {
        var out = [UInt8]()
        out.reserveCapacity(Self.byteCount)
        append(to: &out)
        return out
    }

    /// Appends the 49-byte record to `out`.
    public func append(to out: inout [UInt8]) {
        withUnsafeBytes(of: globalSequence.bigEndian) { out.append(contentsOf: $0) }
        withUnsafeBytes(of: enclaveTime.bigEndian) { out.append(contentsOf: $0) }
        out.append(messageType)
        bodyHash.withUnsafeBytes { out.append(contentsOf: $0) }
    }

    /// The RFC 6962 leaf hash of this record.
    public var leafHash: Hash32 { RFC6962.leafHash(bytes) }
}

/// Writes one JSON object on one line, keys in the order given (callers give them
/// sorted). Only for the records here: every string is hex or a fixed ASCII name, so
/// nothing needs escaping. Foundation's JSONEncoder took 200–400 µs per header on the
/// enclave's batch-close path; this takes a few µs.
struct JSONLineWriter {
    private(set) var bytes: [UInt8] = []
    /// Bit d: the object open at nesting depth d has a key already (no array per line).
    private var keyed: UInt64 = 0
    private var depth = 0

    init(capacity: Int = 1024) {
        bytes.reserveCapacity(capacity)
        bytes.append(UInt8(ascii: "{"))
    }

    /// A writer that appends to `out`'s bytes, which it takes over (`out` is left empty
    /// until the caller stores the finished bytes back): one buffer for many lines, which
    /// the caller reserves once (growing it line by line would copy it each time).
    init(continuing out: inout [UInt8]) {
        swap(&bytes, &out)
        bytes.append(UInt8(ascii: "{"))
    }

    /// `"k":` (after a comma unless it is its object's first key), from the key's static
    /// bytes: every key is a literal.
    private mutating func key(_ k: StaticString) {
        keyed(k, room: 0) { _ in 0 }
    }

    /// `"k":` and a value that `value` writes at the pointer it gets (at most `room` bytes,
    /// returning how many), composed on the stack and appended to `bytes` at once: each
    /// append to an array pays its own uniqueness and capacity checks, and a decision line
    /// is ~30 fields (issue 17, price to liquidation).
    @inline(__always)
    private mutating func keyed(_ k: StaticString, room: Int, _ value: (UnsafeMutablePointer<UInt8>) -> Int) {
        let comma = keyed & (1 << depth) != 0
        keyed |= 1 << depth
        let n = k.utf8CodeUnitCount
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: n + 4 + room) { buf in
            let p = buf.baseAddress!
            var i = 0
            if comma {
                p[0] = UInt8(ascii: ",")
                i = 1
            }
            p[i] = UInt8(ascii: "\"")
            (p + i + 1).update(from: k.utf8Start, count: n)
            i += n + 1
            p[i] = UInt8(ascii: "\"")
            p[i + 1] = UInt8(ascii: ":")
            i += 2
            i += value(p + i)
            bytes.append(contentsOf: UnsafeBufferPointer(start: p, count: i))
        }
    }

    /// Writes `"0x…"` (68 bytes: the 64 lower-case hex digits of `h`, `Hash32.hex`'s form)
    /// at `p`.
    @inline(__always)
    private static func writeQuotedHex(_ h: Hash32, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        p[0] = UInt8(ascii: "\"")
        p[1] = UInt8(ascii: "0")
        p[2] = UInt8(ascii: "x")
        _ = h.withUnsafeBytes { Hex.write($0, to: p + 3) }
        p[3 + 2 * Hash32.byteCount] = UInt8(ascii: "\"")
        return 4 + 2 * Hash32.byteCount
    }

    /// Writes `v` in decimal (at most 20 digits and a sign) at `p`, as `String(v)` spells it:
    /// two digits per division, backwards into a scratch word, then moved into place (a
    /// price or a time has 11–19 digits; one division per digit was most of a field).
    @inline(__always)
    private static func writeDecimal(negative: Bool, magnitude: UInt64, _ p: UnsafeMutablePointer<UInt8>) -> Int {
        let pairs: StaticString = "00010203040506070809101112131415161718192021222324252627282930313233343536373839404142434445464748495051525354555657585960616263646566676869707172737475767778798081828384858687888990919293949596979899"
        let t = pairs.utf8Start
        var scratch: (UInt64, UInt64, UInt64) = (0, 0, 0)  // 24 bytes: room for 20 digits
        return withUnsafeMutableBytes(of: &scratch) { raw in
            let s = raw.baseAddress!.assumingMemoryBound(to: UInt8.self)
            var i = raw.count
            var m = magnitude
            while m >= 100 {
                let r = Int(m % 100)
                m /= 100
                i -= 2
                s[i] = t[2 * r]
                s[i + 1] = t[2 * r + 1]
            }
            if m >= 10 {
                i -= 2
                s[i] = t[2 * Int(m)]
                s[i + 1] = t[2 * Int(m) + 1]
            } else {
                i -= 1
                s[i] = UInt8(ascii: "0") + UInt8(m)
            }
            var o = 0
            if negative {
                p[0] = UInt8(ascii: "-")
                o = 1
            }
            (p + o).update(from: s + i, count: raw.count - i)
            return o + raw.count - i
        }
    }

    mutating func field(_ k: StaticString, hex h: Hash32) {
        keyed(k, room: 4 + 2 * Hash32.byteCount) { Self.writeQuotedHex(h, $0) }
    }

    /// `"k":["0x…",…]`, composed in one piece.
    mutating func field(_ k: StaticString, hexes: [Hash32]) {
        keyed(k, room: 2 + (5 + 2 * Hash32.byteCount) * hexes.count) { p in
            p[0] = UInt8(ascii: "[")
            var i = 1
            for (n, h) in hexes.enumerated() {
                if n > 0 {
                    p[i] = UInt8(ascii: ",")
                    i += 1
                }
                i += Self.writeQuotedHex(h, p + i)
            }
            p[i] = UInt8(ascii: "]")
            return i + 1
        }
    }

    /// Appends `v` in decimal, as `String(v)` spells it, without making the string: a batch
    /// close writes tens of thousands of numbers (every trade's) while orders wait.
    mutating func decimal(_ v: some BinaryInteger) {
        guard v.magnitude.bitWidth <= 64 || v.magnitude <= UInt64.max else {
            bytes += String(v).utf8
            return
        }
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 21) { buf in
            let n = Self.writeDecimal(negative: v < 0, magnitude: UInt64(v.magnitude), buf.baseAddress!)
            bytes.append(contentsOf: UnsafeBufferPointer(start: buf.baseAddress!, count: n))
        }
    }

    private mutating func quoted(_ s: String) {
        assert(s.utf8.allSatisfy { $0 >= 0x20 && $0 < 0x7f && $0 != UInt8(ascii: "\"") && $0 != UInt8(ascii: "\\") })
        bytes.append(UInt8(ascii: "\""))
        bytes += s.utf8
        bytes.append(UInt8(ascii: "\""))
    }

    mutating func field(_ k: StaticString, _ v: some BinaryInteger) {
        guard v.magnitude.bitWidth <= 64 || v.magnitude <= UInt64.max else {
            key(k)
            decimal(v)
            return
        }
        keyed(k, room: 21) { Self.writeDecimal(negative: v < 0, magnitude: UInt64(v.magnitude), $0) }
    }

    mutating func field(_ k: StaticString, _ v: Bool) {
        keyed(k, room: 5) { p in
            let text: StaticString = v ? "true" : "false"
            p.update(from: text.utf8Start, count: text.utf8CodeUnitCount)
            return text.utf8CodeUnitCount
        }
    }

    mutating func field(_ k: StaticString, _ v: String) {
        key(k)
        quoted(v)
    }

    mutating func field(_ k: StaticString, _ v: [String]) {
        key(k)
        bytes.append(UInt8(ascii: "["))
        for (i, s) in v.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            quoted(s)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    mutating func field(_ k: StaticString, _ v: [UInt32]) {
        key(k)
        bytes.append(UInt8(ascii: "["))
        for (i, x) in v.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            decimal(x)
        }
        bytes.append(UInt8(ascii: "]"))
    }

    /// An array of objects, one per element.
    mutating func objects<T>(_ k: StaticString, _ items: [T], _ body: (inout JSONLineWriter, T) -> Void) {
        key(k)
        bytes.append(UInt8(ascii: "["))
        for (i, item) in items.enumerated() {
            if i > 0 { bytes.append(UInt8(ascii: ",")) }
            bytes.append(UInt8(ascii: "{"))
            enter()
            body(&self, item)
            depth -= 1
            bytes.append(UInt8(ascii: "}"))
        }
        bytes.append(UInt8(ascii: "]"))
    }

    mutating func object(_ k: StaticString, _ body: (inout JSONLineWriter) -> Void) {
        key(k)
        bytes.append(UInt8(ascii: "{"))
        enter()
        body(&self)
        depth -= 1
        bytes.append(UInt8(ascii: "}"))
    }

    /// Opens a nested object's key list.
    private mutating func enter() {
        depth += 1
        precondition(depth < 64, "JSON records nest a few levels deep")
        keyed &= ~(1 << depth)
    }

    /// A key whose value the caller appends with `append`.
    mutating func rawKey(_ k: StaticString) { key(k) }

    /// Appends pre-formatted JSON text (ASCII).
    mutating func append(_ text: String) { bytes += text.utf8 }

    mutating func append(_ raw: [UInt8]) { bytes += raw }

    /// Appends one ASCII byte of JSON syntax.
    mutating func byte(_ b: UInt8) { bytes.append(b) }

    /// Appends literal JSON text (keys and syntax) straight from its static bytes, without
    /// the generic append of a `String`'s UTF-8 view.
    mutating func literal(_ text: StaticString) {
        bytes.append(contentsOf: UnsafeBufferPointer(start: text.utf8Start, count: text.utf8CodeUnitCount))
    }

    /// The finished object, without a newline.
    mutating func closedObject() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        return bytes
    }

    /// The finished line, with its newline.
    mutating func line() -> [UInt8] {
        bytes.append(UInt8(ascii: "}"))
        bytes.append(0x0a)
        return bytes
    }
}

extension BatchRecord {
    /// The record as one JSON line (with its newline), keys sorted.
    public func jsonLine() -> [UInt8] {
        var w = JSONLineWriter()
        w.field("accountCount", accountCount)
        w.field("batchIndex", batchIndex)
        w.field("decisionCount", decisionCount)
        w.field("decisionsRoot", decisionsRoot)
        w.field("digest", digest)
        w.field("enclaveTime", enclaveTime)
        w.object("eventsConsistency") { c in
            c.field("fromSize", eventsConsistency.fromSize)
            c.field("proof", eventsConsistency.proof)
        }
        w.field("eventsRoot", eventsRoot)
        w.field("firstSequence", firstSequence)
        w.field("haltedMarkets", haltedMarkets)
        w.field("headerHash", headerHash)
        w.field("lastSequence", lastSequence)
        w.field("marketDataRoot", marketDataRoot)
        w.field("previousHeaderHash", previousHeaderHash)
        w.object("signature") { g in
            g.field("r", signature.r)
            g.field("s", signature.s)
            g.field("v", signature.v)
        }
        w.field("signer", signer)
        w.field("stateRoot", stateRoot)
        w.field("venueId", venueId)
        return w.line()
    }
}

extension DecisionRecord {
    /// The record as one JSON line (with its newline), keys sorted.
    public func jsonLine() -> [UInt8] {
        var w = JSONLineWriter(capacity: 1024 + 70 * proof.count)
        Self.write(
            into: &w, account: .text(account), side: side, reason: reason, reasonCode: reasonCode,
            numbers: Numbers(
                venueId: venueId, sequence: sequence, enclaveTime: enclaveTime, market: market, isBuy: isBuy, size: size,
                markPrice: markPrice, bankruptcyPrice: bankruptcyPrice, worstPrice: worstPrice, equity: equity,
                maintenanceRequirement: maintenanceRequirement, filledOnBook: filledOnBook, toInsuranceFund: toInsuranceFund,
                autoDeleveraged: autoDeleveraged, liquidationFee: liquidationFee, batchIndex: batchIndex, leafIndex: leafIndex),
            fills: .records(fills), stateHash: .text(stateHash), marksHash: .text(marksHash), scenario: scenario,
            structHash: .text(structHash), proof: .texts(proof))
        return w.line()
    }

    /// Appends the line `DecisionRecord(d, batchIndex:leafIndex:proof:structHash:).jsonLine()`
    /// writes, byte for byte, to `out`, straight from the fields: hashes written as hex
    /// from their bytes, no record and no string per field in between (a liquidating
    /// batch close writes one per decision; issue 17, price to liquidation).
    public static func appendLine(
        _ d: DecisionFields, batchIndex: UInt64, leafIndex: UInt64, proof: [Hash32], structHash: Hash32, to out: inout [UInt8]
    ) {
        var w = JSONLineWriter(continuing: &out)
        write(
            into: &w, account: .hash(d.account), side: d.isBuy ? "buy" : "sell", reason: d.reason.name,
            reasonCode: d.reason.rawValue,
            numbers: Numbers(
                venueId: d.venueId, sequence: d.sequence, enclaveTime: d.enclaveTime, market: d.market, isBuy: d.isBuy,
                size: d.size, markPrice: d.markPrice, bankruptcyPrice: d.bankruptcyPrice, worstPrice: d.worstPrice,
                equity: d.equity, maintenanceRequirement: d.maintenanceRequirement, filledOnBook: d.filledOnBook,
                toInsuranceFund: d.toInsuranceFund, autoDeleveraged: d.autoDeleveraged, liquidationFee: d.liquidationFee,
                batchIndex: batchIndex, leafIndex: leafIndex),
            fills: .fields(d.fills), stateHash: .hash(d.stateHash), marksHash: .hash(d.marksHash), scenario: d.scenario,
            structHash: .hash(structHash), proof: .hashes(proof))
        out = w.line()
    }

    /// A hash as the record holds it (hex text, as read back) or as the close has it.
    enum HexValue {
        case text(String)
        case hash(Hash32)
    }

    enum Proof {
        case texts([String])
        case hashes([Hash32])
    }

    enum Fills {
        case records([Fill])
        case fields([DecisionFields.Fill])
    }

    struct Numbers {
        var venueId: UInt64, sequence: UInt64, enclaveTime: UInt64, market: UInt32, isBuy: Bool, size: Int64
        var markPrice: Int64, bankruptcyPrice: Int64, worstPrice: Int64, equity: Int64, maintenanceRequirement: Int64
        var filledOnBook: Int64, toInsuranceFund: Int64, autoDeleveraged: Int64, liquidationFee: Int64
        var batchIndex: UInt64, leafIndex: UInt64
    }

    /// The one definition of the line: keys sorted, each value in the form of §4.
    private static func write(
        into w: inout JSONLineWriter, account: HexValue, side: String, reason: String, reasonCode: UInt8, numbers n: Numbers,
        fills: Fills, stateHash: HexValue, marksHash: HexValue, scenario: DecisionScenario?, structHash: HexValue,
        proof: Proof
    ) {
        func hex(_ k: StaticString, _ v: HexValue) {
            switch v {
            case .text(let s): w.field(k, s)
            case .hash(let h): w.field(k, hex: h)
            }
        }
        hex("account", account)
        w.field("autoDeleveraged", n.autoDeleveraged)
        w.field("bankruptcyPrice", n.bankruptcyPrice)
        w.field("batchIndex", n.batchIndex)
        w.field("enclaveTime", n.enclaveTime)
        w.field("equity", n.equity)
        w.field("filledOnBook", n.filledOnBook)
        switch fills {
        case .records(let fills):
            w.objects("fills", fills) { o, f in
                o.field("kind", f.kind)
                o.field("price", f.price)
                o.field("quantity", f.quantity)
            }
        case .fields(let fills):
            w.objects("fills", fills) { o, f in
                o.field("kind", f.kind.name)
                o.field("price", f.price)
                o.field("quantity", f.quantity)
            }
        }
        w.field("isBuy", n.isBuy)
        w.field("leafIndex", n.leafIndex)
        w.field("liquidationFee", n.liquidationFee)
        w.field("maintenanceRequirement", n.maintenanceRequirement)
        w.field("markPrice", n.markPrice)
        w.field("market", n.market)
        hex("marksHash", marksHash)
        switch proof {
        case .texts(let proof): w.field("proof", proof)
        case .hashes(let proof): w.field("proof", hexes: proof)
        }
        w.field("reason", reason)
        w.field("reasonCode", reasonCode)
        if let scenario {
            w.object("scenario") { o in
                o.field("linearRequirement", scenario.linearRequirement)
                o.objects("portfolios", scenario.portfolios) { q, p in
                    q.field("confidenceContingency", p.confidenceContingency)
                    q.field("loss", p.loss)
                    q.field("mark", p.mark)
                    q.field("moveSteps", p.moveSteps)
                    q.field("price", p.price)
                    q.field("scanBps", p.scanBps)
                    q.field("scenario", p.scenario)
                    q.field("shortOptionContingency", p.shortOptionContingency)
                    q.field("underlying", p.underlying)
                    q.field("volShiftBps", p.volShiftBps)
                }
            }
        } else {
            w.rawKey("scenario")
            w.literal("null")
        }
        w.field("sequence", n.sequence)
        w.field("side", side)
        w.field("size", n.size)
        hex("stateHash", stateHash)
        hex("structHash", structHash)
        w.field("toInsuranceFund", n.toInsuranceFund)
        w.field("venueId", n.venueId)
        w.field("worstPrice", n.worstPrice)
    }
}

/// The answer of `GET /v1/events/proof?sequence=N` (docs/COMMITMENTS.md §4): the leaf
/// record, its RFC 6962 inclusion proof, and the signed header whose `eventsRoot` it
/// reaches. The host writes it; traders read it and trust none of it unchecked.
public struct EventProofAnswer: Codable, Sendable {
    public struct Leaf: Codable, Sendable {
        public var globalSequence: UInt64
        public var enclaveTime: UInt64
        public var messageType: UInt8
        public var bodyHash: String

        public init(_ leaf: EventLeaf) {
            globalSequence = leaf.globalSequence
            enclaveTime = leaf.enclaveTime
            messageType = leaf.messageType
            bodyHash = leaf.bodyHash.hex
        }
    }

    public var leafIndex: UInt64
    public var leaf: Leaf
    public var proof: [String]
    public var header: BatchRecord

    package init(leafIndex: UInt64, leaf: Leaf, proof: [String], header: BatchRecord) {
        (self.leafIndex, self.leaf, self.proof, self.header) = (leafIndex, leaf, proof, header)
    }
}

extension JSONEncoder {
    /// Encoder for published records: keys sorted, one line per record.
    public static var records: JSONEncoder {
        let e = JSONEncoder()
        e.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
        return e
    }
}
