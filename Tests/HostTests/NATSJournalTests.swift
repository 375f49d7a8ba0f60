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
}
