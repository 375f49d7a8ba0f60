#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import TestSupport
import Testing

@testable import Host

/// The replicated journal against a real cluster (docs/REPLICATION.md): quorum acks make
/// records durable, a second writer is refused by the server and fenced, a node may die,
/// and a new host rebuilds its local copy from the stream.
@Suite("NATS journal", .serialized)
struct NATSJournalTests {
    final class Probe: @unchecked Sendable {
        let durable = Mutex<UInt64>(0)
        let availability = Mutex<[Bool]>([])
    }

    static func open(_ cluster: TestCluster, venue: [UInt8], dir: String, loop: EventLoop, metrics: HostMetrics,
                     probe: Probe) async throws -> NATSJournal
    {
        try await loop.submit {
            let journal = try NATSJournal.open(urls: cluster.urls, venueConfiguration: venue, directory: dir, snapshots: nil,
                                               eventLoop: loop, metrics: metrics, logger: Logger(label: "test"))
            journal.retryInterval = .milliseconds(200)
            journal.onDurable = { s in probe.durable.withLock { $0 = s } }
            journal.onAvailability = { a in probe.availability.withLock { $0.append(a) } }
            return journal
        }.get()
    }

    static func append(_ journal: NATSJournal, _ bytes: [UInt8], loop: EventLoop) async throws {
        try await loop.submit { try bytes.withUnsafeBytes { _ = try journal.append($0) } }.get()
    }

