#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Journal
import Testing
import VenueTools

/// The zero-page rule with the real host (docs/DURABILITY.md §3.3). A power loss is
/// simulated on the files: after a host wrote and acknowledged a journal and stopped,
/// whole records of later sequences (never acknowledged: no host ever sent them) are put
/// one page past the end of its records, as if a power loss had kept that later page of
/// an unsynced write and lost the one before it. The restarted host must cut them, say
/// so, and recover every receipted order.
@Suite("Power loss", .serialized)
struct PowerLossTests {
    static let orders = 12
    static let page = 4096

    static func scenario(in directory: URL, ids: String, orders: Int) throws -> URL {
        var text = "trader pl account=71\ndeposit pl 1000000\n"
            + "price BTC-PERP 60000 publisher=pyth-a\nprice BTC-PERP 60001 publisher=pyth-b\n"
        for i in 0..<orders { text += "order pl buy BTC-PERP 0.001 @ 59000 id=\(ids)-\(i)\n" }
        let file = directory.appendingPathComponent("powerloss-\(ids).txt")
        try text.write(to: file, atomically: true, encoding: .utf8)
        return file
    }

    static func runScenario(_ host: HostProcess, receipts: URL, ids: String = "pl", orders: Int = orders) throws
        -> ScenarioSummary
    {
        let run = try runCommand(try Binaries.path("sealstream-client"), [
            "scenario", try scenario(in: host.workDirectory, ids: ids, orders: orders).path, "--host", host.address,
            "--venue", Binaries.venueConfig,
            "--json", "--receipts-out", receipts.path,
        ] + (try Binaries.softwarePolicyArguments(in: host.workDirectory)))
        #expect(run.status == 0, "\(run.stderr)")
        return try JSONDecoder().decode(ScenarioSummary.self, from: Data(run.stdout.utf8))
    }

    /// A record the host's scan accepts (frame and CRC; the ciphertext is filler: the cut
    /// removes it before any worker could try to open it).
    static func record(_ sequence: UInt64) -> [UInt8] {
        let length = JournalFrame.minLength + 60
        var r = [UInt8](repeating: 0x5a, count: length)
        r[0..<4] = ArraySlice(JournalFrame.magic)
        withUnsafeBytes(of: UInt32(length).bigEndian) { r[4..<8] = ArraySlice($0) }
        withUnsafeBytes(of: sequence.bigEndian) { r[8..<16] = ArraySlice($0) }
        r[16] = JournalFrame.Kind.input.rawValue
        withUnsafeBytes(of: CRC32C.checksum(r[0..<(length - 4)]).bigEndian) { r[(length - 4)...] = ArraySlice($0) }
        return r
    }

    /// The offsets of the segment's whole records from the start, then where they end, and
    /// the last one's sequence.
    static func records(_ bytes: [UInt8]) -> (starts: [Int], end: Int, last: UInt64) {
        var offset = 0
        var last: UInt64 = 0
        var starts: [Int] = []
        while let frame = try? JournalFrame.parse(
            Array(bytes[offset..<min(bytes.count, offset + JournalFrame.maxLength)])) {
            starts.append(offset)
            offset += frame.length
            last = frame.sequence
        }
        return (starts, offset, last)
    }

    static func recordsEnd(_ bytes: [UInt8]) -> (end: Int, last: UInt64) {
        let r = records(bytes)
        return (r.end, r.last)
    }

    /// The first log line `name` of `host`, waited for up to 30 s.
    static func event(_ host: HostProcess, _ name: String) -> [String: String]? {
        _ = SnapshotRecoveryTests.waitFor(30) { host.logEvents.contains { $0["event"] == name } }
        return host.logEvents.first { $0["event"] == name }
    }

    static func checkRecovered(_ data: URL, receipts: URL) throws {
        let check = try runCommand(try Binaries.path("sealstream-client"),
                                   ["chaos-check", "--data-dir", data.path, receipts.path])
        #expect(check.status == 0 && check.stdout.contains("violations 0"), "\(check.stdout)\(check.stderr)")
        let replay = try runCommand(try Binaries.path("sealstream-host"), [
            "replay", "--data-dir", data.path, "--config", Binaries.venueConfig])
        #expect(replay.status == 0 && replay.stdout.contains("replay matches"), "\(replay.stdout)\(replay.stderr)")
    }

