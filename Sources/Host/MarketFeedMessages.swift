import Commitments

/// The messages of the market data feed and of `GET /v1/marketdata/snapshot`
/// (docs/MARKETDATA.md §5–§6): JSON objects, keys sorted. A market data line travels as a
/// JSON **string** (`line`), so a consumer hashes exactly the bytes the header commits to
/// (a JSON reader that re-serialises, or reads integers as doubles, could not).
public enum MarketFeedMessage {
    /// One published line with where it sits in its batch's tree.
    public struct Line: Sendable {
        public var batchIndex: UInt64
        public var leafIndex: Int
        public var leafCount: Int
        public var market: UInt32
        public var marketSequence: UInt64
        /// The line's bytes, without its newline.
        public var bytes: [UInt8]
        /// RFC 6962 inclusion proof into the batch's `marketDataRoot`.
        public var proof: [Hash32]
    }

    /// `{"header":HEADER,"type":"header"}`: a batch's signed header record, verbatim,
    /// sent before the batch's updates.
    public static func header(_ headerLine: [UInt8]) -> [UInt8] {
        Array(#"{"header":"#.utf8) + trimmed(headerLine) + Array(#","type":"header"}"#.utf8)
    }

    /// `type` `"update"` (no header: the preceding header message's) or `"snapshot"`
    /// (with its header record, checkable on its own).
    public static func line(_ l: Line, header: [UInt8]?) -> [UInt8] {
        var out = Array(#"{"batchIndex":"#.utf8) + Array(String(l.batchIndex).utf8)
        if let header { out += Array(#","header":"#.utf8) + trimmed(header) }
        out += Array(#","leafCount":\#(l.leafCount),"leafIndex":\#(l.leafIndex),"line":""#.utf8)
        for b in l.bytes {
            // Lines hold only ASCII names, digits and hex; escape what JSON requires all the same.
            switch b {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"): out += [UInt8(ascii: "\\"), b]
            case 0..<0x20: out += Array(String(format: b).utf8)
            default: out.append(b)
            }
        }
        out += Array(#"","market":\#(l.market),"marketSequence":\#(l.marketSequence),"proof":["#.utf8)
        for (i, p) in l.proof.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            out += Array("\"\(p.hex)\"".utf8)
        }
        out += Array(#"],"type":"\#(header == nil ? "update" : "snapshot")"}"#.utf8)
        return out
    }

    /// A header line without its trailing newline.
    static func trimmed(_ line: [UInt8]) -> ArraySlice<UInt8> {
        line.last == 0x0a ? line.dropLast() : line[...]
    }
}

extension String {
    /// `\u00XX` for a control byte.
    fileprivate init(format byte: UInt8) {
        let hex = Array("0123456789abcdef")
        self = "\\u00" + String(hex[Int(byte >> 4)]) + String(hex[Int(byte & 0xf)])
    }
}

/// What one consumer of the feed may still have queued: the pure core of "slow consumers
/// are dropped, never waited for" (docs/MARKETDATA.md §6). The shell offers each message;
/// the answer says whether to write it or to drop the consumer.
public struct FeedConsumerBudget: Sendable {
    public enum Verdict: Equatable, Sendable { case write, drop }

    /// Most bytes written to the consumer's channel and not yet taken by its socket.
    public let limit: Int
    public private(set) var pending = 0

    public init(limit: Int) { self.limit = limit }

    /// A message of `bytes` to send: write it (now counted as pending) or drop the consumer.
    public mutating func offer(_ bytes: Int) -> Verdict {
        guard pending + bytes <= limit else { return .drop }
        pending += bytes
        return .write
    }

    /// The socket took a message of `bytes`.
    public mutating func written(_ bytes: Int) { pending = max(0, pending - bytes) }
}
