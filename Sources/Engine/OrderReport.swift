import Wire

/// One fill, from one account's point of view.
public struct Fill: Equatable, Sendable {
    public var market: UInt32
    public var side: Side
    /// Execution price (the maker's price), quote micro-units per base unit.
    public var price: Int64
    /// Base units of 10^-8.
    public var quantity: Int64
    /// Fee paid, quote micro-units (rounded up).
    public var fee: Int64
    public var isMaker: Bool
    /// Engine id of the maker order.
    public var makerOrderID: UInt64

    public init(market: UInt32, side: Side, price: Int64, quantity: Int64, fee: Int64, isMaker: Bool, makerOrderID: UInt64) {
        self.market = market
        self.side = side
        self.price = price
        self.quantity = quantity
        self.fee = fee
        self.isMaker = isMaker
        self.makerOrderID = makerOrderID
    }
}

/// What happened to one accepted request: the engine detail inside the sealed receipt.
/// Encoding (docs/PROTOCOL.md §2.5): version (1) = 1 ‖ fill count (2) ‖ fills, each
/// market (4) ‖ side (1) ‖ price i64 ‖ quantity i64 ‖ fee i64 ‖ maker flag (1) ‖ maker
/// order id (8) ‖ resting quantity i64 ‖ cancelled quantity i64 ‖ self-trade
/// cancellations (2) ‖ each a client order id (1 + n).
public struct OrderReport: Equatable, Sendable {
    /// Most fills plus self-trade cancellations one request may produce; matching stops
    /// there and the remainder is cancelled. Each entry encodes to at most 38 bytes, so
    /// the report (≤ 38,021 bytes) and the sealed receipt carrying it stay well inside
    /// one 64 KiB frame and the receipt's UInt16 detail length.
    public static let maxEntries = 1_000

    public var fills: [Fill] = []
    /// Quantity left resting on the book after this request.
    public var resting: Int64 = 0
    /// Quantity cancelled: an IOC or market remainder, a cancel's remaining quantity,
    /// or the part of an order stopped by margin or reduce-only limits during matching.
    public var cancelled: Int64 = 0
    /// This account's own resting orders cancelled by self-trade prevention.
    public var selfTradeCancelled: [ClientOrderID] = []

    public init() {}

