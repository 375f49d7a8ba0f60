import Commitments
import StrictJSON
import Wire

/// Reads one JSON object against its schema (docs/COMMITMENTS.md §5.1): first any member
/// the schema lacks (`unknownField`, in document order), then the fields in the order
/// the caller asks for them (alphabetical, as the records are written).
struct ObjectReader {
    let path: String
    private let members: [String: JSONValue]

    init(_ value: JSONValue, path: String, fields: Set<String>) throws(RecordError) {
        guard case .object(let list) = value else { throw .wrongType(path: path, expected: "object") }
        for m in list where !fields.contains(m.name) { throw .unknownField(path: JSONPath.member(path, m.name)) }
        self.path = path
        var members: [String: JSONValue] = [:]
        for m in list { members[m.name] = m.value }  // names are unique (StrictJSON)
        self.members = members
    }

    func value(_ name: String) throws(RecordError) -> (JSONValue, String) {
        let p = JSONPath.member(path, name)
        guard let v = members[name] else { throw .missingField(path: p) }
        return (v, p)
    }

    func integer<T: FixedWidthInteger>(_ name: String, _: T.Type = T.self) throws(RecordError) -> T {
        let (v, p) = try value(name)
        return try Self.integer(v, path: p)
    }

    static func integer<T: FixedWidthInteger>(_ v: JSONValue, path: String) throws(RecordError) -> T {
        guard case .integer(let text) = v else { throw .wrongType(path: path, expected: "integer") }
        guard let n = T(text) else { throw .outOfRange(path: path) }
        return n
    }

    func bool(_ name: String) throws(RecordError) -> Bool {
        let (v, p) = try value(name)
        guard case .bool(let b) = v else { throw .wrongType(path: p, expected: "boolean") }
        return b
    }

    /// A string from `allowed`.
    func name(_ name: String, in allowed: Set<String>) throws(RecordError) -> String {
        let (v, p) = try value(name)
        guard case .string(let s) = v else { throw .wrongType(path: p, expected: "string") }
        guard allowed.contains(s) else { throw .outOfRange(path: p) }
        return s
    }

    /// `0x` and exactly `2 * byteCount` lower-case hex digits; returned as written.
    func hex(_ name: String, bytes: Int = 32) throws(RecordError) -> String {
        let (v, p) = try value(name)
        return try Self.hex(v, path: p, bytes: bytes)
    }

    static func hex(_ v: JSONValue, path: String, bytes: Int) throws(RecordError) -> String {
        guard case .string(let s) = v else { throw .wrongType(path: path, expected: "string") }
        guard isCanonicalHex(s, bytes: bytes) else { throw .badHex(path: path) }
        return s
    }

    func hexList(_ name: String) throws(RecordError) -> [String] {
        let (v, p) = try value(name)
        guard case .array(let items) = v else { throw .wrongType(path: p, expected: "array") }
        var out: [String] = []
        for (i, item) in items.enumerated() { out.append(try Self.hex(item, path: JSONPath.element(p, i), bytes: 32)) }
        return out
    }

    /// Market ids, strictly ascending.
    func ascendingU32(_ name: String) throws(RecordError) -> [UInt32] {
        let (v, p) = try value(name)
        guard case .array(let items) = v else { throw .wrongType(path: p, expected: "array") }
        var out: [UInt32] = []
        for (i, item) in items.enumerated() {
            let at = JSONPath.element(p, i)
            let n: UInt32 = try Self.integer(item, path: at)
            if let last = out.last, n <= last { throw .notAscending(path: at) }
            out.append(n)
        }
        return out
    }

    /// A decision's fills: an array of `{kind, price, quantity}` objects, each read like a record.
    func fills(_ name: String) throws(RecordError) -> [DecisionRecord.Fill] {
        let (v, p) = try value(name)
        guard case .array(let items) = v else { throw .wrongType(path: p, expected: "array") }
        var out: [DecisionRecord.Fill] = []
        for (i, item) in items.enumerated() {
            let o = try ObjectReader(item, path: JSONPath.element(p, i), fields: ["kind", "price", "quantity"])
            let kind = try o.name("kind", in: Set(DecisionFields.Fill.Kind.allCases.map(\.name)))
            out.append(DecisionRecord.Fill(kind: kind, price: try o.integer("price"), quantity: try o.integer("quantity")))
        }
        return out
    }

