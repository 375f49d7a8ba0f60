/// Private statements (docs/COMMITMENTS.md §7, docs/PROTOCOL.md §2.16): what changed one
/// account since a global sequence number, sealed to its owner's session. Plain values
/// and their byte layouts; the enclave builds them, the client reads and checks them.

/// One (market, size) pair of an account's running positions.
public struct StatementPosition: Equatable, Hashable, Sendable {
    public var market: UInt32
    /// Base units of 10⁻⁸: > 0 long, < 0 short, never 0.
    public var size: Int64

    public init(market: UInt32, size: Int64) {
        self.market = market
        self.size = size
    }
}

/// What an account looked like after a statement entry: its collateral and positions.
public struct StatementBalance: Equatable, Sendable {
    /// Quote micro-units.
    public var collateral: Int128
    /// Non-zero positions, ascending market id.
    public var positions: [StatementPosition]

    public init(collateral: Int128, positions: [StatementPosition]) {
        self.collateral = collateral
        self.positions = positions
    }

    /// An account before its first deposit.
    public static let empty = StatementBalance(collateral: 0, positions: [])

    /// Byte size of `write`: 16 + 2 + 12 per position.
    public var byteCount: Int { 18 + 12 * positions.count }

    /// `collateral i128 ‖ count u16 ‖ count × (market u32 ‖ size i64)`, big-endian.
    public func write(into w: inout ByteWriter) {
        w.write(UInt64(truncatingIfNeeded: collateral >> 64))
        w.write(UInt64(truncatingIfNeeded: collateral))
        w.write(UInt16(positions.count))
        for p in positions {
            w.write(p.market)
            w.write(p.size)
        }
    }

    public static func read(_ r: inout ByteReader) throws(WireError) -> StatementBalance {
        let hi = try r.readUInt64()
        let lo = try r.readUInt64()
        let collateral = Int128(Int64(bitPattern: hi)) << 64 | Int128(lo)
        let n = Int(try r.readUInt16())
        var positions: [StatementPosition] = []
        positions.reserveCapacity(n)
        for _ in 0..<n {
            positions.append(StatementPosition(market: try r.readUInt32(), size: try r.readInt64()))
        }
        return StatementBalance(collateral: collateral, positions: positions)
    }
}

/// One change to an account (docs/COMMITMENTS.md §7.2).
public struct StatementEntry: Equatable, Sendable {
    public enum Kind: UInt8, Sendable, CaseIterable {
        /// A custody deposit credited: `amount` > 0.
        case deposit = 1
        /// A withdrawal debited: `amount` > 0.
        case withdrawal = 2
        /// A fill of the account's incoming order: `price`, signed `quantity`, fee `amount`.
        case takerFill = 3
        /// A fill of the account's resting order: `price`, signed `quantity`, fee `amount`.
        case makerFill = 4
        /// A funding payment: `price` is the market's per-unit amount, `quantity` the
        /// position paid on, `amount` the signed collateral change (> 0 received).
        case funding = 5
        /// One trade of a liquidation step of this account (book, insurance fund or ADL
        /// counterparty): `price`, signed `quantity`, `amount` 0.
        case liquidation = 6
        /// The liquidation fee of a step that closed into the book: `amount`.
        case liquidationFee = 7
        /// This account's position reduced by auto-deleveraging against a liquidated
        /// account: `price` (the step's worst price), signed `quantity`, `amount` 0.
        case autoDeleveraged = 8
        /// An option position cash-settled at expiry (docs/OPTIONS.md §10.5): `price` the
        /// value per whole unit, `quantity` the position settled (signed, it closes),
        /// `amount` the collateral change ⌊quantity × price / 10⁸⌋ (rounded toward −∞).
        case optionSettlement = 9

        /// Whether the entry is a trade (moves a position and cash ⌊price × |quantity| / 10⁸⌋).
        public var isTrade: Bool {
            switch self {
            case .takerFill, .makerFill, .liquidation, .autoDeleveraged: true
            case .deposit, .withdrawal, .funding, .liquidationFee, .optionSettlement: false
            }
        }
    }

    /// The global sequence number of the event during which it happened.
    public var sequence: UInt64
    public var kind: Kind
    /// 0 for deposits and withdrawals.
    public var market: UInt32
    /// Quote micro-units per whole base unit (trades), the per-unit funding (funding), else 0.
    public var price: Int64
    /// Base units of 10⁻⁸, > 0 bought, < 0 sold (trades); the position funded (funding); else 0.
    public var quantity: Int64
    /// Quote micro-units; meaning per kind (above).
    public var amount: Int64
    /// The account after this entry.
    public var after: StatementBalance

