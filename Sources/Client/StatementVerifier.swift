import Commitments
import OutputVerification
import SealCrypto
import Wire

/// A whole private statement, its pages joined (docs/COMMITMENTS.md §7).
public struct Statement: Equatable, Sendable {
    public var accountID: UInt64
    public var since: UInt64
    /// The last global sequence number when the last page was made.
    public var head: UInt64
    public var openingSequence: UInt64
    public var opening: StatementBalance
    public var entries: [StatementEntry]
    /// The leaf and header of the last page; nil when no closed batch held the account.
    public var leaf: StatementLeaf?
    /// The openings of the account's liquidation decisions after `since` (the first
    /// page's; docs/COMMITMENTS.md §7.2): what `challengeLiquidation` takes.
    public var openings: [StatementOpening]

    public init(accountID: UInt64, since: UInt64, head: UInt64, openingSequence: UInt64, opening: StatementBalance,
                entries: [StatementEntry], leaf: StatementLeaf?, openings: [StatementOpening] = []) {
        self.openings = openings
        self.accountID = accountID
        self.since = since
        self.head = head
        self.openingSequence = openingSequence
        self.opening = opening
        self.entries = entries
        self.leaf = leaf
    }

    /// The account after every entry with sequence ≤ `sequence`; nil when the statement
    /// cannot tell (an entry it does not hold may lie between its opening and `sequence`).
    public func balance(at sequence: UInt64) -> StatementBalance? {
        guard openingSequence <= sequence else { return nil }
        return entries.last { $0.sequence <= sequence }?.after ?? opening
    }
}

/// The client's checks of a statement (docs/COMMITMENTS.md §7.4): one verdict per named
/// check, in order; a check that cannot run because an earlier one failed fails too.
public enum StatementVerifier {
    public struct Check: Equatable, Sendable, Codable {
        public var check: String
        public var pass: Bool
        public var detail: String
    }

    /// The state leaf's `state` bytes read back (docs/COMMITMENTS.md §2.2).
    public struct LeafState: Equatable, Sendable {
        public var accountID: UInt64
        public var balance: StatementBalance
        public var openOrders: UInt32

        /// Reads the bytes strictly: nil when they are not exactly one state.
        public init?(_ bytes: [UInt8]) {
            let parsed: LeafState? = bytes.withUnsafeBytes { raw in
                var r = ByteReader(raw)
                guard let id = try? r.readUInt64(), let hi = try? r.readUInt64(), let lo = try? r.readUInt64(),
                      let n = try? r.readUInt32(), Int(n) <= raw.count / 44 else { return nil }
                var positions: [StatementPosition] = []
                for _ in 0..<n {
                    guard let market = try? r.readUInt32(), let size = try? r.readInt64(), (try? r.readBytes(32)) != nil else { return nil }
                    positions.append(StatementPosition(market: market, size: size))
                }
                guard let orders = try? r.readUInt32(), r.remaining == 0 else { return nil }
                return LeafState(accountID: id, balance: StatementBalance(collateral: Int128(Int64(bitPattern: hi)) << 64 | Int128(lo),
                                                                          positions: positions), openOrders: orders)
            }
            guard let parsed else { return nil }
            self = parsed
        }

        init(accountID: UInt64, balance: StatementBalance, openOrders: UInt32) {
            self.accountID = accountID
            self.balance = balance
            self.openOrders = openOrders
        }
    }

    /// The check names, in order.
    public static let checkNames = [
        "statement.order", "statement.arithmetic", "leaf.present", "header.record", "header.signature", "leaf.account",
        "leaf.inclusion", "statement.coverage", "statement.balance",
    ]

    /// Runs every check for `accountID`'s statement against headers signed by `signer`
    /// in `domain`.
    public static func verify(_ s: Statement, accountID: UInt64, signer: EthereumAddress, domain: EIP712Domain) -> [Check] {
        var out: [Check] = []
        func record(_ name: String, _ failure: String?) {
            out.append(Check(check: name, pass: failure == nil, detail: failure ?? "ok"))
        }
        record("statement.order", orderFailure(s, accountID: accountID))
        record("statement.arithmetic", arithmeticFailure(s))
        guard let leaf = s.leaf else {
            record("leaf.present", "no closed batch holds the account yet: ask again after the next batch")
            for name in checkNames.dropFirst(3) { record(name, "not checked: no leaf") }
            return out
        }
        record("leaf.present", nil)
        guard let headerRecord = try? BatchRecord(jsonLine: leaf.headerRecord), let header = try? headerRecord.header(),
              let signature = try? headerRecord.recoverableSignature()
        else {
            record("header.record", "the header record does not read (docs/COMMITMENTS.md §5.1)")
            for name in checkNames.dropFirst(4) { record(name, "not checked: no header") }
            return out
        }
        record("header.record", nil)
        let recovered = try? Secp256k1.recoverAddress(digest: header.digest(domain: domain).bytes, signature: signature)
        record("header.signature", recovered == signer ? nil : "the header is not signed by the attested signer")
        let state = LeafState(leaf.state)
        if state == nil {
            record("leaf.account", "the leaf's state bytes are not one state (docs/COMMITMENTS.md §2.2)")
        } else if state!.accountID != accountID {
            record("leaf.account", "the leaf is account \(state!.accountID)'s, not \(accountID)'s")
        } else if leaf.treeSize != header.accountCount {
            record("leaf.account", "tree size \(leaf.treeSize) is not the header's accountCount \(header.accountCount)")
        } else {
            record("leaf.account", nil)
        }
        var data = Array("sealstream/v1/state".utf8)
        data += leaf.salt
        data += leaf.state
        let leafHash = RFC6962.leafHash(SHA256.hash(data))
        let proof = leaf.proof.map { Hash32($0) }
        let included = leaf.salt.count == 32 && RFC6962.verifyInclusion(
            leafHash: leafHash, index: leaf.leafIndex, treeSize: leaf.treeSize, proof: proof, root: header.stateRoot)
        record("leaf.inclusion", included ? nil : "the leaf and proof do not reach the header's stateRoot")
        let atHeader = s.balance(at: header.lastSequence)
        record("statement.coverage", atHeader != nil ? nil
            : "the statement opens at \(s.openingSequence), after the header's last sequence \(header.lastSequence): ask with an earlier since")
        if let atHeader, let state {
            record("statement.balance", atHeader == state.balance ? nil
                : "the running balance at sequence \(header.lastSequence) (\(describe(atHeader))) is not the leaf's (\(describe(state.balance)))")
        } else {
            record("statement.balance", "not checked")
        }
        return out
    }

