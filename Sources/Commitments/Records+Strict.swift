import StrictJSON

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
        "eventsRoot", "firstSequence", "haltedMarkets", "headerHash", "lastSequence", "previousHeaderHash", "signature",
        "signer", "stateRoot", "venueId",
    ]

    /// Reads one line of `batches.jsonl` strictly (docs/COMMITMENTS.md §5.1).
    public init(jsonLine line: some Collection<UInt8>) throws(RecordError) {
        try self.init(json: JSONLines.object(ArraySlice(line)), path: "$")
    }

    init(json: JSONValue, path: String) throws(RecordError) {
        let o = try ObjectReader(json, path: path, fields: Self.fields)
        accountCount = try o.integer("accountCount")
        batchIndex = try o.integer("batchIndex")
        decisionCount = try o.integer("decisionCount")
        decisionsRoot = try o.hex("decisionsRoot")
        digest = try o.hex("digest")
        enclaveTime = try o.integer("enclaveTime")
        let c = try o.object("eventsConsistency", fields: ["fromSize", "proof"])
        eventsConsistency = Consistency(fromSize: try c.integer("fromSize"), proof: try c.hexList("proof"))
        eventsRoot = try o.hex("eventsRoot")
        firstSequence = try o.integer("firstSequence")
        haltedMarkets = try o.ascendingU32("haltedMarkets")
        headerHash = try o.hex("headerHash")
        lastSequence = try o.integer("lastSequence")
        previousHeaderHash = try o.hex("previousHeaderHash")
        let g = try o.object("signature", fields: ["r", "s", "v"])
        let r = try g.hex("r"), s = try g.hex("s")
        let v: UInt8 = try g.integer("v")
        guard v == 27 || v == 28 else { throw .outOfRange(path: JSONPath.member(g.path, "v")) }
        signature = Signature(r: r, s: s, v: v)
        signer = try o.hex("signer", bytes: 20)
        stateRoot = try o.hex("stateRoot")
        venueId = try o.integer("venueId")
    }
}

extension DecisionRecord {
    static let fields: Set<String> = [
        "account", "autoDeleveraged", "bankruptcyPrice", "batchIndex", "enclaveTime", "equity", "filledOnBook", "isBuy",
        "leafIndex", "maintenanceRequirement", "markPrice", "market", "proof", "reason", "reasonCode", "sequence", "side",
        "size", "structHash", "toInsuranceFund", "venueId", "worstPrice",
    ]

    /// Reads one line of `decisions.jsonl` strictly (docs/COMMITMENTS.md §5.1). The names
    /// `side` and `reason` must agree with `isBuy` and `reasonCode` (`mismatch`).
    public init(jsonLine line: some Collection<UInt8>) throws(RecordError) {
        let o = try ObjectReader(try JSONLines.object(ArraySlice(line)), path: "$", fields: Self.fields)
        account = try o.hex("account")
        autoDeleveraged = try o.integer("autoDeleveraged")
        bankruptcyPrice = try o.integer("bankruptcyPrice")
        batchIndex = try o.integer("batchIndex")
        enclaveTime = try o.integer("enclaveTime")
        equity = try o.integer("equity")
        filledOnBook = try o.integer("filledOnBook")
        isBuy = try o.bool("isBuy")
        leafIndex = try o.integer("leafIndex")
        maintenanceRequirement = try o.integer("maintenanceRequirement")
        markPrice = try o.integer("markPrice")
        market = try o.integer("market")
        proof = try o.hexList("proof")
        reason = try o.name("reason", in: Set(DecisionFields.Reason.allCases.map(\.name)))
        reasonCode = try o.integer("reasonCode")
        guard let code = DecisionFields.Reason(rawValue: reasonCode) else { throw .outOfRange(path: "$.reasonCode") }
        sequence = try o.integer("sequence")
        side = try o.name("side", in: ["buy", "sell"])
        size = try o.integer("size")
        structHash = try o.hex("structHash")
        toInsuranceFund = try o.integer("toInsuranceFund")
        venueId = try o.integer("venueId")
        worstPrice = try o.integer("worstPrice")
        guard code.name == reason else { throw .mismatch(path: "$.reason") }
        guard side == (isBuy ? "buy" : "sell") else { throw .mismatch(path: "$.side") }
    }
}

extension EventProofAnswer {
    /// Reads the answer of `GET /v1/events/proof` strictly: `header` is a header record
    /// (§4), `leaf.messageType` one of 0x03, 0x04, 0x05.
    public init(json bytes: some Collection<UInt8>) throws(RecordError) {
        let value: JSONValue
        do { value = try StrictJSON.parse(bytes) } catch { throw .json(error) }
        let o = try ObjectReader(value, path: "$", fields: ["header", "leaf", "leafIndex", "proof"])
        header = try BatchRecord(json: try o.value("header").0, path: "$.header")
        let l = try o.object("leaf", fields: ["bodyHash", "enclaveTime", "globalSequence", "messageType"])
        let bodyHash = try l.hex("bodyHash")
        let enclaveTime: UInt64 = try l.integer("enclaveTime")
        let globalSequence: UInt64 = try l.integer("globalSequence")
        let messageType: UInt8 = try l.integer("messageType")
        guard EventLeaf.messageTypes.contains(messageType) else { throw .outOfRange(path: "$.leaf.messageType") }
        leaf = Leaf(EventLeaf(globalSequence: globalSequence, enclaveTime: enclaveTime, messageType: messageType,
                              bodyHash: Hash32(hex: bodyHash)!))
        leafIndex = try o.integer("leafIndex")
        proof = try o.hexList("proof")
    }
}
