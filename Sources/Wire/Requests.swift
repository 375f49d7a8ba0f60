// Plaintexts that travel sealed inside 0x03 (client → enclave) and 0x83 (enclave → client).
// The host never sees these bytes in the clear.

/// Order side.
public enum Side: UInt8, Sendable, CaseIterable { case buy = 0, sell = 1 }

/// Order type. A market order's `price` is its worst acceptable price (slippage bound).
public enum OrderType: UInt8, Sendable, CaseIterable { case limit = 0, market = 1 }

/// Time in force.
public enum TimeInForce: UInt8, Sendable, CaseIterable {
    case goodTillCancel = 0
    case immediateOrCancel = 1
    case postOnly = 2
}

/// A client's order identifier: 1 to 36 bytes chosen by the client (FIX ClOrdID style),
/// echoed in the sealed receipt and never visible to the host.
///
/// Stored inline (five words, zero-padded) rather than as an array: the engine keeps one
/// in every resting order and looks them up on every order and cancel, so copying one
/// must not touch a reference count and comparing two is five word compares.
public struct ClientOrderID: Hashable, Sendable, CustomStringConvertible {
    public static let maxLength = 36

    @usableFromInline var words: (UInt64, UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0, 0)
    @usableFromInline let length: UInt8

    public init(_ string: String) throws(WireError) {
        try self.init(bytes: Array(string.utf8))
    }

    /// Inlinable, so callers in other modules get it specialized: unspecialized, this
    /// generic loop looked up type metadata per byte, and restoring a snapshot of a
    /// million remembered ids spent half its time here.
    @inlinable
    public init(bytes: some Collection<UInt8>) throws(WireError) {
        let n = bytes.count
        guard (1...Self.maxLength).contains(n) else {
            throw .invalidField("client order id length \(n), allowed 1...\(Self.maxLength)")
        }
        length = UInt8(n)
        withUnsafeMutableBytes(of: &words) { raw in
            let copied: Void? = bytes.withContiguousStorageIfAvailable { raw.copyMemory(from: UnsafeRawBufferPointer($0)) }
            if copied == nil {
                var i = 0
                for b in bytes {
                    raw[i] = b
                    i += 1
                }
            }
        }
    }

    /// The identifier's bytes as the client chose them.
    public var bytes: [UInt8] {
        withUnsafeBytes(of: words) { Array($0.prefix(Int(length))) }
    }

    @inlinable public var count: Int { Int(length) }

    /// The identifier's bytes as five little-endian words, zero past `count` bytes: for
    /// keyed hashes that read the id in place (the engine's open-order index).
    @inlinable public var paddedWords: (UInt64, UInt64, UInt64, UInt64, UInt64) { words }

    public var description: String { String(decoding: bytes, as: UTF8.self) }

    public static func == (a: ClientOrderID, b: ClientOrderID) -> Bool {
        a.length == b.length && a.words.0 == b.words.0 && a.words.1 == b.words.1 && a.words.2 == b.words.2
            && a.words.3 == b.words.3 && a.words.4 == b.words.4
    }

    /// Hashes only the words the identifier occupies (the padding is always zero).
    public func hash(into hasher: inout Hasher) {
        hasher.combine(words.0 ^ UInt64(length) << 56)
        guard length > 8 else { return }
        hasher.combine(words.1)
        guard length > 16 else { return }
        hasher.combine(words.2)
        guard length > 24 else { return }
        hasher.combine(words.3)
        guard length > 32 else { return }
        hasher.combine(words.4)
    }

    func write(to w: inout ByteWriter) {
        w.write(length)
        withUnsafeBytes(of: words) { w.write(bytes: $0.prefix(Int(length))) }
    }

    static func read(from r: inout ByteReader) throws(WireError) -> ClientOrderID {
        let n = Int(try r.readUInt8())
        return try ClientOrderID(bytes: try r.readBytes(n))
    }
}