    public init(sequence: UInt64, kind: Kind, market: UInt32 = 0, price: Int64 = 0, quantity: Int64 = 0, amount: Int64,
                after: StatementBalance) {
        self.sequence = sequence
        self.kind = kind
        self.market = market
        self.price = price
        self.quantity = quantity
        self.amount = amount
        self.after = after
    }

    /// Byte size of `write`: 37 + the balance's.
    public var byteCount: Int { 37 + after.byteCount }

    /// `sequence u64 ‖ kind u8 ‖ market u32 ‖ price i64 ‖ quantity i64 ‖ amount i64 ‖ balance`.
    public func write(into w: inout ByteWriter) {
        w.write(sequence)
        w.write(kind.rawValue)
        w.write(market)
        w.write(price)
        w.write(quantity)
        w.write(amount)
        after.write(into: &w)
    }

    public static func read(_ r: inout ByteReader) throws(WireError) -> StatementEntry {
        let sequence = try r.readUInt64()
        let rawKind = try r.readUInt8()
        guard let kind = Kind(rawValue: rawKind) else { throw .invalidField("statement entry kind \(rawKind)") }
        return StatementEntry(sequence: sequence, kind: kind, market: try r.readUInt32(), price: try r.readInt64(),
                              quantity: try r.readInt64(), amount: try r.readInt64(), after: try StatementBalance.read(&r))
    }
}

/// The plaintext of a `StatementRequest` (0x09): `account_id u64 ‖ since u64 ‖ offset u32`.
public struct StatementQuery: Equatable, Sendable {
    public static let length = 20
    /// Must be the session's account.
    public var accountID: UInt64
    /// Entries with a sequence number greater than this.
    public var since: UInt64
    /// Skip this many of those (paging).
    public var offset: UInt32

    public init(accountID: UInt64, since: UInt64, offset: UInt32 = 0) {
        self.accountID = accountID
        self.since = since
        self.offset = offset
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: Self.length)
        w.write(accountID)
        w.write(since)
        w.write(offset)
        return w.takeBytes()
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> StatementQuery {
        var r = ByteReader(bytes)
        let q = StatementQuery(accountID: try r.readUInt64(), since: try r.readUInt64(), offset: try r.readUInt32())
        try r.expectEnd("statement request")
        return q
    }
}

/// The state leaf of the account at the latest closed batch, with its RFC 6962
/// inclusion proof and the signed header record whose `stateRoot` it proves into.
public struct StatementLeaf: Equatable, Sendable {
    /// The account's leaf index in the state tree.
    public var leafIndex: UInt64
    /// The tree's size, the header's `accountCount`.
    public var treeSize: UInt64
    /// The leaf's salt (docs/COMMITMENTS.md §2.2), 32 bytes.
    public var salt: [UInt8]
    /// The leaf's canonical `state` bytes (docs/COMMITMENTS.md §2.2).
    public var state: [UInt8]
    /// Sibling hashes from the leaf up, 32 bytes each.
    public var proof: [[UInt8]]
    /// The header record exactly as published in `batches.jsonl`, without its newline.
    public var headerRecord: [UInt8]

    public init(leafIndex: UInt64, treeSize: UInt64, salt: [UInt8], state: [UInt8], proof: [[UInt8]], headerRecord: [UInt8]) {
        self.leafIndex = leafIndex
        self.treeSize = treeSize
        self.salt = salt
        self.state = state
        self.proof = proof
        self.headerRecord = headerRecord
    }

    public var byteCount: Int { 8 + 8 + 32 + 2 + state.count + 1 + 32 * proof.count + 2 + headerRecord.count }

    public func write(into w: inout ByteWriter) {
        w.write(leafIndex)
        w.write(treeSize)
        w.write(bytes: salt)
        w.write(UInt16(state.count))
        w.write(bytes: state)
        w.write(UInt8(proof.count))
        for p in proof { w.write(bytes: p) }
        w.write(UInt16(headerRecord.count))
        w.write(bytes: headerRecord)
    }

    public static func read(_ r: inout ByteReader) throws(WireError) -> StatementLeaf {
        let index = try r.readUInt64()
        let size = try r.readUInt64()
        let salt = try r.readBytes(32)
        let state = try r.readBytes(Int(try r.readUInt16()))
        var proof: [[UInt8]] = []
        for _ in 0..<Int(try r.readUInt8()) { proof.append(try r.readBytes(32)) }
        let header = try r.readBytes(Int(try r.readUInt16()))
        return StatementLeaf(leafIndex: index, treeSize: size, salt: salt, state: state, proof: proof, headerRecord: header)
    }
}