    static func describe(_ b: StatementBalance) -> String {
        "collateral \(b.collateral)" + b.positions.map { ", market \($0.market) size \($0.size)" }.joined()
    }

    private static func orderFailure(_ s: Statement, accountID: UInt64) -> String? {
        guard s.accountID == accountID else { return "the statement is account \(s.accountID)'s" }
        guard s.openingSequence <= s.since else { return "opening sequence \(s.openingSequence) after since \(s.since)" }
        var last = s.since
        for (i, e) in s.entries.enumerated() {
            guard e.sequence > s.since, e.sequence >= last, e.sequence <= s.head else {
                return "entry \(i) (sequence \(e.sequence)) out of order or outside (\(s.since), \(s.head)]"
            }
            last = e.sequence
        }
        return nil
    }

    /// Each entry's balance must follow from the one before by its kind's rule (§7.2).
    private static func arithmeticFailure(_ s: Statement) -> String? {
        var running = s.opening
        if let why = positionsFailure(running.positions) { return "opening balance: \(why)" }
        for (i, e) in s.entries.enumerated() {
            var next = running
            switch e.kind {
            case .deposit, .withdrawal:
                guard e.amount > 0, e.market == 0, e.price == 0, e.quantity == 0 else { return "entry \(i): bad \(e.kind) fields" }
                next.collateral += e.kind == .deposit ? Int128(e.amount) : -Int128(e.amount)
            case .liquidationFee:
                guard e.amount > 0, e.price == 0, e.quantity == 0 else { return "entry \(i): bad liquidation fee fields" }
                next.collateral -= Int128(e.amount)
            case .funding:
                let held = running.positions.first { $0.market == e.market }?.size ?? 0
                guard e.quantity == held, e.quantity != 0 else { return "entry \(i): funding on \(e.quantity), position is \(held)" }
                let paid = ceilDiv(Int128(e.quantity) * Int128(e.price), 100_000_000)
                guard Int128(e.amount) == -paid else { return "entry \(i): funding amount \(e.amount), expected \(-paid)" }
                next.collateral += Int128(e.amount)
            case .optionSettlement:
                let held = running.positions.first { $0.market == e.market }?.size ?? 0
                guard e.quantity == held, e.quantity != 0, e.price >= 0 else {
                    return "entry \(i): settlement of \(e.quantity), position is \(held)"
                }
                let value = floorDiv(Int128(e.quantity) * Int128(e.price), 100_000_000)
                guard Int128(e.amount) == value else { return "entry \(i): settlement amount \(e.amount), expected \(value)" }
                next.collateral += Int128(e.amount)
                next.positions.removeAll { $0.market == e.market }
            case .takerFill, .makerFill, .liquidation, .autoDeleveraged:
                guard e.price > 0, e.quantity != 0, e.amount >= 0 else { return "entry \(i): bad trade fields" }
                let cash = Int128(e.price) * Int128(e.quantity.magnitude) / 100_000_000
                next.collateral += (e.quantity > 0 ? -cash : cash) - Int128(e.amount)
                var positions = running.positions
                if let j = positions.firstIndex(where: { $0.market == e.market }) {
                    positions[j].size += e.quantity
                    if positions[j].size == 0 { positions.remove(at: j) }
                } else {
                    positions.append(StatementPosition(market: e.market, size: e.quantity))
                    positions.sort { $0.market < $1.market }
                }
                next.positions = positions
            }
            guard next == e.after else {
                return "entry \(i) (sequence \(e.sequence), \(e.kind)): balance \(describe(e.after)), expected \(describe(next))"
            }
            running = next
        }
        return nil
    }

    private static func positionsFailure(_ p: [StatementPosition]) -> String? {
        for i in p.indices {
            if p[i].size == 0 { return "a zero position" }
            if i > 0, p[i - 1].market >= p[i].market { return "positions not in ascending market order" }
        }
        return nil
    }

    /// ⌊a / b⌋ toward −∞ for b > 0.
    static func floorDiv(_ a: Int128, _ b: Int128) -> Int128 {
        let q = a / b
        return a % b != 0 && a < 0 ? q - 1 : q
    }

    /// ⌈a / b⌉ toward +∞ for b > 0.
    static func ceilDiv(_ a: Int128, _ b: Int128) -> Int128 {
        let q = a / b
        return a % b != 0 && a > 0 ? q + 1 : q
    }
}
