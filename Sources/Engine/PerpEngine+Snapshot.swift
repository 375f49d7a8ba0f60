import Wire

/// The engine's exact snapshot (docs/DURABILITY.md §6.2): every field that influences a
/// future output, written in a fixed order with no Dictionary or Set order in it, so
/// that restoring and writing again gives the same bytes. Indexes keyed by this
/// process's seeded hash (the open-order index) and the id → slot map are not written:
/// they are rebuilt from the orders and accounts on restore.
extension PerpEngine {
    /// `SSEN`: Sealstream engine snapshot.
    public static let snapshotMagic: [UInt8] = [0x53, 0x53, 0x45, 0x4e]
    /// The format this build writes and reads.
    public static let snapshotVersion: UInt16 = 4

    /// Appends the snapshot to `w`. Takes O(state) time and allocates nothing but `w`'s
    /// growth; the engine is not changed.
    public func writeSnapshot(into w: inout ByteWriter) {
        w.write(bytes: Self.snapshotMagic)
        w.write(Self.snapshotVersion)
        writeBinding(into: &w)
        w.write(nextFundingDue)
        w.writeSnapshot(feePool)
        w.writeSnapshot(netDeposits)
        writeAccounts(into: &w)
        let cooldown = awaitingCooldown.sorted()
        w.writeCount(cooldown.count)
        for id in cooldown { w.write(id) }
        writePendingOutputs(into: &w)
        for m in markets { m.writeSnapshot(into: &w) }
        // Only a venue with option markets writes their state (docs/OPTIONS.md §10.7), so
        // a perpetuals-only snapshot keeps its bytes.
        options?.writeSnapshot(into: &w)
        writeMarginCallMemory(into: &w)
    }

    /// The snapshot as a fresh array.
    public func snapshot() -> [UInt8] {
        var w = ByteWriter(capacity: 1 << 16)
        writeSnapshot(into: &w)
        return w.takeBytes()
    }

    /// Restores an engine from `bytes`, which must hold one snapshot and nothing else.
    public init(
        snapshot bytes: [UInt8], config: VenueConfig,
        accountCommitment: @escaping @Sendable (UInt64) -> [UInt8] = { id in withUnsafeBytes(of: id.bigEndian) { Array($0) } }
    ) throws {
        self = try bytes.withUnsafeBytes { raw in
            var r = SnapshotReader(ByteReader(raw))
            let engine = try PerpEngine(snapshot: &r, config: config, accountCommitment: accountCommitment)
            try r.expectEnd()
            return engine
        }
    }

    /// Restores an engine from the snapshot at `r`'s position, leaving `r` after it.
    /// Throws `ConfigError` for an invalid `config`, `EngineSnapshotError` otherwise.
    public init(
        snapshot r: inout SnapshotReader, config: VenueConfig,
        accountCommitment: @escaping @Sendable (UInt64) -> [UInt8] = { id in withUnsafeBytes(of: id.bigEndian) { Array($0) } }
    ) throws {
        try self.init(config: config, accountCommitment: accountCommitment)
        guard try r.bytes(4) == Self.snapshotMagic else { throw EngineSnapshotError.badMagic }
        let version = try r.u16()
        guard version == Self.snapshotVersion else { throw EngineSnapshotError.unsupportedVersion(version) }
        try checkBinding(&r)
        nextFundingDue = try r.u64()
        feePool = try r.i128()
        netDeposits = try r.i128()
        try readAccounts(&r)
        awaitingCooldown = []
        var previous: UInt64?
        for _ in 0..<(try r.count(minBytes: 8, "awaitingCooldown")) {
            let id = try r.u64()
            guard previous.map({ $0 < id }) ?? true, accounts.slot(of: id) != nil else {
                throw EngineSnapshotError.malformed("awaitingCooldown")
            }
            awaitingCooldown.insert(id)
            previous = id
        }
        try readPendingOutputs(&r)
        for mi in markets.indices { try markets[mi].restore(&r, accountCount: accounts.count) }
        if options != nil { try options!.restore(&r) }
        greekBook?.rebuild = true
        try restoreMarginCallMemory(&r)
        try rebuildOpenOrders()
        rebuildOptionWaiters()
    }

    // MARK: - Binding

