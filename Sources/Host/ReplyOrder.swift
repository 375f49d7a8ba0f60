/// Keeps one connection's replies in the order of its requests although the host answers
/// some requests itself (refusals over a limit, or while no enclave runs): a host answer
/// is held until the enclave has answered every frame forwarded before it
/// (docs/PROTOCOL.md §1, "Reply order").
///
/// Pure bookkeeping: the connection writes the frames the methods return, in that order.
struct ReplyOrder {
    /// Frames forwarded to the enclave on this connection, ever.
    private(set) var forwarded: UInt64 = 0
    /// Enclave answers received (pushed events excluded), ever; at most `forwarded`.
    private(set) var answered: UInt64 = 0
    /// Host answers waiting for enclave answers: each may go once `answered >= due`.
    private var held = FIFOQueue<(due: UInt64, frame: [UInt8])>(compactionThreshold: 64)
    /// Monotonic read time (ns) of each frame in the enclave, oldest first, for
    /// `receipt_latency_seconds`: the enclave answers a connection's frames in order. A busy
    /// connection may never have nothing in flight: the queue drops its answered front
    /// (amortized O(1) per answer) so it stays about twice what is in flight.
    private var readTimes = FIFOQueue<UInt64>(compactionThreshold: 4096)
    /// Read time of the frame the last enclave answer was for; 0 when it was not recorded.
    private(set) var lastAnswerReadAt: UInt64 = 0

    /// Read times held (answered ones not yet dropped included): bounded by about twice
    /// what is in flight, however long the connection never drains.
    var readTimesHeld: Int { readTimes.storageCount }

    /// Frames in the enclave without an answer.
    var inFlight: Int { Int(forwarded - answered) }

    /// Host answers held back behind enclave answers.
    var heldCount: Int { held.count }

    /// True when nothing is owed to the client: no frame in the enclave, none held.
    var isSettled: Bool { inFlight == 0 && heldCount == 0 }

    /// One frame went to the enclave; `readAt` is when it was read (monotonic ns; 0: unknown).
    mutating func forwardedOne(readAt: UInt64 = 0) {
        forwarded += 1
        readTimes.append(readAt)
    }

    /// The host answers the request just read with `frame`. Returns it when it may be
    /// written now (every earlier request is answered); otherwise holds it and returns nil.
    mutating func hostAnswer(_ frame: [UInt8]) -> [UInt8]? {
        if answered == forwarded { return frame }
        held.append((forwarded, frame))
        return nil
    }

    /// One enclave answer arrived (write it first). Returns the host answers that were
    /// waiting for it, in order, to be written right after it. An answer with nothing in
    /// flight (none should come) changes nothing.
    mutating func enclaveAnswered() -> [[UInt8]] {
        guard answered < forwarded else {
            lastAnswerReadAt = 0
            return []
        }
        answered += 1
        lastAnswerReadAt = readTimes.popFirst() ?? 0  // one read time per forwarded frame
        return releaseDue()
    }

    /// The enclave died: nothing forwarded will be answered. Returns how many frames were
    /// lost and every held host answer, in order (they go out at once).
    mutating func forgetForwarded() -> (lost: Int, released: [[UInt8]]) {
        let lost = inFlight
        answered = forwarded
        readTimes.removeAll()
        return (lost, releaseDue())
    }

    private mutating func releaseDue() -> [[UInt8]] {
        var out: [[UInt8]] = []
        while let next = held.first, next.due <= answered {
            out.append(next.frame)
            held.popFirst()
        }
        return out
    }
}