/// A new order.
public struct NewOrder: Equatable, Sendable {
    public var clientOrderID: ClientOrderID
    public var market: UInt32
    public var side: Side
    public var type: OrderType
    public var timeInForce: TimeInForce
    public var reduceOnly: Bool
    /// Limit price (or worst acceptable price for market orders), quote micro-units
    /// (10^-6) per whole base unit.
    public var price: Int64
    /// Quantity in base units of 10^-8.
    public var quantity: Int64

    public init(
        clientOrderID: ClientOrderID, market: UInt32, side: Side, type: OrderType = .limit,
        timeInForce: TimeInForce = .goodTillCancel, reduceOnly: Bool = false, price: Int64, quantity: Int64
    ) {
        self.clientOrderID = clientOrderID
        self.market = market
        self.side = side
        self.type = type
        self.timeInForce = timeInForce
        self.reduceOnly = reduceOnly
        self.price = price
        self.quantity = quantity
    }
}

/// What a sealed request asks for. Encoding: kind (1) then the kind's fields.
public enum OrderRequest: Equatable, Sendable {
    case newOrder(NewOrder)
    case cancel(ClientOrderID)
    /// Withdraw `amount` quote micro-units of collateral; `id` is echoed in the receipt.
    case withdraw(id: ClientOrderID, amount: Int64)

    public enum Kind: UInt8, Sendable { case newOrder = 1, cancel = 2, withdraw = 3 }

    public var clientOrderID: ClientOrderID {
        switch self {
        case .newOrder(let o): o.clientOrderID
        case .cancel(let id): id
        case .withdraw(let id, _): id
        }
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 72)
        switch self {
        case .newOrder(let o):
            w.write(Kind.newOrder.rawValue)
            o.clientOrderID.write(to: &w)
            w.write(o.market)
            w.write(o.side.rawValue)
            w.write(o.type.rawValue)
            w.write(o.timeInForce.rawValue)
            w.write(o.reduceOnly ? UInt8(1) : 0)
            w.write(o.price)
            w.write(o.quantity)
        case .cancel(let id):
            w.write(Kind.cancel.rawValue)
            id.write(to: &w)
        case .withdraw(let id, let amount):
            w.write(Kind.withdraw.rawValue)
            id.write(to: &w)
            w.write(amount)
        }
        return w.takeBytes()
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> OrderRequest {
        var r = ByteReader(bytes)
        let rawKind = try r.readUInt8()
        guard let kind = Kind(rawValue: rawKind) else { throw .invalidField("request kind \(rawKind)") }
        switch kind {
        case .newOrder:
            let id = try ClientOrderID.read(from: &r)
            let market = try r.readUInt32()
            let sideRaw = try r.readUInt8()
            guard let side = Side(rawValue: sideRaw) else { throw .invalidField("side \(sideRaw)") }
            let typeRaw = try r.readUInt8()
            guard let type = OrderType(rawValue: typeRaw) else { throw .invalidField("order type \(typeRaw)") }
            let tifRaw = try r.readUInt8()
            guard let tif = TimeInForce(rawValue: tifRaw) else { throw .invalidField("time in force \(tifRaw)") }
            let flags = try r.readUInt8()
            guard flags & ~1 == 0 else { throw .invalidField("flags \(flags)") }
            let price = try r.readInt64()
            let qty = try r.readInt64()
            try r.expectEnd("new order")
            return .newOrder(NewOrder(
                clientOrderID: id, market: market, side: side, type: type, timeInForce: tif,
                reduceOnly: flags & 1 == 1, price: price, quantity: qty))
        case .cancel:
            let id = try ClientOrderID.read(from: &r)
            try r.expectEnd("cancel")
            return .cancel(id)
        case .withdraw:
            let id = try ClientOrderID.read(from: &r)
            let amount = try r.readInt64()
            try r.expectEnd("withdraw")
            return .withdraw(id: id, amount: amount)
        }
    }
}