    /// A decision's triggering scenario: `null`, or `{linearRequirement, portfolios}` with
    /// at least one portfolio, each read like a record, `underlying` strictly ascending
    /// (docs/COMMITMENTS.md §5.1).
    func scenario(_ name: String) throws(RecordError) -> DecisionScenario? {
        let (v, p) = try value(name)
        if case .null = v { return nil }
        let o = try ObjectReader(v, path: p, fields: ["linearRequirement", "portfolios"])
        let linear: Int64 = try o.integer("linearRequirement")
        let (list, lp) = try o.value("portfolios")
        guard case .array(let items) = list else { throw .wrongType(path: lp, expected: "array") }
        guard !items.isEmpty else { throw .outOfRange(path: lp) }
        var out: [DecisionScenario.Portfolio] = []
        for (i, item) in items.enumerated() {
            let e = try ObjectReader(item, path: JSONPath.element(lp, i), fields: [
                "confidenceContingency", "loss", "mark", "moveSteps", "price", "scanBps", "scenario",
                "shortOptionContingency", "underlying", "volShiftBps",
            ])
            let confidence: Int64 = try e.integer("confidenceContingency")
            let loss: Int64 = try e.integer("loss")
            let mark: Int64 = try e.integer("mark")
            let moveSteps: Int64 = try e.integer("moveSteps")
            let price: Int64 = try e.integer("price")
            let scanBps: Int64 = try e.integer("scanBps")
            let index: UInt32 = try e.integer("scenario")
            let short: Int64 = try e.integer("shortOptionContingency")
            let underlying: UInt32 = try e.integer("underlying")
            if let last = out.last, underlying <= last.underlying {
                throw .notAscending(path: JSONPath.member(e.path, "underlying"))
            }
            let volShift: Int64 = try e.integer("volShiftBps")
            out.append(DecisionScenario.Portfolio(
                underlying: underlying, mark: mark, scanBps: scanBps, scenario: index, moveSteps: moveSteps,
                volShiftBps: volShift, price: price, loss: loss, shortOptionContingency: short,
                confidenceContingency: confidence))
        }
        return DecisionScenario(linearRequirement: linear, portfolios: out)
    }

    func object(_ name: String, fields: Set<String>) throws(RecordError) -> ObjectReader {
        let (v, p) = try value(name)
        return try ObjectReader(v, path: p, fields: fields)
    }
}

/// Whether `s` is `0x` followed by exactly `2 * bytes` lower-case hex digits.
func isCanonicalHex(_ s: String, bytes: Int) -> Bool {
    let u = s.utf8
    guard u.count == 2 + 2 * bytes, u.starts(with: [0x30, 0x78]) else { return false }
    return u.dropFirst(2).allSatisfy { ($0 >= 0x30 && $0 <= 0x39) || ($0 >= 0x61 && $0 <= 0x66) }
}

extension BatchRecord {
    static let fields: Set<String> = [
        "accountCount", "batchIndex", "decisionCount", "decisionsRoot", "digest", "enclaveTime", "eventsConsistency",
        "eventsRoot", "firstSequence", "haltedMarkets", "headerHash", "lastSequence", "marketDataRoot", "previousHeaderHash",
        "signature", "signer", "stateRoot", "venueId",
    ]

    /// Reads one line of `batches.jsonl` strictly (docs/COMMITMENTS.md §5.1).
    public init(jsonLine line: some Collection<UInt8>) throws(RecordError) {
        try self.init(json: JSONLines.object(ArraySlice(line)), path: "$")
    }

    init(json: JSONValue, path: String) throws(RecordError) {
        let o = try ObjectReader(json, path: path, fields: Self.fields)
        let accountCount: UInt64 = try o.integer("accountCount")
        let batchIndex: UInt64 = try o.integer("batchIndex")
        let decisionCount: UInt64 = try o.integer("decisionCount")
        let decisionsRoot: String = try o.hex("decisionsRoot")
        let digest: String = try o.hex("digest")
        let enclaveTime: UInt64 = try o.integer("enclaveTime")
        let c = try o.object("eventsConsistency", fields: ["fromSize", "proof"])
        let eventsConsistency: BatchRecord.Consistency = Consistency(fromSize: try c.integer("fromSize"), proof: try c.hexList("proof"))
        let eventsRoot: String = try o.hex("eventsRoot")
        let firstSequence: UInt64 = try o.integer("firstSequence")
        let haltedMarkets: [UInt32] = try o.ascendingU32("haltedMarkets")
        let headerHash: String = try o.hex("headerHash")
        let lastSequence: UInt64 = try o.integer("lastSequence")
        let marketDataRoot: String = try o.hex("marketDataRoot")
        let previousHeaderHash: String = try o.hex("previousHeaderHash")
        let g = try o.object("signature", fields: ["r", "s", "v"])
        let r = try g.hex("r"), s = try g.hex("s")
        let v: UInt8 = try g.integer("v")
        guard v == 27 || v == 28 else { throw .outOfRange(path: JSONPath.member(g.path, "v")) }
        let signature: BatchRecord.Signature = Signature(r: r, s: s, v: v)
        let signer: String = try o.hex("signer", bytes: 20)
        let stateRoot: String = try o.hex("stateRoot")
        let venueId: UInt64 = try o.integer("venueId")
        self.init(memberwise: batchIndex, venueId: venueId, previousHeaderHash: previousHeaderHash, firstSequence: firstSequence, lastSequence: lastSequence, enclaveTime: enclaveTime, eventsRoot: eventsRoot, stateRoot: stateRoot, accountCount: accountCount, decisionsRoot: decisionsRoot, decisionCount: decisionCount, marketDataRoot: marketDataRoot, haltedMarkets: haltedMarkets, headerHash: headerHash, digest: digest, signer: signer, signature: signature, eventsConsistency: eventsConsistency)
    }
}