    /// Venue id, then every market's id and publisher count in market order: a snapshot
    /// is refused by an engine configured otherwise.
    private func writeBinding(into w: inout ByteWriter) {
        w.write(config.venueID)
        w.writeCount(markets.count)
        for m in markets {
            w.write(m.config.id)
            w.writeCount(m.oracle.quotes.count)
        }
    }

    private func checkBinding(_ r: inout SnapshotReader) throws(EngineSnapshotError) {
        let venue = try r.u64()
        guard venue == config.venueID else { throw .configMismatch("venue id \(venue), configured \(config.venueID)") }
        let count = Int(try r.u32())
        guard count == markets.count else { throw .configMismatch("\(count) markets, configured \(markets.count)") }
        for m in markets {
            let id = try r.u32()
            let publishers = Int(try r.u32())
            guard id == m.config.id, publishers == m.oracle.quotes.count else {
                throw .configMismatch("market \(id) with \(publishers) publishers, configured \(m.config.id)")
            }
        }
    }

    // MARK: - Accounts

    private func writeAccounts(into w: inout ByteWriter) {
        w.writeCount(accounts.arena.count)
        for (s, a) in accounts.arena.enumerated() {
            w.write(a.id)
            w.writeSnapshot(a.collateral)
            w.writeSnapshot(a.openOrderCount)
            w.writeCount(a.positions.count)
            for p in a.positions {
                w.write(p.market)
                w.write(p.size)
                w.writeSnapshot(p.costBasis)
                w.writeSnapshot(p.fundingIndex)
            }
            let stamps = a.lastLiquidation.sorted { $0.key < $1.key }
            w.writeCount(stamps.count)
            for (market, time) in stamps {
                w.write(market)
                w.write(time)
            }
            w.write(indexVersion[s])
            let k = indexedKeys[s]
            w.writeSnapshot(k.market)
            w.writeSnapshot(k.long)
            w.writeSnapshot(k.key)
        }
        w.writeCount(accounts.changed.count)
        for s in accounts.changed { w.writeSnapshot(s) }
    }

    private mutating func readAccounts(_ r: inout SnapshotReader) throws(EngineSnapshotError) {
        let count = try r.count(minBytes: 57, "accounts")
        guard count >= 1 else { throw .malformed("accounts: no insurance fund") }
        var store = AccountStore()
        store.arena.reserveCapacity(count)
        indexVersion = []
        indexVersion.reserveCapacity(count)
        indexedKeys = []
        indexedKeys.reserveCapacity(count)
        for s in 0..<count {
            let id = try r.u64()
            guard (s == 0) == (id == Self.insuranceAccount), store.slots.find(id) == nil else {
                throw .malformed("account id \(id) at slot \(s)")
            }
            var a = Account(id: id, collateral: try r.i128())
            a.openOrderCount = try r.i32()
            var previousMarket: UInt32?
            for _ in 0..<(try r.count(minBytes: 44, "positions")) {
                let p = Position(market: try r.u32(), size: try r.i64(), costBasis: try r.i128(), fundingIndex: try r.i128())
                guard slot(of: p.market) != nil, p.size != 0, previousMarket.map({ $0 < p.market }) ?? true else {
                    throw .malformed("position of account \(id) in market \(p.market)")
                }
                previousMarket = p.market
                a.positions.append(p)
            }
            for _ in 0..<(try r.count(minBytes: 12, "lastLiquidation")) {
                let market = try r.u32()
                guard a.lastLiquidation.updateValue(try r.u64(), forKey: market) == nil else {
                    throw .malformed("cooldown stamps of account \(id)")
                }
            }
            store.slots.insert(id, slot: AccountSlot(s))
            store.arena.append(a)
            indexVersion.append(try r.u32())
            let market = try r.i32()
            guard market >= -1, Int(market) < markets.count else { throw .malformed("indexed key market \(market)") }
            indexedKeys.append(IndexedKey(market: market, long: try r.bool("indexed key side"), key: try r.i128()))
        }
        // The commitments are derived from the ids, not stored: computed again here, once
        // per account (the fund's, in slot 0, by `init(config:)`).
        commitments.removeLast(commitments.count - commitmentWidth)
        commitments.reserveCapacity(count * commitmentWidth)
        for a in store.arena.dropFirst() { appendCommitment(a.id) }
        for _ in 0..<(try r.count(minBytes: 4, "changed accounts")) {
            store.noteChanged(try r.index(below: count, "changed account slot"))
        }
        accounts = store
    }

