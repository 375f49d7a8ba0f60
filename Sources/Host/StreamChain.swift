/// The content chain of the journal stream (docs/REPLICATION.md §2, §4): which stored
/// messages are the journal. Every message names, in `Sealstream-Previous`, the id of the
/// message its writer published before it; a reader accepts a message only when that is
/// the last message it accepted, and skips the rest. A skipped message is a late publish of
/// a writer that was cut off (its publishes in flight when a partition healed) and was
/// never acknowledged: its own earlier message was refused, so it names a message that is
/// not in the journal. Pure.
struct StreamChain: Equatable {
    /// `Sealstream-Previous` of the first message of a stream.
    static let origin = "-"

    enum Verdict: Equatable {
        case accept
        /// Not the journal's: it follows `previous`, the journal's last message is `last`.
        case skip(previous: String, last: String)
    }

    enum Refusal: Error, Equatable, CustomStringConvertible {
        /// A message without `Sealstream-Previous`: not written by this protocol.
        case missingPrevious

        var description: String {
            switch self {
            case .missingPrevious: "no Sealstream-Previous header"
            }
        }
    }

    /// Id of the last message accepted (`origin` before any).
    private(set) var lastID: String
    /// Messages skipped so far.
    private(set) var skipped: UInt64 = 0

    init(lastID: String = StreamChain.origin) {
        self.lastID = lastID
    }

    /// The verdict on the next stored message, which becomes the last accepted when accepted.
    mutating func classify(id: String, previous: String?) throws(Refusal) -> Verdict {
        guard let previous else { throw .missingPrevious }
        guard previous == lastID else {
            skipped += 1
            return .skip(previous: previous, last: lastID)
        }
        lastID = id
        return .accept
    }
}
