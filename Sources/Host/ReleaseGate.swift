/// Holds the worker's link messages that followed a `journal` message until every record
/// received before them is durable, then releases them in arrival order
/// (docs/DURABILITY.md §3). Pure: the supervisor feeds it and carries out what it returns.
struct ReleaseGate<Message> {
    private var held = FIFOQueue<(needs: UInt64, message: Message)>()
    /// Sequence of the last record received from the worker.
    private(set) var received: UInt64 = 0
    /// Sequence of the last record known durable.
    private(set) var durable: UInt64 = 0

    init(durable: UInt64 = 0) {
        self.durable = durable
        received = durable
    }

    var heldCount: Int { held.count }
    var isEmpty: Bool { heldCount == 0 }

    /// A `journal` message with records up to `last` arrived.
    mutating func journaled(upTo last: UInt64) { received = max(received, last) }

    /// A later message arrived: returns it when it may go now (nothing it depends on is
    /// unsynced and nothing is held before it), else holds it and returns nil.
    mutating func admit(_ message: Message) -> Message? {
        if isEmpty && received <= durable { return message }
        held.append((received, message))
        return nil
    }

    /// Records up to `sequence` are durable: the messages that may go now, in order.
    mutating func synced(upTo sequence: UInt64) -> [Message] {
        durable = max(durable, sequence)
        var out: [Message] = []
        while let next = held.first, next.needs <= durable {
            out.append(next.message)
            held.popFirst()
        }
        return out
    }
}
