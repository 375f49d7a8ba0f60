import Commitments
import OutputVerification
import Wire

/// A statement and its checks as `sealstream-client statement` prints them
/// (docs/COMMITMENTS.md §7.5). Collateral, an i128, is a decimal string in JSON.
public struct StatementReport: Codable, Equatable, Sendable {
    public struct Position: Codable, Equatable, Sendable {
        public var market: UInt32
        public var size: Int64
    }

    public struct Balance: Codable, Equatable, Sendable {
        public var collateral: String
        public var positions: [Position]

        init(_ b: StatementBalance) {
            collateral = String(b.collateral)
            positions = b.positions.map { Position(market: $0.market, size: $0.size) }
        }
    }

    public struct Entry: Codable, Equatable, Sendable {
        public var sequence: UInt64
        public var kind: String
        public var market: UInt32
        public var price: Int64
        public var quantity: Int64
        public var amount: Int64
        public var after: Balance
    }

    /// What opens one liquidation decision (docs/COMMITMENTS.md §7.2), hex for bytes.
    public struct Opening: Codable, Equatable, Sendable {
        public struct Mark: Codable, Equatable, Sendable {
            public var market: UInt32
            public var mark: Int64
            public var maintenanceBps: UInt32
        }

        public var sequence: UInt64
        public var step: UInt32
        public var salt: String
        public var state: String
        public var marks: [Mark]
    }

    public struct Leaf: Codable, Equatable, Sendable {
        public var batchIndex: UInt64?
        public var lastSequence: UInt64?
        public var stateRoot: String?
        public var leafIndex: UInt64
        public var treeSize: UInt64
    }

    public var ok: Bool
    public var accountId: UInt64
    /// Entries shown are those after this sequence (the `--since` asked for).
    public var since: UInt64
    public var head: UInt64
    public var openingSequence: UInt64
    public var opening: Balance
    public var entries: [Entry]
    public var leaf: Leaf?
    /// The openings of the account's liquidation decisions after `since`.
    public var openings: [Opening]
    public var checks: [StatementVerifier.Check]

    /// `shownSince`: the `since` the user asked for; the statement may start earlier
    /// (to reach the header), and its earlier entries are checked but not shown.
    public init(_ s: Statement, shownSince: UInt64, checks: [StatementVerifier.Check]) {
        ok = checks.allSatisfy(\.pass)
        accountId = s.accountID
        since = shownSince
        head = s.head
        let shownFrom = max(shownSince, s.since)
        let openingEntry = s.entries.last { $0.sequence <= shownFrom }
        openingSequence = openingEntry?.sequence ?? s.openingSequence
        opening = Balance(openingEntry?.after ?? s.opening)
        entries = s.entries.filter { $0.sequence > shownFrom }.map {
            Entry(sequence: $0.sequence, kind: Self.name($0.kind), market: $0.market, price: $0.price, quantity: $0.quantity,
                  amount: $0.amount, after: Balance($0.after))
        }
        leaf = s.leaf.map { l in
            let header = try? BatchRecord(jsonLine: l.headerRecord).header()
            return Leaf(batchIndex: header?.batchIndex, lastSequence: header?.lastSequence, stateRoot: header?.stateRoot.hex,
                        leafIndex: l.leafIndex, treeSize: l.treeSize)
        }
        openings = s.openings.filter { $0.sequence > shownFrom }.map {
            Opening(sequence: $0.sequence, step: $0.step, salt: "0x" + Hex.encode($0.salt), state: "0x" + Hex.encode($0.state),
                    marks: $0.marks.map { Opening.Mark(market: $0.market, mark: $0.mark, maintenanceBps: $0.maintenanceBps) })
        }
        self.checks = checks
    }

    /// The kinds' names in docs/COMMITMENTS.md §7.2.
    public static func name(_ kind: StatementEntry.Kind) -> String {
        switch kind {
        case .deposit: "deposit"
        case .withdrawal: "withdrawal"
        case .takerFill: "takerFill"
        case .makerFill: "makerFill"
        case .funding: "funding"
        case .liquidation: "liquidation"
        case .liquidationFee: "liquidationFee"
        case .autoDeleveraged: "autoDeleveraged"
        case .optionSettlement: "optionSettlement"
        }
    }

    /// The human form.
    public var text: String {
        var lines = ["statement of account \(accountId) after sequence \(since) (head \(head))",
                     "opening at sequence \(openingSequence): \(Self.describe(opening))"]
        for e in entries {
            var what = "\(e.kind)"
            switch e.kind {
            case "deposit", "withdrawal", "liquidationFee": what += " amount \(e.amount)"
            case "funding": what += " market \(e.market) perUnit \(e.price) on \(e.quantity) amount \(e.amount)"
            case "optionSettlement": what += " market \(e.market) value \(e.price) on \(e.quantity) amount \(e.amount)"
            default: what += " market \(e.market) \(e.quantity > 0 ? "bought" : "sold") \(e.quantity.magnitude) at \(e.price) fee \(e.amount)"
            }
            lines.append("  #\(e.sequence) \(what) -> \(Self.describe(e.after))")
        }
        if let leaf {
            lines.append("leaf \(leaf.leafIndex) of \(leaf.treeSize) in batch \(leaf.batchIndex.map(String.init) ?? "?")"
                         + " (last sequence \(leaf.lastSequence.map(String.init) ?? "?"), stateRoot \(leaf.stateRoot ?? "?"))")
        } else {
            lines.append("no leaf: no closed batch holds the account yet")
        }
        for c in checks { lines.append("  \(c.pass ? "PASS" : "FAIL") \(c.check)\(c.pass ? "" : ": \(c.detail)")") }
        lines.append(ok ? "statement verified" : "statement NOT verified")
        return lines.joined(separator: "\n")
    }

    static func describe(_ b: Balance) -> String {
        "collateral \(b.collateral)" + b.positions.map { ", market \($0.market) size \($0.size)" }.joined()
    }
}