    @Test(.timeLimit(.minutes(5))) func quorumAcksFenceASecondWriterAndRebuildFromTheStream() async throws {
        let cluster = try TestCluster()
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let venue = Array(UUID().uuidString.utf8)
        let dirA = JournalRecords.scratch()
        let dirB = JournalRecords.scratch()
        let dirC = JournalRecords.scratch()
        defer { for d in [dirA, dirB, dirC] { try? FileManager.default.removeItem(atPath: d) } }
        let (metricsA, metricsB) = (HostMetrics(), HostMetrics())
        let (probeA, probeB) = (Probe(), Probe())
        let a = try await Self.open(cluster, venue: venue, dir: dirA, loop: loop, metrics: metricsA, probe: probeA)
        defer { a.stop() }
        // B opens the same (empty) stream now: its expected sequence goes stale once A appends.
        let b = try await Self.open(cluster, venue: venue, dir: dirB, loop: loop, metrics: metricsB, probe: probeB)
        defer { b.stop() }

        // Records in several link messages, one larger than a stream message (cut in two).
        for first in stride(from: UInt64(1), through: 41, by: 10) {
            try await Self.append(a, JournalRecords.records(first...(first + 9), payload: 200), loop: loop)
        }
        try await Self.append(a, JournalRecords.records(51...60, payload: 200_000), loop: loop)
        #expect(try await HostJournalTests.waitUntil(20) { probeA.durable.withLock { $0 } == 60 })
        #expect(try await loop.submit { a.isSettled }.get())
        #expect(metricsA.replication.durableSequence.load(ordering: .relaxed) == 60)

        // B's records differ (another payload), so the server cannot take them for A's
        // duplicates; its expected last sequence (0) is stale: refused, and B is fenced.
        try await Self.append(b, JournalRecords.records(1...3, payload: 41), loop: loop)
        #expect(try await HostJournalTests.waitUntil(20) { metricsB.replication.fenced.load(ordering: .relaxed) == 1 })
        #expect(try await loop.submit { b.isFenced && !b.isAvailable && !b.isSettled }.get())
        #expect(metricsB.replication.fences.load(ordering: .relaxed) == 1)
        #expect(probeB.durable.withLock { $0 } == 0)
        #expect(probeB.availability.withLock { $0 } == [false])

        // A is unaffected.
        try await Self.append(a, JournalRecords.records(61...70, payload: 200), loop: loop)
        #expect(try await HostJournalTests.waitUntil(20) { probeA.durable.withLock { $0 } == 70 })
        #expect(metricsA.replication.fences.load(ordering: .relaxed) == 0)

        // A new host (C) rebuilds its local copy from the stream: A's records, byte for byte.
        let metricsC = HostMetrics()
        let c = try await Self.open(cluster, venue: venue, dir: dirC, loop: loop, metrics: metricsC, probe: Probe())
        defer { c.stop() }
        let report = try JournalStore.scan(directory: dirC)
        #expect(report.lastSequence == 70 && report.truncated == nil)
        let expected = JournalRecords.records(1...50, payload: 200) + JournalRecords.records(51...60, payload: 200_000)
            + JournalRecords.records(61...70, payload: 200)
        let rebuilt = try report.segments.flatMap { try Data(contentsOf: URL(fileURLWithPath: dirC + "/" + $0.fileName)) }
        #expect(rebuilt == expected)
        // Five messages of ten small records, the large run cut in two, one more.
        #expect(metricsC.replication.recoveredMessages.load(ordering: .relaxed) == 8)

        // C continues the stream; A, now stale, is fenced at its next append.
        try await Self.append(c, JournalRecords.records(71...71, payload: 200), loop: loop)
        #expect(try await HostJournalTests.waitUntil(20) { c.durable.sequence == 71 })
        try await Self.append(a, JournalRecords.records(71...71, payload: 201), loop: loop)
        #expect(try await HostJournalTests.waitUntil(20) { metricsA.replication.fenced.load(ordering: .relaxed) == 1 })
        #expect(probeA.durable.withLock { $0 } == 70)

        // Restarted on their own directories (docs/REPLICATION.md §4 step 3): A keeps its
        // records 1…70 (the stream's first 8 messages), drops its own record 71 (the stream
        // holds C's) and reads only C's message; B's records 1…3 are not the stream's, so
        // it keeps nothing and reads every message. Both end as the stream, byte for byte.
        let stream = expected + JournalRecords.records(71...71, payload: 200)
        a.stop()
        b.stop()
        for (dir, keeps) in [(dirA, true), (dirB, false)] {
            let metrics = HostMetrics()
            let again = try await Self.open(cluster, venue: venue, dir: dir, loop: loop, metrics: metrics, probe: Probe())
            again.stop()
            let scan = try JournalStore.scan(directory: dir)
            let bytes = try scan.segments.flatMap { try Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0.fileName)) }
            #expect(bytes == stream, "\(keeps ? "A" : "B")")
            let read = metrics.replication.recoveredMessages.load(ordering: .relaxed)
            // 9 messages: at most ⌈log2(10)⌉ = 4 probes, plus what is read after the prefix.
            #expect(keeps ? read <= 4 + 1 : read >= 9, "\(keeps ? "A" : "B") requested \(read) messages")
        }
    }

    @Test(.timeLimit(.minutes(2))) func publishingContinuesWithOneNodeKilled() async throws {
        let cluster = try TestCluster()
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let metrics = HostMetrics()
        let probe = Probe()
        let journal = try await Self.open(cluster, venue: Array(UUID().uuidString.utf8), dir: dir, loop: loop,
                                          metrics: metrics, probe: probe)
        defer { journal.stop() }
        try await Self.append(journal, JournalRecords.records(1...10), loop: loop)
        #expect(try await HostJournalTests.waitUntil(20) { probe.durable.withLock { $0 } == 10 })
        // One node of three dies (kill -9): a quorum remains, publishing goes on. Which
        // node leads the stream is the cluster's choice; a stream leader change may cost an
        // election (seconds on a loaded machine) and take the retry path once.
        try cluster.kill(node: 2)
        var next: UInt64 = 11
        for _ in 0..<5 {
            try await Self.append(journal, JournalRecords.records(next...(next + 9)), loop: loop)
            next += 10
        }
        #expect(try await HostJournalTests.waitUntil(90) { probe.durable.withLock { $0 } == next - 1 },
                "one node down: durable \(probe.durable.withLock { $0 }) of \(next - 1)")
        try cluster.start(node: 2)
        #expect(metrics.replication.fenced.load(ordering: .relaxed) == 0)
        #expect(try await loop.submit { journal.isSettled }.get())
    }

    static func streamLast(_ journal: NATSJournal) throws -> UInt64 {
        try journal.connection.streamState(name: journal.stream).last
    }

    static func localBytes(_ dir: String) throws -> [UInt8] {
        let scan = try JournalStore.scan(directory: dir)
        return try scan.segments.flatMap { try Data(contentsOf: URL(fileURLWithPath: dir + "/" + $0.fileName)) }
    }

    /// The fork the failover chaos found (docs/REPLICATION.md §3, "A cut-off writer's late
    /// publishes"): X's messages A (expecting 3) and B (expecting 4) are in flight together
    /// when Y has already stored its own message at 4; A is refused and fences X, B is
    /// stored at 5 behind Y's. Readers skip B by its `Sealstream-Previous` (it follows A,
    /// which is not in the stream): a host opening the stream, a standby following it, and
    /// X and Y restarted on their own directories (X's local copy holds A and B, past its
    /// mark) all end with the same journal, and a writer continues it.
    @Test(.timeLimit(.minutes(5))) func aCutOffWritersLatePublishIsSkippedNotForked() async throws {
        let cluster = try TestCluster()
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let venue = Array(UUID().uuidString.utf8)
        let dirs = (0..<4).map { _ in JournalRecords.scratch() }
        defer { for d in dirs { try? FileManager.default.removeItem(atPath: d) } }
        let (dirX, dirY, dirW, dirZ) = (dirs[0], dirs[1], dirs[2], dirs[3])
        let (metricsX, metricsY) = (HostMetrics(), HostMetrics())
        let (probeX, probeY) = (Probe(), Probe())
        let x = try await Self.open(cluster, venue: venue, dir: dirX, loop: loop, metrics: metricsX, probe: probeX)
        defer { x.stop() }
        for first in stride(from: UInt64(1), through: 21, by: 10) {
            try await Self.append(x, JournalRecords.records(first...(first + 9), payload: 100), loop: loop)
        }
        #expect(try await HostJournalTests.waitUntil(20) { probeX.durable.withLock { $0 } == 30 })
        let y = try await Self.open(cluster, venue: venue, dir: dirY, loop: loop, metrics: metricsY, probe: probeY)
        defer { y.stop() }
        try await Self.append(y, JournalRecords.records(31...32, payload: 77), loop: loop)
        #expect(try await HostJournalTests.waitUntil(20) { probeY.durable.withLock { $0 } == 32 })
        // A standby that read the stream up to Y's message follows what comes next.
        let w = try await Self.open(cluster, venue: venue, dir: dirW, loop: loop, metrics: HostMetrics(), probe: Probe())
        defer { w.stop() }
        let followerMetrics = HostMetrics()
        let follower = try await loop.submit {
            StandbyFollower(connection: w.connection, stream: w.stream, subject: w.subject, store: w.store,
                            lastStreamSequence: w.openedStreamSequence, chain: StreamChain(lastID: w.openedLastID),
                            mark: w.mark, eventLoop: loop, metrics: followerMetrics, logger: Logger(label: "test"))
        }.get()

        // X, cut off since record 30, publishes two messages in one turn of the loop: both in
        // flight before either reply.
        try await loop.submit {
            try JournalRecords.records(31...32, payload: 88).withUnsafeBytes { _ = try x.append($0) }
            try JournalRecords.records(33...34, payload: 88).withUnsafeBytes { _ = try x.append($0) }
        }.get()
        #expect(try await HostJournalTests.waitUntil(20) { metricsX.replication.fenced.load(ordering: .relaxed) == 1 })
        #expect(try await HostJournalTests.waitUntil(20) { (try? Self.streamLast(y)) == 5 }, "B stored behind Y's message")
        #expect(probeX.durable.withLock { $0 } == 30)

        // Y's next message expects 4: refused, Y is fenced (it restarts to go on).
        try await Self.append(y, JournalRecords.records(33...33, payload: 77), loop: loop)
        #expect(try await HostJournalTests.waitUntil(20) { metricsY.replication.fenced.load(ordering: .relaxed) == 1 })
        #expect(probeY.durable.withLock { $0 } == 32)

        // A new host reads 1…6, skips B, and continues the journal after Y's message.
        let metricsZ = HostMetrics()
        let z = try await Self.open(cluster, venue: venue, dir: dirZ, loop: loop, metrics: metricsZ, probe: Probe())
        defer { z.stop() }
        #expect(metricsZ.replication.skippedMessages.load(ordering: .relaxed) == 1)
        #expect(z.openedStreamSequence == 5 && z.store.lastSequence == 32)
        try await Self.append(z, JournalRecords.records(33...33, payload: 99), loop: loop)
        #expect(try await HostJournalTests.waitUntil(20) { z.durable.sequence == 33 })
        let journal = JournalRecords.records(1...30, payload: 100) + JournalRecords.records(31...32, payload: 77)
            + JournalRecords.records(33...33, payload: 99)
        #expect(try Self.localBytes(dirZ) == journal)

        // The standby skips B as it follows, and applies Z's message.
        let followed = try await loop.submit { try follower.finish() }.get()
        #expect(followed == 2 && followerMetrics.replication.skippedMessages.load(ordering: .relaxed) == 1)
        #expect(try Self.localBytes(dirW) == journal)

        // X and Y restarted on their own directories end with the journal too. X's local
        // copy holds A and B, but its mark (30) keeps it from matching B.
        x.stop()
        y.stop()
        for (name, dir) in [("X", dirX), ("Y", dirY)] {
            let metrics = HostMetrics()
            let again = try await Self.open(cluster, venue: venue, dir: dir, loop: loop, metrics: metrics, probe: Probe())
            let last = again.store.lastSequence
            again.stop()
            #expect(try Self.localBytes(dir) == journal, "\(name)")
            #expect(last == 33, "\(name)")
            #expect(metrics.replication.skippedMessages.load(ordering: .relaxed) == 1, "\(name)")
        }
    }
}