    /// Empties the report, keeping its arrays' storage.
    mutating func clear() {
        if !fills.isEmpty { fills.empty() }
        if !selfTradeCancelled.isEmpty { selfTradeCancelled.empty() }
        resting = 0
        cancelled = 0
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: encodedSize)
        encode(into: &w)
        return w.takeBytes()
    }

    var encodedSize: Int {
        var size = 3 + fills.count * 38 + 18
        // Loops only over non-empty arrays: iterating retains the array's storage, and most
        // reports have no self-trade cancellations and at most one fill.
        if !selfTradeCancelled.isEmpty { for id in selfTradeCancelled { size += 1 + id.count } }
        return size
    }

    /// Appends the encoding to `w`. Sized exactly and written in place: this runs once
    /// per order, and appending field by field cost more than the matching it reports on.
    public func encode(into w: inout ByteWriter) {
        if fills.isEmpty && selfTradeCancelled.isEmpty {
            Self.encode(resting: resting, cancelled: cancelled, into: &w)
            return
        }
        if selfTradeCancelled.isEmpty {
            // Fills only (a crossing order): the fills are read through a borrowed buffer,
            // so no closure retains the arrays.
            let resting = resting
            let cancelled = cancelled
            fills.withUnsafeBufferPointer { fills in
                withUnsafeTemporaryAllocation(byteCount: 21 + fills.count * 38, alignment: 8) { raw in
                    var at = 0
                    func put<T: FixedWidthInteger>(_ v: T) {
                        raw.storeBytes(of: v.bigEndian, toByteOffset: at, as: T.self)
                        at += MemoryLayout<T>.size
                    }
                    put(UInt8(1))
                    put(UInt16(fills.count))
                    for f in fills {
                        put(f.market)
                        put(f.side.rawValue)
                        put(f.price)
                        put(f.quantity)
                        put(f.fee)
                        put(f.isMaker ? UInt8(1) : 0)
                        put(f.makerOrderID)
                    }
                    put(resting)
                    put(cancelled)
                    put(UInt16(0))
                    precondition(at == raw.count)
                    w.write(bytes: UnsafeRawBufferPointer(raw))
                }
            }
            return
        }
        let size = encodedSize
        withUnsafeTemporaryAllocation(byteCount: size, alignment: 8) { raw in
            var at = 0
            func put(_ v: UInt8) { raw[at] = v; at += 1 }
            func put(_ v: UInt16) { raw.storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt16.self); at += 2 }
            func put(_ v: UInt32) { raw.storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt32.self); at += 4 }
            func put(_ v: UInt64) { raw.storeBytes(of: v.bigEndian, toByteOffset: at, as: UInt64.self); at += 8 }
            func put(_ v: Int64) { put(UInt64(bitPattern: v)) }
            put(UInt8(1))
            put(UInt16(fills.count))
            for i in fills.indices {
                let f = fills[i]
                put(f.market)
                put(f.side.rawValue)
                put(f.price)
                put(f.quantity)
                put(f.fee)
                put(f.isMaker ? UInt8(1) : 0)
                put(f.makerOrderID)
            }
            put(resting)
            put(cancelled)
            put(UInt16(selfTradeCancelled.count))
            if !selfTradeCancelled.isEmpty {
                for id in selfTradeCancelled {
                    put(UInt8(id.count))
                    for b in id.bytes { put(b) }
                }
            }
            precondition(at == size)
            w.write(bytes: UnsafeRawBufferPointer(raw))
        }
    }

    /// The encoding of a report with no fill and no self-trade cancellation (most: a
    /// resting order, a cancel, a withdrawal): 21 bytes built in registers, with no
    /// report value and no closure holding its arrays (retaining and releasing them cost
    /// more than the bytes; issue 17).
    static func encode(resting: Int64, cancelled: Int64, into w: inout ByteWriter) {
        var b: (UInt64, UInt64, UInt64) = (0, 0, 0)
        withUnsafeMutableBytes(of: &b) { raw in
            raw.storeBytes(of: 1, toByteOffset: 0, as: UInt8.self)  // version; fill count 0 at 1..<3
            raw.storeBytes(of: UInt64(bitPattern: resting).bigEndian, toByteOffset: 3, as: UInt64.self)
            raw.storeBytes(of: UInt64(bitPattern: cancelled).bigEndian, toByteOffset: 11, as: UInt64.self)
        }  // self-trade count 0 at 19..<21
        withUnsafeBytes(of: &b) { w.write(bytes: UnsafeRawBufferPointer(rebasing: $0[0..<21])) }
    }

    public static func decode(_ bytes: [UInt8]) throws(WireError) -> OrderReport {
        do {
            return try bytes.withUnsafeBytes { raw in
                var r = ByteReader(raw)
                guard try r.readUInt8() == 1 else { throw WireError.invalidField("order report version") }
                var report = OrderReport()
                for _ in 0..<(try r.readUInt16()) {
                    let market = try r.readUInt32()
                    guard let side = Side(rawValue: try r.readUInt8()) else { throw WireError.invalidField("fill side") }
                    let price = try r.readInt64()
                    let quantity = try r.readInt64()
                    let fee = try r.readInt64()
                    let maker = try r.readUInt8()
                    // 0 or 1 only: any other byte is not a canonical report (docs/PROTOCOL.md §2.5).
                    guard maker <= 1 else { throw WireError.invalidField("fill maker flag \(maker)") }
                    report.fills.append(Fill(
                        market: market, side: side, price: price, quantity: quantity,
                        fee: fee, isMaker: maker == 1, makerOrderID: try r.readUInt64()))
                }
                report.resting = try r.readInt64()
                report.cancelled = try r.readInt64()
                for _ in 0..<(try r.readUInt16()) {
                    let n = Int(try r.readUInt8())
                    report.selfTradeCancelled.append(try ClientOrderID(bytes: try r.readBytes(n)))
                }
                try r.expectEnd("order report")
                return report
            }
        } catch let e as WireError {
            throw e
        } catch {
            throw .invalidField("order report")
        }
    }
}
