import Engine
import SealCrypto
import Wire

/// One frame of an inbound batch as the sequencer will handle it, when request lanes run:
/// its body as offsets into the batch body, and its job on the lanes (−1: none).
struct LaneEntry {
    var route: UInt32
    var type: MessageType
    var bodyStart: Int
    var bodyEnd: Int
    var job: Int
}

extension Worker {
    /// `process(batchBody:…)` with request lanes (`enclaveLanes` > 1): the whole batch is
    /// parsed first (a malformed batch throws before any frame is handled, as the shell
    /// then exits), each sealed request of a session open with the frame's route and a
    /// sequence number above the session's last goes to the lanes as a job, in arrival
    /// order; then this thread handles every frame in order exactly as one lane would,
    /// taking each job's open from the lanes. Same replies, journal records and outputs
    /// byte for byte as with one lane (but for the journal's random nonces).
    @_specialize(exported: true, where E == PerpEngine)
    func process(
        batchBody: UnsafeRawBufferPointer, lanes: RequestLanes, into output: inout LinkBatchWriter,
        flushThreshold: Int, flush: (inout LinkBatchWriter) -> Void
    ) throws {
        let remembers = dedupe.window > 0
        lanes.prepare(batchBody: batchBody, hashBodies: needsBodyHash, dedupeTags: remembers)
        laneEntries.removeAll(keepingCapacity: true)
        guard let base = batchBody.baseAddress else { return }
        try LinkParser.forEachEntry(batchBody: batchBody, direction: .fromClient) { route, header, frame in
            let start = frame.baseAddress! - base + header.bodyOffset
            let end = frame.baseAddress! - base + header.totalLength
            var job = -1
            if header.type == .sealedRequest {
                // Only a filter: the sequencer checks route and sequence again in order
                // (the last sequence only grows, so a frame refused here is refused there).
                let (sessionID, sequence) = SealedEnvelope.peek(body: UnsafeRawBufferPointer(rebasing: batchBody[start..<end]))
                if let session = sessions[sessionID], session.route == route, sequence > session.lastSequence {
                    job = lanes.add(.init(session: Unmanaged.passUnretained(session), sessionID: sessionID, sequence: sequence,
                                          bodyStart: start, bodyEnd: end)) ?? -1
                }
            }
            laneEntries.append(LaneEntry(route: route, type: header.type, bodyStart: start, bodyEnd: end, job: job))
        }
        lanes.start()
        // Whatever happens below, no lane may touch the batch after this returns: the
        // shell moves its input buffer.
        defer { lanes.finishBatch() }
        for entry in laneEntries {
            let body = UnsafeRawBufferPointer(rebasing: batchBody[entry.bodyStart..<entry.bodyEnd])
            if entry.job >= 0 {
                // The dedupe probe is a cache miss per order in an index far larger than the
                // caches: start loading the bucket of the request `dedupePrefetchDistance`
                // ahead if the lanes have opened it, so its miss overlaps the requests before
                // it (issue 17). Each job is looked at once (reading the lanes' results more
                // often took their cache lines back from the lane's core each time). Only a
                // hint: nothing here waits or changes a result.
                let ahead = entry.job + Self.dedupePrefetchDistance
                if remembers, ahead < lanes.jobCount, let opened = lanes.publishedResult(ahead), opened.hasDedupeTag {
                    dedupe.prefetch(tag: opened.dedupeTag)
                }
                counters.framesIn += 1
                handleSealedRequest(route: entry.route, body: body, job: entry.job, output: &output)
            } else {
                handle(route: entry.route, type: entry.type, body: body, output: &output)
            }
            if output.byteCount >= flushThreshold || pendingJournalBytes >= flushThreshold {
                lanes.drainSeals(into: &output)
                flush(&output)
            }
        }
        lanes.drainSeals(into: &output)
    }

    /// How far ahead of the request being handled a dedupe bucket is prefetched: one order
    /// takes the sequencer microseconds and a cache miss ~0.1 µs, so one would do; a few
    /// leave the lane time to have opened it.
    static var dedupePrefetchDistance: Int { 4 }

    /// Hands `plaintextWriter`'s bytes to the lanes to seal into a frame appended now;
    /// false when lanes do not run or the reply is too large for them (then the caller
    /// seals it). Kept out of line: the one-lane path pays only the check of `lanes`.
    @inline(never)
    func sealOnLanes(
        type: MessageType, session: Session, sessionID: UInt64, sequence: UInt64, route: UInt32,
        output: inout LinkBatchWriter
    ) -> Bool {
        guard let lanes, lanes.sealFits(length: plaintextWriter.count) else { return false }
        plaintextWriter.withUnsafeBytes { pt in
            lanes.appendSeal(type: type, session: session, sessionID: sessionID, sequence: sequence, route: route,
                             plaintext: pt, output: &output)
        }
        return true
    }

    /// Request lanes beside the sequencer (1 = none: the sequencer opens every request).
    public var laneCount: Int { (lanes?.threadCount ?? 0) + 1 }

    /// Requests given to the lanes so far, and how many of them the sequencer opened itself
    /// because no lane had started them; replies sealed through the lanes, and how many of
    /// them the sequencer sealed itself; nil with one lane.
    public var laneJobCounts: (jobs: UInt64, bySequencer: UInt64, seals: UInt64, sealsBySequencer: UInt64)? {
        lanes.map { ($0.jobsOpened, $0.openedBySequencer, UInt64($0.sealAdded), $0.sealsBySequencer) }
    }

    /// Closes whose decisions were offered to the close thread so far, their chunks of
    /// decisions, and how many of those the sequencer hashed itself because the thread had
    /// not claimed them; nil without the thread (one lane).
    public var closeLaneJobCounts: (offered: Int, chunks: Int, bySequencer: Int)? {
        guard closeLane.isThreaded else { return nil }
        let counts = closeLane.jobCounts
        return (counts.offered, counts.chunks, counts.byOwner)
    }
}