    @Test(.timeLimit(.minutes(3))) func aZeroPageAfterTheAcknowledgedRecordsIsCutAndEveryReceiptSurvives() throws {
        let host = try HostProcess(label: "powerloss")
        host.keepsWorkDirectory = true
        defer { try? FileManager.default.removeItem(at: host.workDirectory) }
        let receipts = host.workDirectory.appendingPathComponent("receipts.jsonl")
        let first = try Self.runScenario(host, receipts: receipts)
        #expect(first.accepted == Self.orders && first.missingReceipts == 0, "\(first)")
        #expect(host.stop() == 0)

        let segment = host.dataDirectory.appendingPathComponent("journal/00000000000000000001.seg")
        var bytes = [UInt8](try Data(contentsOf: segment))
        let (end, last) = Self.recordsEnd(bytes)
        #expect(last > UInt64(Self.orders) && end > 0)
        // Record last + 1 was in the page that was lost (zeros from `end` to its boundary);
        // records last + 2 … last + 4 were in the next page, which was kept.
        let boundary = (end / Self.page + 1) * Self.page
        let later = (last + 2...last + 4).flatMap(Self.record)
        try #require(boundary + later.count + Self.page <= bytes.count, "the segment is preallocated")
        #expect(bytes[end..<boundary].allSatisfy { $0 == 0 })
        bytes.replaceSubrange(boundary..<(boundary + later.count), with: later)
        try Data(bytes).write(to: segment)
        let lastNonZero = bytes.lastIndex { $0 != 0 }! + 1

        let next = try HostProcess(label: "powerloss", workDirectory: host.workDirectory)
        next.keepsWorkDirectory = true
        let tail = try #require(next.logEvents.first { $0["event"] == "journal_tail_truncated" }, "\(next.log)")
        #expect(tail["problem"] == "zero page" && tail["offset"] == "\(end)" && tail["gap_offset"] == "\(end)",
                "\(tail)")
        #expect(tail["records"] == "4" && tail["bytes"] == "\(lastNonZero - end)", "\(tail)")
        #expect(tail["cause"]?.hasPrefix("power loss") == true, "\(tail)")
        let opened = try #require(next.logEvents.first { $0["event"] == "journal_opened" })
        #expect(opened["last_sequence"] == "\(last)", "\(opened)")
        let zeroPages = "sealstream_host_journal_tail_zero_page_truncations_total"
        #expect(SnapshotRecoveryTests.waitFor(30) { next.metric(zeroPages) == 1 }, "\(next.log)")
        #expect(next.metric("sealstream_host_journal_tail_dropped_records_total") == 4)
        let recovered = try #require(Self.event(next, "enclave_recovered"), "\(next.log)")
        #expect(recovered["records_replayed"] == "\(last)", "\(recovered)")

        // Every order receipted before is in the recovered state: sent again, each is a duplicate.
        let again = try Self.runScenario(next, receipts: host.workDirectory.appendingPathComponent("again.jsonl"))
        #expect(again.accepted == 0 && again.duplicates >= Self.orders, "\(again)")
        #expect(next.stop() == 0)
        try Self.checkRecovered(next.dataDirectory, receipts: receipts)
    }

    /// The same with the host's own sealed records after the gap. A first run's orders are
    /// acknowledged and its data directory kept; a second run appends more (they play the
    /// unsynced write); the first run's directory then gets the second run's segment with
    /// the rest of the page after the first run's records zeroed (that page lost, the later
    /// ones kept). The restart cuts every record of the second run, counts the lost one
    /// and those whole after the page, and recovers exactly the first run.
    @Test(.timeLimit(.minutes(4))) func theHostsOwnRecordsAfterALostPageAreCut() throws {
        let host = try HostProcess(label: "powerloss-real")
        host.keepsWorkDirectory = true
        defer { try? FileManager.default.removeItem(at: host.workDirectory) }
        let receipts = host.workDirectory.appendingPathComponent("receipts.jsonl")
        let first = try Self.runScenario(host, receipts: receipts)
        #expect(first.accepted == Self.orders && first.missingReceipts == 0, "\(first)")
        #expect(host.stop() == 0)
        let saved = host.workDirectory.appendingPathComponent("acknowledged")
        try FileManager.default.copyItem(at: host.dataDirectory, to: saved)

        let second = try HostProcess(label: "powerloss-real", workDirectory: host.workDirectory)
        second.keepsWorkDirectory = true
        let more = try Self.runScenario(second, receipts: host.workDirectory.appendingPathComponent("unsynced.jsonl"),
                                        ids: "later", orders: 40)
        #expect(more.accepted == 40, "\(more)")
        #expect(second.stop() == 0)

        let name = "journal/00000000000000000001.seg"
        let acknowledged = [UInt8](try Data(contentsOf: saved.appendingPathComponent(name)))
        var bytes = [UInt8](try Data(contentsOf: host.dataDirectory.appendingPathComponent(name)))
        let (end, last) = Self.recordsEnd(acknowledged)
        let written = Self.records(bytes)
        #expect(bytes[..<end] == acknowledged[..<end], "the second run appended")
        let boundary = (end / Self.page + 1) * Self.page
        let wholeAfter = written.starts.filter { $0 >= boundary }.count
        try #require(wholeAfter > 0 && written.end > boundary, "the second run wrote past the next page")
        for i in end..<boundary { bytes[i] = 0 }
        let lastNonZero = bytes.lastIndex { $0 != 0 }! + 1
        try Data(bytes).write(to: saved.appendingPathComponent(name))
        try FileManager.default.removeItem(at: host.dataDirectory)
        try FileManager.default.moveItem(at: saved, to: host.dataDirectory)

        let next = try HostProcess(label: "powerloss-real", workDirectory: host.workDirectory)
        next.keepsWorkDirectory = true
        let tail = try #require(next.logEvents.first { $0["event"] == "journal_tail_truncated" }, "\(next.log)")
        #expect(tail["problem"] == "zero page" && tail["offset"] == "\(end)" && tail["gap_offset"] == "\(end)",
                "\(tail)")
        #expect(tail["records"] == "\(1 + wholeAfter)" && tail["bytes"] == "\(lastNonZero - end)", "\(tail)")
        let recovered = try #require(Self.event(next, "enclave_recovered"), "\(next.log)")
        #expect(recovered["records_replayed"] == "\(last)" && written.last > last, "\(recovered)")
        #expect(next.stop() == 0)
        try Self.checkRecovered(next.dataDirectory, receipts: receipts)
    }
}
