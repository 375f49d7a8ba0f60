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

/// Group commit with more than one sync in flight (docs/DURABILITY.md §3, *sync lanes*):
/// each sync covers what the others in flight cover, each lane syncs through its own open
/// file, and every record still becomes durable exactly as with one lane.
@Suite("Journal sync lanes", .serialized)
struct JournalSyncLaneTests {
    static func file(_ first: UInt64) -> SegmentFile { SegmentFile(fd: -1, name: JournalSegmentName(firstSequence: first)) }

    static func request(_ files: [SegmentFile], directory: Bool = false, sequence: UInt64 = 1) -> JournalSync.Request {
        .init(generation: 0, position: JournalPosition(segment: files.last?.name, size: 0, sequence: sequence),
              files: files, directory: directory)
    }

    @Test func aLoneRequestIsUnchanged() {
        let a = Self.file(1)
        let out = JournalSync.covering(Self.request([a], sequence: 7), inFlight: [])
        #expect(out.files.count == 1 && out.files[0] === a && !out.directory && out.position.sequence == 7)
    }

    @Test func aRequestCoversTheFilesAndDirectoryOfSyncsInFlight() {
        let a = Self.file(1), b = Self.file(100), c = Self.file(200)
        // A sync in flight for segment a and the directory (b was just created); the new
        // request only wrote c. If it finished first, its position would claim records of
        // a and b and a directory entry that no finished sync covered.
        let inFlight = [Self.request([a, b], directory: true, sequence: 150)]
        let out = JournalSync.covering(Self.request([b, c], sequence: 250), inFlight: inFlight)
        #expect(out.directory)
        #expect(out.position.sequence == 250)
        #expect(out.files.count == 3)
        for f in [a, b, c] { #expect(out.files.contains { $0 === f }) }
    }

    @Test func eachLaneSyncsThroughItsOwnOpenFile() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, _) = try JournalStore.open(directory: dir, rollBytes: 4096, syncLanes: 3)
        try store.write(JournalRecords.records(1...20, payload: 200), last: 20)
        let first = try #require(store.current)
        try store.write(JournalRecords.records(21...40, payload: 200), last: 40)
        let second = try #require(store.current)
        #expect(first !== second, "the 4 KiB roll begins a second segment")
        for file in [first, second] {
            let fds = (0..<3).map { file.descriptor(lane: $0) }
            #expect(fds[0] == file.fd)
            #expect(Set(fds).count == 3)
            // Lanes 1 and 2 are their own read-only opens, not dups of the write descriptor.
            for fd in fds.dropFirst() { #expect(fcntl(fd, F_GETFL) & O_ACCMODE == O_RDONLY) }
            #expect(fcntl(file.fd, F_GETFL) & O_ACCMODE == O_WRONLY)
        }
        // Reopened: the last segment gets its lane descriptors too.
        let (again, _) = try JournalStore.open(directory: dir, rollBytes: 4096, syncLanes: 2)
        let reopened = try #require(again.current)
        #expect(reopened.descriptor(lane: 1) != reopened.fd && fcntl(reopened.descriptor(lane: 1), F_GETFD) >= 0)
    }

    @Test func everyRecordBecomesDurableWithThreeLanes() async throws {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let metrics = HostMetrics()
        let durable = Mutex<[UInt64]>([])
        let journal = try await loop.submit {
            let (store, _) = try JournalStore.open(directory: dir, rollBytes: 16 * 1024, syncLanes: 3)
            let journal = HostJournal(store: store, eventLoop: loop, metrics: metrics, logger: Logger(label: "test"))
            journal.onDurable = { s in durable.withLock { $0.append(s) } }
            return journal
        }.get()
        defer { journal.stop() }
        for first in stride(from: UInt64(1), through: 991, by: 10) {
            let bytes = JournalRecords.records(first...(first + 9), payload: 200)
            try await loop.submit { try bytes.withUnsafeBytes { _ = try journal.append($0) } }.get()
        }
        #expect(try await HostJournalTests.waitUntil(10) { durable.withLock { $0.last } == 1000 })
        #expect(try await loop.submit { journal.isSettled }.get())
        // The durable position never goes back, whatever order the lanes finish in.
        let seen = durable.withLock { $0 }
        #expect(zip(seen, seen.dropFirst()).allSatisfy { $0 <= $1 })
        // One wait per journal message; the groups add up to every record.
        #expect(metrics.journalDurableWait.count == 100)
        #expect(metrics.journalGroupRecords.sum == 1000)
        let report = try JournalStore.scan(directory: dir)
        #expect(report.records == 1000 && report.segments.count > 1 && report.truncated == nil)
    }
}

/// Sync pacing (docs/DURABILITY.md §3): a lane starts its next sync no sooner than the
/// interval after the start of its last; a request on a lane idle for longer starts at
/// once; requests made meanwhile merge into the next sync.
@Suite("Journal sync pacing", .serialized)
struct JournalSyncPacingTests {
    final class Outcomes: @unchecked Sendable {
        let lock = NSLock()
        var items: [(at: UInt64, sequence: UInt64)] = []
        func add(_ o: JournalSync.Outcome) {
            guard case .synced(_, let position, _) = o else { return }
            lock.lock()
            items.append((DispatchTime.now().uptimeNanoseconds, position.sequence))
            lock.unlock()
        }
        var snapshot: [(at: UInt64, sequence: UInt64)] {
            lock.lock()
            defer { lock.unlock() }
            return items
        }
    }

    static func waitFor(_ count: Int, _ outcomes: Outcomes, seconds: Double = 20) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while outcomes.snapshot.count < count, Date() < deadline { usleep(2_000) }
        return outcomes.snapshot.count >= count
    }

    @Test func aLaneStartsOneSyncPerIntervalAndRequestsMeanwhileMergeIntoIt() throws {
        let dir = JournalRecords.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (store, _) = try JournalStore.open(directory: dir, rollBytes: 1 << 20, syncLanes: 1)
        try store.write(JournalRecords.records(1...10, payload: 100), last: 10)
        let file = try #require(store.current)
        let interval: UInt64 = 1_500_000_000  // 1.5 s: far above any fdatasync of a few bytes
        let sync = JournalSync(directory: dir, lanes: 1, pacing: .fixed(micros: Int(interval / 1_000)))
        let outcomes = Outcomes()
        sync.start(report: { outcomes.add($0) })
        defer { sync.stop() }
        func request(_ sequence: UInt64) {
            sync.request(.init(generation: 0, position: JournalPosition(segment: file.name, size: 0, sequence: sequence),
                               files: [file], directory: false))
        }
        // An idle lane syncs at once.
        let asked = DispatchTime.now().uptimeNanoseconds
        request(1)
        #expect(Self.waitFor(1, outcomes))
        let first = try #require(outcomes.snapshot.first)
        #expect(first.sequence == 1 && first.at - asked < interval / 2, "the first sync waited for the interval")
        // Three requests right after: none starts before the interval is over, and they
        // merge into one sync of the last position.
        request(2)
        request(3)
        request(4)
        #expect(Self.waitFor(2, outcomes))
        usleep(200_000)
        let all = outcomes.snapshot
        #expect(all.count == 2 && all[1].sequence == 4)
        #expect(all[1].at >= first.at + interval / 2, "the second sync started before the interval")
        #expect(all[1].at >= asked + interval, "a sync started sooner than the interval after the previous one's start")
    }
}