    // MARK: - Outputs not yet taken

    private func writePendingOutputs(into w: inout ByteWriter) {
        w.writeCount(decisions.count)
        for d in decisions {
            w.write(d.sequence)
            w.write(d.enclaveTime)
            w.writeCount(d.accountCommitment.count)
            w.write(bytes: d.accountCommitment)
            w.write(d.market)
            w.write(d.side.rawValue)
            for v in [d.size, d.markPrice, d.bankruptcyPrice, d.worstPrice, d.equity, d.maintenanceRequirement] { w.write(v) }
            w.write(d.reason.rawValue)
            for v in [d.filledOnBook, d.toInsuranceFund, d.autoDeleveraged] { w.write(v) }
            // Version 2: the fee and the fills.
            w.write(d.liquidationFee)
            w.writeCount(d.fills.count)
            for f in d.fills {
                w.write(f.kind.rawValue)
                w.write(f.price)
                w.write(f.quantity)
            }
            // Version 3: what a fraud proof opens (docs/COMMITMENTS.md §3).
            w.write(d.accountID)
            w.write(d.step)
            w.writeCount(d.preState.count)
            w.write(bytes: d.preState)
            w.writeCount(d.marks.count)
            for m in d.marks {
                w.write(m.market)
                w.write(m.mark)
                w.write(m.maintenanceBps)
            }
            // Version 4: the triggering scenario (docs/COMMITMENTS.md §3).
            w.writeSnapshot(d.scenario)
        }
        w.writeCount(fundingPayments.count)
        for f in fundingPayments {
            w.write(f.market)
            w.write(f.enclaveTime)
            w.write(f.markPrice)
            w.write(f.rateBps)
            w.write(f.perUnit)
            w.write(f.sequence)  // version 2
            w.write(f.dueTime)
        }
        w.writeCount(makerFills.count)
        for m in makerFills {
            w.write(m.account)
            m.clientOrderID.writeSnapshot(into: &w)
            w.write(m.fill.market)
            w.write(m.fill.side.rawValue)
            w.write(m.fill.price)
            w.write(m.fill.quantity)
            w.write(m.fill.fee)
            w.writeSnapshot(m.fill.isMaker)
            w.write(m.fill.makerOrderID)
        }
    }

    static func readFills(_ r: inout SnapshotReader) throws(EngineSnapshotError) -> [ExecutionFill] {
        var fills: [ExecutionFill] = []
        for _ in 0..<(try r.count(minBytes: 17, "decision fills")) {
            guard let kind = ExecutionFill.Kind(rawValue: try r.u8()) else { throw .malformed("fill kind") }
            fills.append(ExecutionFill(kind: kind, price: try r.i64(), quantity: try r.i64()))
        }
        return fills
    }

