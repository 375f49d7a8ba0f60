#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import Wire

@testable import Host

/// A worker played by the test over a socket pair: the supervisor gets one end as its
/// link, the test reads and writes link messages on the other.
final class FakeWorker: EnclaveTransport, WorkerHandle, @unchecked Sendable {
    let testEnd: Int32
    private let hostEnd: Int32
    var pid: pid_t? { nil }
    var label: String { "fake worker" }

    init() {
        var fds: [Int32] = [0, 0]
        precondition(socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0, &fds) == 0)
        hostEnd = fds[0]
        testEnd = fds[1]
    }

    func launch(
        on eventLoop: EventLoop, initialize: @escaping @Sendable (Channel, WorkerHandle) -> EventLoopFuture<Void>
    ) -> EventLoopFuture<(Channel, WorkerHandle)> {
        NIOPipeBootstrap(group: eventLoop)
            .channelInitializer { channel in initialize(channel, self) }
            .takingOwnershipOfDescriptor(inputOutput: hostEnd)
            .map { ($0, self) }
    }

    func terminate() { shutdown(testEnd, Int32(SHUT_RDWR)) }
    func waitForExit(on eventLoop: EventLoop) -> EventLoopFuture<String> { eventLoop.makeSucceededFuture("exited") }

    func send(_ kind: LinkKind, _ body: [UInt8]) {
        let message = encodeLinkMessage(kind: kind, body: body)
        #expect(message.withUnsafeBytes { write(testEnd, $0.baseAddress!, $0.count) } == message.count)
    }

    /// The next link message from the host, waiting up to 5 s.
    func receive() throws -> (LinkKind, [UInt8]) {
        let header = try read(5)
        let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
        return (try #require(LinkKind(rawValue: header[4])), try read(length - 1))
    }

    private func read(_ count: Int) throws -> [UInt8] {
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: max(count, 1))
        while out.count < count {
            var p = pollfd(fd: testEnd, events: Int16(POLLIN), revents: 0)
            try #require(poll(&p, 1, 5_000) == 1, "the host sent nothing for 5 s")
            let n = chunk.withUnsafeMutableBytes { Glibc.read(testEnd, $0.baseAddress!, count - out.count) }
            try #require(n > 0, "the link closed")
            out += chunk[0..<n]
        }
        return out
    }
}

