#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import NIOCore
import NIOPosix
import Synchronization
import Testing

@testable import Host

/// The journal as the supervisor drives it: group commit, the durable watermark, and the
/// disk-full cycle on a filesystem made for the test.
@Suite("Host journal", .serialized)
struct HostJournalTests {
    final class Probe: @unchecked Sendable {
        let durable = Mutex<UInt64>(0)
        let availability = Mutex<[Bool]>([])
    }

    static func waitUntil(_ seconds: Double, _ condition: () -> Bool) async throws -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            try await Task.sleep(for: .milliseconds(10))
        }
        return condition()
    }

    static func make(_ dir: String, loop: EventLoop, metrics: HostMetrics, probe: Probe, lanes: Int = 1,
                     preallocate: Bool = false) async throws -> HostJournal
    {
        try await loop.submit {
            let (store, _) = try JournalStore.open(
                directory: dir, rollBytes: 16 * 1024, syncLanes: lanes, preallocate: preallocate,
                onPreallocationFailure: { _ in metrics.journalPreallocationErrors.add(1, ordering: .relaxed) })
            let journal = HostJournal(store: store, eventLoop: loop, metrics: metrics, logger: Logger(label: "test"))
            journal.retryInterval = .milliseconds(100)
            journal.onDurable = { s in probe.durable.withLock { $0 = s } }
            journal.onAvailability = { a in probe.availability.withLock { $0.append(a) } }
            return journal
        }.get()
    }

    @Test func appendsBecomeDurableAndScanBack() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let metrics = HostMetrics()
        let probe = Probe()
        let journal = try await Self.make(dir, loop: loop, metrics: metrics, probe: probe)
        defer { journal.stop() }
        for first in stride(from: UInt64(1), through: 991, by: 10) {
            let bytes = JournalRecords.records(first...(first + 9), payload: 200)
            try await loop.submit { try bytes.withUnsafeBytes { _ = try journal.append($0) } }.get()
        }
        #expect(try await Self.waitUntil(5) { probe.durable.withLock { $0 } == 1000 })
        #expect(try await loop.submit { journal.isSettled }.get())
        #expect(metrics.journalFsync.count >= 1)
        #expect(metrics.journalBytes.load(ordering: .relaxed) == UInt64(1000 * JournalRecords.record(1, payload: 200).count))
        let report = try JournalStore.scan(directory: dir)
        #expect(report.records == 1000 && report.segments.count > 1 && report.truncated == nil)
    }

    /// Disk full: the journal says unavailable, holds what it cannot write, and once space
    /// is freed writes it all and says available again; nothing is lost or duplicated. With
    /// one sync lane and with two (docs/DURABILITY.md §3, *sync lanes*), and with
    /// preallocated segments: the first segment is a spare, the next spare does not fit
    /// (a failed fill, counted), so the next segment is created inline (counted) and its
    /// writes fail like any other.
    @Test(arguments: [(1, false), (2, false), (1, true)])
    func diskFullThenRecovery(lanes: Int, preallocate: Bool) async throws {
        let mount = JournalRecords.scratch()
        try FileManager.default.createDirectory(atPath: mount, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: mount) }
        let status = try Self.run("/bin/mount", ["-t", "tmpfs", "-o", "size=256k", "tmpfs", mount])
        try #require(status == 0, "cannot mount a 256 KiB tmpfs at \(mount): this test needs root (mount -t tmpfs)")
        defer { _ = try? Self.run("/bin/umount", [mount]) }
        let filler = mount + "/filler"
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let metrics = HostMetrics()
        let probe = Probe()
        let journal = try await Self.make(mount + "/journal", loop: loop, metrics: metrics, probe: probe, lanes: lanes,
                                          preallocate: preallocate)
        defer { journal.stop() }
        // The test runs every retry itself, at the moment it chooses.
        try await loop.submit { journal.retryInterval = .hours(1) }.get()
        // Fill the filesystem, leaving a few pages (with preallocation: once the first spare
        // is ready, and fewer than a segment's 16 KiB).
        var pages = 56
        if preallocate {
            journal.store.filler!.waitUntilReady()
            var fs = statvfs()
            try #require(statvfs(mount, &fs) == 0)
            pages = (Int(fs.f_bavail) * Int(fs.f_frsize) - 12 * 1024) / 4096
        }
        _ = try Self.run("/bin/dd", ["if=/dev/zero", "of=\(filler)", "bs=4096", "count=\(pages)"])
        var last: UInt64 = 0
        while try await loop.submit({ journal.isAvailable }).get(), last < 2000 {
            let bytes = JournalRecords.records((last + 1)...(last + 4), payload: 1000)
            try await loop.submit { try bytes.withUnsafeBytes { _ = try journal.append($0) } }.get()
            last += 4
            try await Task.sleep(for: .milliseconds(2))
        }
        #expect(metrics.journalAvailable.load(ordering: .relaxed) == 0, "the disk never filled")
        #expect(metrics.journalErrors.load(ordering: .relaxed) >= 1)
        if preallocate {
            #expect(metrics.journalSegmentsPreallocated.load(ordering: .relaxed) == 1)
            // The failed fill is the filler thread's, which may not have run yet when the
            // event loop's writes fail (a CI run under load saw 0 here): wait for it.
            #expect(try await Self.waitUntil(5) { metrics.journalPreallocationErrors.load(ordering: .relaxed) >= 1 })
            #expect(metrics.journalSegmentFallbacks.load(ordering: .relaxed) >= 1)
        }
        // Still accepted while unavailable: held, not written.
        let more = JournalRecords.records((last + 1)...(last + 4), payload: 1000)
        try await loop.submit { try more.withUnsafeBytes { _ = try journal.append($0) } }.get()
        last += 4
        #expect(probe.durable.withLock { $0 } < last)
        // A retry while the disk is still full fails and changes nothing.
        let errorsBefore = metrics.journalErrors.load(ordering: .relaxed)
        try await loop.submit { journal.retry() }.get()
        #expect(try await Self.waitUntil(5) { metrics.journalErrors.load(ordering: .relaxed) > errorsBefore })
        #expect(metrics.journalAvailable.load(ordering: .relaxed) == 0, "no space yet")
        try FileManager.default.removeItem(atPath: filler)
        // The race: records arrive after the retry wrote what was held and before its sync
        // reports. Both happen in one event-loop task, so the sync's outcome is handled
        // only after the append, which therefore finds the journal still unavailable and
        // holds its record. When the outcome arrives the held record must be written and
        // synced too; otherwise it would wait for a retry that nothing schedules.
        let racing = JournalRecords.records((last + 1)...(last + 1), payload: 100)
        try await loop.submit {
            journal.retry()
            try racing.withUnsafeBytes { _ = try journal.append($0) }
        }.get()
        last += 1
        #expect(try await Self.waitUntil(5) { metrics.journalAvailable.load(ordering: .relaxed) == 1 })
        #expect(try await Self.waitUntil(5) { probe.durable.withLock { $0 } == last })
        #expect(probe.availability.withLock { $0 } == [false, true])
        // Back to normal: appends are written directly again.
        let after = JournalRecords.records((last + 1)...(last + 3), payload: 100)
        try await loop.submit { try after.withUnsafeBytes { _ = try journal.append($0) } }.get()
        last += 3
        #expect(try await Self.waitUntil(5) { probe.durable.withLock { $0 } == last })
        let report = try JournalStore.scan(directory: mount + "/journal")
        #expect(report.records == last && report.lastSequence == last && report.truncated == nil)
    }

    static func run(_ tool: String, _ arguments: [String]) throws -> Int32 {
        let p = Process()
        p.executableURL = URL(fileURLWithPath: tool)
        p.arguments = arguments
        p.standardOutput = FileHandle.nullDevice
        p.standardError = FileHandle.nullDevice
        try p.run()
        p.waitUntilExit()
        return p.terminationStatus
    }
}