    private mutating func readPendingOutputs(_ r: inout SnapshotReader) throws(EngineSnapshotError) {
        decisions = []
        for _ in 0..<(try r.count(minBytes: 111, "decisions")) {
            let sequence = try r.u64()
            let time = try r.u64()
            let commitment = try r.bytes(try r.count(minBytes: 1, "decision account"))
            let market = try r.u32()
            let side = try Side.snapshot(&r)
            var v: [Int64] = []
            for _ in 0..<6 { v.append(try r.i64()) }
            guard let reason = LiquidationDecision.Reason(rawValue: try r.u8()) else { throw .malformed("decision reason") }
            decisions.append(LiquidationDecision(
                sequence: sequence, enclaveTime: time, accountCommitment: commitment, market: market, side: side,
                size: v[0], markPrice: v[1], bankruptcyPrice: v[2], worstPrice: v[3], equity: v[4],
                maintenanceRequirement: v[5], reason: reason,
                filledOnBook: try r.i64(), toInsuranceFund: try r.i64(), autoDeleveraged: try r.i64(),
                liquidationFee: try r.i64(), fills: try Self.readFills(&r)))
            // The variable-length fields in canonical form only (docs/DURABILITY.md §6.2
            // item 5): the commitment is the one this engine derives for the account, the
            // pre-step state that account's §2.2 state, one mark per position in its order,
            // each with the maintenance fraction the configuration gives its market (§6.5).
            let account = try r.u64()
            guard let s = accounts.slot(of: account), commitment == self.commitment(slot: s) else {
                throw .malformed("decision account commitment")
            }
            decisions[decisions.count - 1].accountID = account
            decisions[decisions.count - 1].step = try r.u32()
            let preState = try r.bytes(try r.count(minBytes: 1, "decision state"))
            guard let held = Account.commitmentStateMarkets(preState, of: account) else {
                throw .malformed("decision state")
            }
            decisions[decisions.count - 1].preState = preState
            var marks: [DecisionMark] = []
            for _ in 0..<(try r.count(minBytes: 16, "decision marks")) {
                marks.append(DecisionMark(market: try r.u32(), mark: try r.i64(), maintenanceBps: try r.u32()))
            }
            guard marks.map(\.market) == held, marks.allSatisfy({ markMaintenanceBps(market: $0.market) == $0.maintenanceBps })
            else { throw .malformed("decision marks") }
            decisions[decisions.count - 1].marks = marks
            decisions[decisions.count - 1].scenario = try r.scenario()
        }
        fundingPayments = []
        for _ in 0..<(try r.count(minBytes: 52, "funding payments")) {
            let (market, time, mark, rate, perUnit) = (try r.u32(), try r.u64(), try r.i64(), try r.i64(), try r.i64())
            fundingPayments.append(FundingPayment(
                market: market, sequence: try r.u64(), enclaveTime: time, markPrice: mark, rateBps: rate, perUnit: perUnit,
                dueTime: try r.u64()))
        }
        makerFills = []
        for _ in 0..<(try r.count(minBytes: 48, "maker fills")) {
            let account = try r.u64()
            let clientOrderID = try ClientOrderID.snapshot(&r)
            let fill = Fill(market: try r.u32(), side: try Side.snapshot(&r), price: try r.i64(), quantity: try r.i64(),
                            fee: try r.i64(), isMaker: try r.bool("maker fill"), makerOrderID: try r.u64())
            makerFills.append(MakerFill(account: account, clientOrderID: clientOrderID, fill: fill))
        }
    }

    // MARK: - The open-order index

    /// Indexes every live resting order under this process's hash, in market order then
    /// arena order; a second live order with one (account, client order id) is refused.
    private mutating func rebuildOpenOrders() throws(EngineSnapshotError) {
        openOrders = OpenOrderIndex()
        var perAccount = [Int32](repeating: 0, count: accounts.count)
        for mi in markets.indices {
            let marketID = markets[mi].config.id
            for i in markets[mi].book.orders.indices where markets[mi].book.orders[i].live {
                let o = markets[mi].book.orders[i]
                guard accounts.id(o.accountSlot) == o.account else { throw .malformed("order \(o.id) account") }
                let hash = openOrders.hash(account: o.accountSlot, id: o.clientOrderID)
                guard openOrder(hash: hash, account: o.accountSlot, id: o.clientOrderID) == nil else {
                    throw .malformed("order \(o.id): duplicate client order id")
                }
                markets[mi].book.orders[i].idHash = hash
                openOrders.insert(hash: hash, account: o.accountSlot, ref: OrderRef(market: marketID, index: Int32(i)))
                perAccount[Int(o.accountSlot)] += 1
            }
        }
        for (s, n) in perAccount.enumerated() where accounts.arena[s].openOrderCount != n {
            throw .malformed("open order count of account \(accounts.arena[s].id)")
        }
    }
}

extension Side {
    static func snapshot(_ r: inout SnapshotReader) throws(EngineSnapshotError) -> Side {
        guard let side = Side(rawValue: try r.u8()) else { throw .malformed("side") }
        return side
    }
}

extension ClientOrderID {
    /// Length byte, then the bytes.
    func writeSnapshot(into w: inout ByteWriter) {
        let b = bytes
        w.write(UInt8(b.count))
        w.write(bytes: b)
    }

    static func snapshot(_ r: inout SnapshotReader) throws(EngineSnapshotError) -> ClientOrderID {
        let bytes = try r.bytes(Int(try r.u8()))
        do { return try ClientOrderID(bytes: bytes) } catch { throw .malformed("client order id") }
    }
}