/// Why the engine rejected a sequenced request, or why the enclave could not sequence
/// it. Sent only inside sealed receipts. Stable numbers.
public enum RejectReason: UInt16, Error, Sendable, CaseIterable {
    /// The plaintext did not decode; the request was not sequenced.
    case malformedRequest = 1
    case unknownMarket = 2
    /// Quantity must be positive.
    case invalidQuantity = 3
    /// Price must be positive.
    case invalidPrice = 4
    case unknownOrder = 5
    case duplicateClientOrderID = 6
    /// No deposit created this account.
    case unknownAccount = 7
    /// Price is not a multiple of the market's tick size.
    case priceNotOnTick = 8
    /// Quantity is not a multiple of the market's step size.
    case quantityNotOnStep = 9
    /// The order (filled in full) or withdrawal would leave equity below initial margin.
    case insufficientMargin = 10
    /// A market the request depends on has no valid mark price (stale, uncertain, …).
    case priceUnavailable = 11
    /// A post-only order would have taken liquidity.
    case postOnlyWouldCross = 12
    /// A reduce-only order would open or increase a position.
    case reduceOnlyWouldIncrease = 13
    /// Order notional above the per-order limit.
    case orderTooLarge = 14
    /// Withdrawal amount must be positive.
    case invalidAmount = 15
    /// Limit (or worst) price outside the venue's band around the mark.
    case priceOutsideBand = 16
    /// The account already has the most resting orders allowed.
    case tooManyOpenOrders = 17
    /// Filled in full, the order would leave the account's portfolio on an underlying
    /// beyond a configured delta or gamma limit while increasing |delta| or |gamma| of it
    /// (docs/OPTIONS.md §10.11).
    case greekLimitExceeded = 18

    public var label: String { String(describing: self) }
}

/// The sealed answer to one request: exactly one per accepted sequence number.
/// Encoding: status (1) ‖ global seq (8) ‖ enclave time (8) ‖ reason (2) ‖
/// client order id (1 + n) ‖ detail length (2) ‖ detail.
public struct Receipt: Equatable, Sendable {
    public enum Status: UInt8, Sendable {
        /// Sequenced and accepted by the engine.
        case accepted = 0
        /// Sequenced, then rejected by the engine (`reason` says why).
        case rejected = 1
        /// Not sequenced (`reason` says why); `globalSequence` is 0.
        case notSequenced = 2
        /// Not executed again: the same (account, kind, client order id) was sequenced
        /// within the dedupe window (docs/DURABILITY.md §7); `globalSequence` and
        /// `enclaveTime` are the original's, `detail` is empty.
        case duplicate = 3
    }

    public var status: Status
    public var globalSequence: UInt64
    /// Unix nanoseconds, the enclave's stamp.
    public var enclaveTime: UInt64
    public var reason: RejectReason?
    /// Echo of the request's client order id; absent only when the request did not decode.
    public var clientOrderID: ClientOrderID?
    /// Engine-specific outcome bytes: an `OrderReport` (fills, resting, cancelled).
    public var detail: [UInt8]

    public init(
        status: Status, globalSequence: UInt64, enclaveTime: UInt64, reason: RejectReason?,
        clientOrderID: ClientOrderID?, detail: [UInt8] = []
    ) {
        self.status = status
        self.globalSequence = globalSequence
        self.enclaveTime = enclaveTime
        self.reason = reason
        self.clientOrderID = clientOrderID
        self.detail = detail
    }

    /// Writes the encoding into `w` (used by the enclave with a reused writer).
    public func encode(into w: inout ByteWriter) {
        detail.withUnsafeBytes { write(into: &w, detail: $0) }
    }

    /// Writes the encoding with `detail` in place of `self.detail` (which must be empty):
    /// the enclave passes the engine's reused detail buffer rather than copying it in.
    public func encode(into w: inout ByteWriter, detail: [UInt8]) {
        detail.withUnsafeBytes { encode(into: &w, detail: $0) }
    }

    /// As `encode(into:detail:)`, with the detail lent (`ByteWriter.withUnsafeBytes`).
    public func encode(into w: inout ByteWriter, detail: UnsafeRawBufferPointer) {
        precondition(self.detail.isEmpty, "the detail is given once: in the receipt or here")
        write(into: &w, detail: detail)
    }