@Suite("Supervisor and journal", .serialized)
struct SupervisorJournalTests {
    static let hello = Array(#"{"instanceID":"0a","signer":"0x0000000000000000000000000000000000000001","storageKey":"file-0600"}"#.utf8)

    static func make(_ dir: String, preallocate: Bool = false) async throws
        -> (EnclaveSupervisor, FakeWorker, HostMetrics)
    {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let metrics = HostMetrics()
        let worker = FakeWorker()
        var configuration = HostConfiguration(dataDirectory: dir, enclavePath: "/nonexistent", venueConfigPath: "/nonexistent")
        configuration.restartDelayMillis = 60_000
        let logger = Logger(label: "test")
        let supervisor = EnclaveSupervisor(
            eventLoop: loop, configuration: configuration, transport: worker, metrics: metrics, logger: logger)
        try await loop.submit {
            let (store, _) = try JournalStore.open(
                directory: dir + "/journal", preallocate: preallocate,
                onPreallocationFailure: { _ in metrics.journalPreallocationErrors.add(1, ordering: .relaxed) })
            supervisor.journal = HostJournal(store: store, eventLoop: loop, metrics: metrics, logger: logger)
        }.get()
        return (supervisor, worker, metrics)
    }

    /// Hello → the stored journal and replayEnd → recovered → serving; then a journal
    /// message's records are on disk before the message after it is processed.
    @Test func feedsTheJournalThenServesAndGates() async throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try JournalRecords.write(JournalRecords.records(1...5), dir + "/journal", 1)
        let (supervisor, worker, metrics) = try await Self.make(dir)
        let started = supervisor.start()
        worker.send(.hello, Self.hello)
        let (kind, body) = try worker.receive()
        #expect(kind == .journalReplay && body == JournalRecords.records(1...5))
        let (endKind, end) = try worker.receive()
        #expect(endKind == .replayEnd && end == [0, 0, 0, 0, 0, 0, 0, 0] + [0, 0, 0, 0])
        let recovering = try await supervisor.eventLoop.submit {
            (supervisor.pid != nil, supervisor.refusalReason, [UInt8](repeating: 0, count: 8).withUnsafeBytes { supervisor.forward(route: 1, frame: $0) })
        }.get()
        #expect(recovering.0 && recovering.1 == .enclaveUnavailable && !recovering.2, "no client frame before recovered")
        worker.send(.recovered, [UInt8](repeating: 0, count: 32))
        try await started.get()
        // A journal message, then stats: the stats are processed only once 6…7 are durable.
        worker.send(.journal, JournalRecords.records(6...7))
        var stats = EnclaveStats()
        stats.globalSequence = 42
        worker.send(.stats, Array(stats.encode().dropFirst(5)))
        let deadline = Date().addingTimeInterval(5)
        while metrics.enclaveStats.withLock({ $0 }) == nil, Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
        #expect(metrics.enclaveStats.withLock { $0?.globalSequence } == 42)
        #expect(metrics.journalDurableSequence.load(ordering: .relaxed) == 7)
        #expect(try JournalStore.scan(directory: dir + "/journal", repair: false).lastSequence == 7)
        // With no sync ever completing (the sync thread stopped), what follows a journal
        // message is held, not processed.
        try await supervisor.eventLoop.submit { supervisor.journal?.stop() }.get()
        worker.send(.journal, JournalRecords.records(8...8))
        stats.globalSequence = 43
        worker.send(.stats, Array(stats.encode().dropFirst(5)))
        // Both messages reached the supervisor once the stats are held behind record 8 (a
        // deadline, not a fixed sleep: with the whole suite running in parallel on two cores
        // the pipe hop took more than 300 ms here and more than 5 s in CI).
        let deadline2 = Date().addingTimeInterval(30)
        var held = 0
        while held != 1, Date() < deadline2 {
            held = try await supervisor.eventLoop.submit { supervisor.gate.heldCount }.get()
            if held != 1 { try await Task.sleep(for: .milliseconds(10)) }
        }
        #expect(held == 1)
        try await Task.sleep(for: .milliseconds(100))
        #expect(metrics.enclaveStats.withLock { $0?.globalSequence } == 42)
        #expect(metrics.journalDurableSequence.load(ordering: .relaxed) == 7)
    }