extension DecisionRecord {
    static let fields: Set<String> = [
        "account", "autoDeleveraged", "bankruptcyPrice", "batchIndex", "enclaveTime", "equity", "filledOnBook", "fills", "isBuy",
        "leafIndex", "liquidationFee", "maintenanceRequirement", "markPrice", "market", "marksHash", "proof", "reason", "reasonCode", "scenario", "sequence", "side",
        "size", "stateHash", "structHash", "toInsuranceFund", "venueId", "worstPrice",
    ]

    /// Reads one line of `decisions.jsonl` strictly (docs/COMMITMENTS.md §5.1). The names
    /// `side` and `reason` must agree with `isBuy` and `reasonCode` (`mismatch`).
    public init(jsonLine line: some Collection<UInt8>) throws(RecordError) {
        let o = try ObjectReader(try JSONLines.object(ArraySlice(line)), path: "$", fields: Self.fields)
        let account: String = try o.hex("account")
        let autoDeleveraged: Int64 = try o.integer("autoDeleveraged")
        let bankruptcyPrice: Int64 = try o.integer("bankruptcyPrice")
        let batchIndex: UInt64 = try o.integer("batchIndex")
        let enclaveTime: UInt64 = try o.integer("enclaveTime")
        let equity: Int64 = try o.integer("equity")
        let filledOnBook: Int64 = try o.integer("filledOnBook")
        let fills = try o.fills("fills")
        let isBuy: Bool = try o.bool("isBuy")
        let leafIndex: UInt64 = try o.integer("leafIndex")
        let liquidationFee: Int64 = try o.integer("liquidationFee")
        let maintenanceRequirement: Int64 = try o.integer("maintenanceRequirement")
        let markPrice: Int64 = try o.integer("markPrice")
        let market: UInt32 = try o.integer("market")
        let marksHash: String = try o.hex("marksHash")
        let proof: [String] = try o.hexList("proof")
        let reason: String = try o.name("reason", in: Set(DecisionFields.Reason.allCases.map(\.name)))
        let reasonCode: UInt8 = try o.integer("reasonCode")
        guard let code = DecisionFields.Reason(rawValue: reasonCode) else { throw .outOfRange(path: "$.reasonCode") }
        let scenario = try o.scenario("scenario")
        let sequence: UInt64 = try o.integer("sequence")
        let side: String = try o.name("side", in: ["buy", "sell"])
        let size: Int64 = try o.integer("size")
        let stateHash: String = try o.hex("stateHash")
        let structHash: String = try o.hex("structHash")
        let toInsuranceFund: Int64 = try o.integer("toInsuranceFund")
        let venueId: UInt64 = try o.integer("venueId")
        let worstPrice: Int64 = try o.integer("worstPrice")
        guard code.name == reason else { throw .mismatch(path: "$.reason") }
        guard side == (isBuy ? "buy" : "sell") else { throw .mismatch(path: "$.side") }
        self.init(memberwise: venueId, sequence: sequence, enclaveTime: enclaveTime, account: account, market: market, side: side, isBuy: isBuy, size: size, markPrice: markPrice, bankruptcyPrice: bankruptcyPrice, worstPrice: worstPrice, equity: equity, maintenanceRequirement: maintenanceRequirement, reason: reason, reasonCode: reasonCode, filledOnBook: filledOnBook, toInsuranceFund: toInsuranceFund, autoDeleveraged: autoDeleveraged, liquidationFee: liquidationFee, fills: fills, stateHash: stateHash, marksHash: marksHash, scenario: scenario, batchIndex: batchIndex, leafIndex: leafIndex, structHash: structHash, proof: proof)
    }
}

extension EventProofAnswer {
    /// Reads the answer of `GET /v1/events/proof` strictly: `header` is a header record
    /// (§4), `leaf.messageType` one of 0x03, 0x04, 0x05, 0x0a.
    public init(json bytes: some Collection<UInt8>) throws(RecordError) {
        let value: JSONValue
        do { value = try StrictJSON.parse(bytes) } catch { throw .json(error) }
        let o = try ObjectReader(value, path: "$", fields: ["header", "leaf", "leafIndex", "proof"])
        let header = try BatchRecord(json: try o.value("header").0, path: "$.header")
        let l = try o.object("leaf", fields: ["bodyHash", "enclaveTime", "globalSequence", "messageType"])
        let bodyHash = try l.hex("bodyHash")
        let enclaveTime: UInt64 = try l.integer("enclaveTime")
        let globalSequence: UInt64 = try l.integer("globalSequence")
        let messageType: UInt8 = try l.integer("messageType")
        guard EventLeaf.messageTypes.contains(messageType) else { throw .outOfRange(path: "$.leaf.messageType") }
        let leaf = Leaf(EventLeaf(globalSequence: globalSequence, enclaveTime: enclaveTime, messageType: messageType,
                                  bodyHash: Hash32(hex: bodyHash)!))
        self.init(leafIndex: try o.integer("leafIndex"), leaf: leaf, proof: try o.hexList("proof"), header: header)
    }
}