    private func write(into w: inout ByteWriter, detail: UnsafeRawBufferPointer) {
        w.write(status.rawValue)
        w.write(globalSequence)
        w.write(enclaveTime)
        w.write(reason?.rawValue ?? 0)
        if let id = clientOrderID { id.write(to: &w) } else { w.write(UInt8(0)) }
        w.write(UInt16(detail.count))
        w.write(bytes: detail)
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 64 + detail.count)
        encode(into: &w)
        return w.takeBytes()
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> Receipt {
        var r = ByteReader(bytes)
        let sRaw = try r.readUInt8()
        guard let status = Status(rawValue: sRaw) else { throw .invalidField("receipt status \(sRaw)") }
        let g = try r.readUInt64()
        let t = try r.readUInt64()
        let reasonRaw = try r.readUInt16()
        var reason: RejectReason?
        if reasonRaw != 0 {
            guard let rr = RejectReason(rawValue: reasonRaw) else { throw .invalidField("reject reason \(reasonRaw)") }
            reason = rr
        }
        let idLen = Int(try r.readUInt8())
        let id: ClientOrderID? = idLen == 0 ? nil : try ClientOrderID(bytes: try r.readBytes(idLen))
        let dLen = Int(try r.readUInt16())
        let detail = try r.readBytes(dLen)
        try r.expectEnd("receipt")
        return Receipt(status: status, globalSequence: g, enclaveTime: t, reason: reason, clientOrderID: id, detail: detail)
    }
}

/// An unsolicited, sealed event for one account's sessions (0x88): today, a fill of one
/// of its resting orders. Encoding: kind (1) = 1 ‖ client order id (1 + n) ‖ market (4) ‖
/// side (1) ‖ price i64 ‖ quantity i64 ‖ fee i64 ‖ maker order id (8) ‖ global sequence
/// of the event that caused it (8) ‖ enclave time (8).
public struct FillEvent: Equatable, Sendable {
    public var clientOrderID: ClientOrderID
    public var market: UInt32
    public var side: Side
    public var price: Int64
    public var quantity: Int64
    public var fee: Int64
    public var makerOrderID: UInt64
    public var globalSequence: UInt64
    public var enclaveTime: UInt64

    public init(clientOrderID: ClientOrderID, market: UInt32, side: Side, price: Int64, quantity: Int64, fee: Int64,
                makerOrderID: UInt64, globalSequence: UInt64, enclaveTime: UInt64) {
        self.clientOrderID = clientOrderID
        self.market = market
        self.side = side
        self.price = price
        self.quantity = quantity
        self.fee = fee
        self.makerOrderID = makerOrderID
        self.globalSequence = globalSequence
        self.enclaveTime = enclaveTime
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 96)
        encode(into: &w)
        return w.takeBytes()
    }

    /// Writes the encoding into `w` (the enclave reuses one writer).
    public func encode(into w: inout ByteWriter) {
        w.write(UInt8(1))
        clientOrderID.write(to: &w)
        w.write(market)
        w.write(side.rawValue)
        w.write(price)
        w.write(quantity)
        w.write(fee)
        w.write(makerOrderID)
        w.write(globalSequence)
        w.write(enclaveTime)
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> FillEvent {
        var r = ByteReader(bytes)
        guard try r.readUInt8() == 1 else { throw .invalidField("event kind") }
        let id = try ClientOrderID.read(from: &r)
        let market = try r.readUInt32()
        guard let side = Side(rawValue: try r.readUInt8()) else { throw .invalidField("side") }
        let e = FillEvent(clientOrderID: id, market: market, side: side, price: try r.readInt64(), quantity: try r.readInt64(),
                          fee: try r.readInt64(), makerOrderID: try r.readUInt64(), globalSequence: try r.readUInt64(),
                          enclaveTime: try r.readUInt64())
        try r.expectEnd("fill event")
        return e
    }
}