    /// journalRejected stops start-up with the record's segment and offset.
    @Test func rejectedJournalNamesRecordSegmentAndOffset() async throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        try JournalRecords.write(JournalRecords.records(1...5), dir + "/journal", 1)
        let (supervisor, worker, _) = try await Self.make(dir)
        let started = supervisor.start()
        worker.send(.hello, Self.hello)
        _ = try worker.receive()
        worker.send(.journalRejected, [0, 0, 0, 0, 0, 0, 0, 3, 1])
        let error = await #expect(throws: JournalRejectedError.self) { try await started.get() }
        #expect(error?.segment == "00000000000000000001.seg" && error?.offset == 2 * JournalRecords.record(1).count)
        #expect(error?.description.contains("record 3") == true)
        try await supervisor.eventLoop.submit { supervisor.journal?.stop() }.get()
    }

    /// Disk full (a tmpfs made for the test): client frames are refused with
    /// journalUnavailable and the worker's messages held; once space is freed the records
    /// are written, the held messages released and frames forwarded again. With
    /// preallocation the spare (64 MiB) never fits: each fill fails (counted), the segment is
    /// created inline (counted) and its write fails like any other.
    @Test(arguments: [false, true]) func diskFullRefusesThenRecovers(preallocate: Bool) async throws {
        let dir = JournalRecords.scratch()
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let status = try HostJournalTests.run("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", dir])
        try #require(status == 0, "cannot mount a 256 KiB tmpfs at \(dir): this test needs root (mount -t tmpfs)")
        defer { _ = try? HostJournalTests.run("/bin/umount", [dir]) }
        let (supervisor, worker, metrics) = try await Self.make(dir, preallocate: preallocate)
        let started = supervisor.start()
        worker.send(.hello, Self.hello)
        #expect(try worker.receive().0 == .replayEnd)
        worker.send(.recovered, [UInt8](repeating: 0, count: 32))
        try await started.get()
        _ = try HostJournalTests.run("/bin/dd", ["if=/dev/zero", "of=\(dir)/filler", "bs=4096"])
        if preallocate {
            let failed = try await HostJournalTests.waitUntil(5) {
                metrics.journalPreallocationErrors.load(ordering: .relaxed) >= 1
            }
            #expect(failed, "the 64 MiB spare cannot fit on 256 KiB")
        }
        worker.send(.journal, JournalRecords.records(1...3))
        var stats = EnclaveStats()
        stats.globalSequence = 3
        worker.send(.stats, Array(stats.encode().dropFirst(5)))
        let deadline = Date().addingTimeInterval(5)
        while metrics.journalAvailable.load(ordering: .relaxed) == 1, Date() < deadline { try await Task.sleep(for: .milliseconds(5)) }
        // The stats message may be read after the failed write made the journal unavailable.
        while try await supervisor.eventLoop.submit({ supervisor.gate.heldCount }).get() == 0, Date() < deadline {
            try await Task.sleep(for: .milliseconds(5))
        }
        let full = try await supervisor.eventLoop.submit {
            (supervisor.refusalReason, [UInt8](repeating: 0, count: 8).withUnsafeBytes { supervisor.forward(route: 1, frame: $0) },
             supervisor.gate.heldCount)
        }.get()
        #expect(full.0 == .journalUnavailable && !full.1 && full.2 == 1)
        #expect(metrics.journalErrors.load(ordering: .relaxed) >= 1 && metrics.enclaveStats.withLock { $0 } == nil)
        #expect(metrics.journalPendingRecords.load(ordering: .relaxed) == 3, "records 1...3 wait for the disk")
        // Each inline creation counts: the first write's, and a retry's after the cut-back.
        let fallbacks = metrics.journalSegmentFallbacks.load(ordering: .relaxed)
        #expect(preallocate ? fallbacks >= 1 : fallbacks == 0)
        try FileManager.default.removeItem(atPath: dir + "/filler")
        let later = Date().addingTimeInterval(5)
        while metrics.enclaveStats.withLock({ $0 }) == nil, Date() < later { try await Task.sleep(for: .milliseconds(10)) }
        #expect(metrics.journalAvailable.load(ordering: .relaxed) == 1)
        #expect(metrics.enclaveStats.withLock { $0?.globalSequence } == 3)
        #expect(metrics.journalPendingRecords.load(ordering: .relaxed) == 0)
        let after = try await supervisor.eventLoop.submit {
            (supervisor.refusalReason, [UInt8](repeating: 0, count: 8).withUnsafeBytes { supervisor.forward(route: 1, frame: $0) })
        }.get()
        #expect(after.0 == .enclaveUnavailable && after.1, "forwarding again")
        #expect(try JournalStore.scan(directory: dir + "/journal", repair: false).lastSequence == 3)
        try await supervisor.eventLoop.submit { supervisor.journal?.stop() }.get()
    }

    /// A market data message with a line the host cannot index (here a non-canonical number
    /// deep in a trade) is bad enclave output: counted in `publish_errors_total`, and none of
    /// its lines appended; the next good message is appended as usual.
    @Test func aRefusedMarketDataLineIsCountedAndNothingAppended() async throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (supervisor, worker, metrics) = try await Self.make(dir)
        let started = supervisor.start()
        worker.send(.hello, Self.hello)
        #expect(try worker.receive().0 == .replayEnd)
        worker.send(.recovered, [UInt8](repeating: 0, count: 32))
        try await started.get()
        let good = #"{"batchIndex":0,"market":1,"marketSequence":1,"trades":[{"size":2}]}"# + "\n"
        let bad = #"{"batchIndex":0,"market":2,"marketSequence":1,"trades":[{"size":2e0}]}"# + "\n"
        worker.send(.marketData, Array((good + bad).utf8))
        let counted = try await HostJournalTests.waitUntil(5) { metrics.publishErrors.load(ordering: .relaxed) == 1 }
        #expect(counted)
        let file = dir + "/outputs/marketdata.jsonl"
        #expect(FileManager.default.contents(atPath: file) == Data())
        worker.send(.marketData, Array(good.utf8))
        let appended = try await HostJournalTests.waitUntil(5) { FileManager.default.contents(atPath: file) == Data(good.utf8) }
        #expect(appended && metrics.publishErrors.load(ordering: .relaxed) == 1)
        try await supervisor.eventLoop.submit { supervisor.journal?.stop() }.get()
    }
}
