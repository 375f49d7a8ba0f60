import Glibc
import SealCrypto
import Testing
import Wire
@testable import EnclaveCore

extension RequestLanesTests {
    /// The dedupe tags a lane computes for the sequencer's prefetch (issue 17) are the
    /// memory's own (`DedupeMemory.tag(of:)` of the key with the session's account): a new
    /// order's and a withdrawal's; a cancel, a frame that does not open, and a batch
    /// prepared without tags have none.
    @Test func aLaneComputesTheDedupeTagsOfTheMemory() throws {
        let keys = try Self.sessionKeys(enclave: try StorageKeys(storageKey: Self.storageKey()).sessionKey)
        let sessions = keys.enumerated().map { i, k in
            SessionState(cipher: k.server, accountID: UInt64(i + 1), route: Self.route, lastSequence: 0)
        }
        let requests: [(session: Int, request: OrderRequest)] = [
            (0, .newOrder(NewOrder(clientOrderID: try ClientOrderID("a1"), market: 1, side: .buy, price: 5, quantity: 1))),
            (1, .newOrder(NewOrder(clientOrderID: try ClientOrderID("a1"), market: 1, side: .sell, price: 5, quantity: 1))),
            (2, .withdraw(id: try ClientOrderID("w-7"), amount: 10)),
            (3, .cancel(try ClientOrderID("a1"))),
            (4, .newOrder(NewOrder(clientOrderID: try ClientOrderID("tampered"), market: 1, side: .buy, price: 5, quantity: 1))),
        ]
        var frames: [[UInt8]] = try requests.map { try Self.sealed($0.request, session: $0.session, sequence: 1, keys: keys) }
        frames[4][frames[4].count - 1] ^= 1
        var writer = LinkBatchWriter(kind: .inboundBatch)
        for frame in frames { writer.append(route: Self.route, frame: frame) }
        let batch = writer.finish()
        let lanes = RequestLanes(threads: 1)
        for withTags in [true, false] {
            try batch.withUnsafeBytes { raw in
                // The frame bodies as the worker finds them (Worker+Lanes `process`).
                let batchBody = UnsafeRawBufferPointer(rebasing: raw[5...])
                lanes.prepare(batchBody: batchBody, hashBodies: false, dedupeTags: withTags)
                var i = 0
                try LinkParser.forEachEntry(batchBody: batchBody, direction: .fromClient) { _, header, frame in
                    let start = frame.baseAddress! - batchBody.baseAddress! + header.bodyOffset
                    let end = frame.baseAddress! - batchBody.baseAddress! + header.totalLength
                    let (sessionID, sequence) = SealedEnvelope.peek(body: UnsafeRawBufferPointer(rebasing: batchBody[start..<end]))
                    #expect(lanes.add(.init(session: Unmanaged.passUnretained(sessions[requests[i].session]), sessionID: sessionID,
                                            sequence: sequence, bodyStart: start, bodyEnd: end)) == i)
                    i += 1
                }
                #expect(i == frames.count)
                lanes.start()
                // The lane thread opens every job (this thread claims none while it waits).
                var opened: [RequestLanes.Opened] = []
                for i in 0..<frames.count {
                    while true {
                        if let o = lanes.publishedResult(i) { opened.append(o); break }
                        sched_yield()
                    }
                }
                lanes.finishBatch()
                #expect(opened.map { $0.length >= 0 } == [true, true, true, true, false])
                #expect(opened.map(\.hasDedupeTag) == (withTags ? [true, true, true, false, false] : [false, false, false, false, false]))
                guard withTags else { return }
                for i in 0..<3 {
                    let key = try #require(DedupeMemory.key(account: UInt64(requests[i].session + 1), requests[i].request))
                    #expect(opened[i].dedupeTag == DedupeMemory.tag(of: key), "request \(i)")
                }
            }
        }
        withExtendedLifetime(sessions) {}
    }
}