/// The plaintext of a `StatementReply` (0x8c), docs/PROTOCOL.md §2.16.
public struct StatementPage: Equatable, Sendable {
    /// Why a statement request was answered without a statement (sealed, stable codes).
    public enum Status: UInt8, Sendable, CaseIterable {
        case ok = 0
        /// `since` is older than the retained window: `oldest` is the smallest accepted.
        case tooOld = 1
        /// The request names another account than the session's.
        case notOwner = 2
        /// The account keeps no statement (the insurance fund, account 0).
        case noStatement = 3
        /// The request's plaintext did not decode.
        case malformed = 4
        /// `offset` is past the last entry.
        case badOffset = 5
    }

    public var status: Status
    /// The session's account.
    public var accountID: UInt64
    /// The request's `since`.
    public var since: UInt64
    /// The smallest `since` the enclave accepts for this account now.
    public var oldest: UInt64
    /// The last global sequence number assigned when the page was made.
    public var head: UInt64
    /// Entries with sequence > `since` in all (status ok).
    public var total: UInt32
    /// The request's `offset`: entries skipped before the first on this page.
    public var offset: UInt32
    /// The sequence number the opening balance is as of: the last entry's ≤ `since`,
    /// or the window's start.
    public var openingSequence: UInt64
    /// The account after every entry with sequence ≤ `since`.
    public var opening: StatementBalance
    public var entries: [StatementEntry]
    /// Absent until a batch that holds the account has closed.
    public var leaf: StatementLeaf?
    /// On the first page (offset 0) only: the openings of the account's liquidation steps
    /// after `since` that the enclave keeps, oldest first, as many as fit (§7.2).
    public var openings: [StatementOpening] = []

    public init(status: Status, accountID: UInt64, since: UInt64, oldest: UInt64, head: UInt64, total: UInt32 = 0,
                offset: UInt32 = 0, openingSequence: UInt64 = 0, opening: StatementBalance = .empty,
                entries: [StatementEntry] = [], leaf: StatementLeaf? = nil, openings: [StatementOpening] = []) {
        self.openings = openings
        self.status = status
        self.accountID = accountID
        self.since = since
        self.oldest = oldest
        self.head = head
        self.total = total
        self.offset = offset
        self.openingSequence = openingSequence
        self.opening = opening
        self.entries = entries
        self.leaf = leaf
    }

    public func encode() -> [UInt8] {
        var w = ByteWriter(capacity: 256)
        w.write(status.rawValue)
        w.write(accountID)
        w.write(since)
        w.write(oldest)
        w.write(head)
        guard status == .ok else { return w.bytes }
        w.write(total)
        w.write(offset)
        w.write(openingSequence)
        opening.write(into: &w)
        w.write(UInt16(entries.count))
        for e in entries { e.write(into: &w) }
        if let leaf {
            w.write(UInt8(1))
            leaf.write(into: &w)
        } else {
            w.write(UInt8(0))
        }
        w.write(UInt16(openings.count))
        for o in openings { o.write(into: &w) }
        return w.takeBytes()
    }

    public static func decode(_ bytes: UnsafeRawBufferPointer) throws(WireError) -> StatementPage {
        var r = ByteReader(bytes)
        let rawStatus = try r.readUInt8()
        guard let status = Status(rawValue: rawStatus) else { throw .invalidField("statement status \(rawStatus)") }
        var page = StatementPage(status: status, accountID: try r.readUInt64(), since: try r.readUInt64(),
                                 oldest: try r.readUInt64(), head: try r.readUInt64())
        if status == .ok {
            page.total = try r.readUInt32()
            page.offset = try r.readUInt32()
            page.openingSequence = try r.readUInt64()
            page.opening = try StatementBalance.read(&r)
            let n = Int(try r.readUInt16())
            page.entries.reserveCapacity(n)
            for _ in 0..<n { page.entries.append(try StatementEntry.read(&r)) }
            switch try r.readUInt8() {
            case 0: page.leaf = nil
            case 1: page.leaf = try StatementLeaf.read(&r)
            case let flag: throw .invalidField("statement leaf flag \(flag)")
            }
            for _ in 0..<Int(try r.readUInt16()) { page.openings.append(try StatementOpening.read(&r)) }
        }
        try r.expectEnd("statement reply")
        return page
    }
}
