import Foundation
import Testing

@testable import Host

/// `sealstream-host replay` against a fake worker (a Python script written by the test):
/// it says hello, reads the journal and replayEnd, checks it got every record, then sends
/// the headers the test chose, `recovered` (or `journalRejected`), and exits.
@Suite("Journal replay runner", .serialized)
struct JournalReplayRunnerTests {
    static let script = #"""
        #!/usr/bin/env python3
        import os, struct, sys, json
        assert sys.argv[-1] == "--replay", sys.argv
        out, inp = sys.stdout.buffer, sys.stdin.buffer
        def send(kind, body):
            out.write(struct.pack(">IB", len(body) + 1, kind) + body); out.flush()
        def read(n):
            b = b""
            while len(b) < n:
                c = inp.read(n - len(b))
                if not c: sys.exit(4)
                b += c
            return b
        send(0x81, json.dumps({"instanceID": "0a", "storageKey": "file-0600"}).encode())
        records, expected = 0, 1
        while True:
            length, kind = struct.unpack(">IB", read(5))
            body = read(length - 1)
            if kind == 0x04:
                assert body == b"\0" * 12, body
                break
            assert kind == 0x03 and len(body) <= 1 << 20
            at = 0
            while at < len(body):
                t, seq = struct.unpack(">I", body[at+4:at+8])[0], struct.unpack(">Q", body[at+8:at+16])[0]
                assert seq == expected, (seq, expected)
                expected += 1; records += 1; at += t
        if records != int(os.environ["FAKE_RECORDS"]): sys.exit(3)
        reject = os.environ.get("FAKE_REJECT")
        if reject:
            send(0x89, struct.pack(">QB", int(reject), 1)); sys.exit(1)
        for line in open(os.environ["FAKE_HEADERS"], "rb"):
            send(0x85, line)
        send(0x88, struct.pack(">QQQQ", records, records, records, 0))
        """#

    static func header(_ index: Int, root: String) -> String { #"{"batchIndex":\#(index),"stateRoot":"\#(root)"}"# }

    static func setUp() throws -> (dir: String, worker: String) {
        try #require(try HostJournalTests.run("/usr/bin/env", ["python3", "-c", ""]) == 0,
                     "the fake worker needs python3 on PATH (apt-get install python3)")
        let dir = JournalRecords.scratch()
        try JournalRecords.write(JournalRecords.records(1...3000, payload: 1000), dir + "/journal", 1)
        try JournalRecords.write(JournalRecords.records(3001...3010), dir + "/journal", 3001)
        try FileManager.default.createDirectory(atPath: dir + "/outputs", withIntermediateDirectories: true)
        let published = header(0, root: "0x01") + "\n" + header(1, root: "0x02") + "\n"
        try Data(published.utf8).write(to: URL(fileURLWithPath: dir + "/outputs/batches.jsonl"))
        let worker = dir + "/fake-worker"
        try Data(script.utf8).write(to: URL(fileURLWithPath: worker))
        try FileManager.default.setAttributes([.posixPermissions: 0o755], ofItemAtPath: worker)
        return (dir, worker)
    }

    /// The fake worker's environment, given to it alone: the test process's own is never
    /// changed (a `setenv` races every other test that spawns a process at that moment:
    /// Foundation's `Process.run` copies `environ` while glibc reallocates it).
    static func environment(_ dir: String, reject: UInt64? = nil) -> [String: String] {
        var env = ["FAKE_HEADERS": dir + "/fake-headers", "FAKE_RECORDS": "3010",
                   "PATH": ProcessInfo.processInfo.environment["PATH"] ?? "/usr/bin:/bin"]
        if let reject { env["FAKE_REJECT"] = String(reject) }
        return env
    }

    static func run(_ dir: String, _ worker: String, headers: [String], reject: UInt64? = nil) throws -> ReplayVerdict {
        try Data(headers.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: dir + "/fake-headers"))
        return try JournalReplayRunner.run(dataDirectory: dir, enclave: worker, arguments: [],
                                           environment: environment(dir, reject: reject))
    }

    @Test func matchingReplayReportsTheFinalStateRoot() throws {
        let (dir, worker) = try Self.setUp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        var fed: [(Int, Int)] = []
        let headers = [Self.header(0, root: "0x01"), Self.header(1, root: "0x02"), Self.header(2, root: "0x03")]
        try Data(headers.map { $0 + "\n" }.joined().utf8).write(to: URL(fileURLWithPath: dir + "/fake-headers"))
        let verdict = try JournalReplayRunner.run(dataDirectory: dir, enclave: worker, arguments: [],
                                                  environment: Self.environment(dir)) { fed.append(($0, $1)) }
        #expect(verdict == .match(batches: 2, beyond: 1, stateRoot: "0x03"))
        #expect(fed.count > 1 && fed.last.map { $0.0 == $0.1 } == true, "progress reaches the total")
    }

    @Test func firstDifferingBatchIsNamed() throws {
        let (dir, worker) = try Self.setUp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let verdict = try Self.run(dir, worker, headers: [Self.header(0, root: "0x01"), Self.header(1, root: "0x99")])
        #expect(verdict == .mismatch(batch: 1))
    }

    @Test func rejectionNamesRecordSegmentAndOffset() throws {
        let (dir, worker) = try Self.setUp()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        #expect {
            try Self.run(dir, worker, headers: [], reject: 3005)
        } throws: { error in
            guard case .rejected(let e) = error as? ReplayError else { return false }
            return e.segment == "00000000000000003001.seg" && e.offset == 4 * JournalRecords.record(1).count
        }
    }
}
