import Foundation
import Testing
import Wire

@testable import Host

/// The operator's side of the host without processes: histograms, the exposition, the
/// health verdicts and the hooks that feed them (docs/OPERATIONS.md).
@Suite("Operations: metrics and health")
struct OperationsTests {
    @Test("A histogram counts an observation at a bound into that bound's bucket, cumulatively, above all into +Inf")
    func histogramBuckets() {
        let h = MetricHistogram(bounds: [10, 20, 40], unitsPerExposed: 10)
        for v: UInt64 in [0, 10, 11, 20, 40, 41, 1_000] { h.observe(v) }
        #expect(h.cumulativeCounts() == [2, 4, 5, 7])
        #expect(h.count == 7)
        #expect(h.sum == 112.2)
        let text = h.render(name: "x_seconds", help: "Test.")
        #expect(text == """
            # HELP x_seconds Test.
            # TYPE x_seconds histogram
            x_seconds_bucket{le="1"} 2
            x_seconds_bucket{le="2"} 4
            x_seconds_bucket{le="4"} 5
            x_seconds_bucket{le="+Inf"} 7
            x_seconds_sum 112.2
            x_seconds_count 7

            """)
    }

    @Test("Fractional bounds in seconds render as Prometheus floats")
    func boundsInSeconds() {
        let h = MetricHistogram(bounds: MetricHistogram.seconds([0.00005, 0.25, 2.5]), unitsPerExposed: 1e9)
        h.observe(50_000)
        let text = h.render(name: "y_seconds", help: "Test.")
        #expect(text.contains(#"y_seconds_bucket{le="5e-05"} 1"#))
        #expect(text.contains(#"y_seconds_bucket{le="0.25"} 1"#))
        #expect(text.contains(#"y_seconds_bucket{le="2.5"} 1"#))
        #expect(text.contains("y_seconds_sum 5e-05"))
    }

    @Test("The exposition has every histogram and the new gauges, with the textfile's names")
    func exposition() {
        let m = HostMetrics()
        m.journalFsync.observe(3_000_000)
        m.receiptLatency.observe(80_000)
        m.haltedMarkets.store(2, ordering: .relaxed)
        m.unbatchedSinceNanos.store(1_000_000_000, ordering: .relaxed)
        let text = m.prometheusText(now: 3_500_000_000)
        for name in ["sealstream_host_receipt_latency_seconds", "sealstream_host_batch_close_seconds",
                     "sealstream_host_enclave_link_queue_bytes", "sealstream_host_journal_fsync_seconds"] {
            #expect(text.contains("# TYPE \(name) histogram\n"), "\(name)")
            #expect(text.contains("\(name)_bucket{le=\"+Inf\"}"), "\(name)")
        }
        #expect(text.contains(#"sealstream_host_journal_fsync_seconds_bucket{le="0.005"} 1"#))
        #expect(text.contains(#"sealstream_host_receipt_latency_seconds_bucket{le="0.0001"} 1"#))
        #expect(text.contains("sealstream_host_halted_markets 2\n"))
        #expect(text.contains("sealstream_host_unbatched_events_age_seconds 2.5\n"))
        #expect(text.contains("sealstream_host_frames_in_total 0\n"))
    }

    @Test("The worker's stats reach the exposition: the snapshot fork pause in seconds, every documented name present")
    func enclaveStatsAndTheDocumentedNames() throws {
        let m = HostMetrics()
        var stats = EnclaveStats()
        stats.snapshotsTaken = 3
        stats.snapshotPauseMicrosLast = 420
        stats.snapshotPauseMicrosMax = 1_500
        m.enclaveStats.withLock { $0 = stats }
        let text = m.prometheusText(now: 1)
        #expect(text.contains("sealstream_enclave_snapshots_taken_total 3\n"))
        #expect(text.contains("sealstream_enclave_snapshot_pause_last_seconds 0.00042\n"))
        #expect(text.contains("sealstream_enclave_snapshot_pause_max_seconds 0.0015\n"))
        // docs/OPERATIONS.md's table is normative: every name it lists is exposed (with the
        // worker's stats present), and every family exposed is listed.
        let doc = try String(contentsOfFile: #filePath.components(separatedBy: "/Tests/")[0] + "/docs/OPERATIONS.md", encoding: .utf8)
        let documented = Set(doc.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("| `sealstream_") else { return nil }
            return String(line.dropFirst(3).prefix { $0 != "`" })
        })
        let exposed = Set(text.split(separator: "\n").compactMap { line -> String? in
            guard line.hasPrefix("# TYPE ") else { return nil }
            return String(line.dropFirst(7).prefix { $0 != " " })
        })
        #expect(documented.subtracting(exposed).isEmpty, "documented, not exposed: \(documented.subtracting(exposed).sorted())")
        #expect(exposed.subtracting(documented).isEmpty, "exposed, not documented: \(exposed.subtracting(documented).sorted())")
        // The table's type and labels columns are normative too: `# TYPE` matches the type,
        // and a family's samples carry exactly the documented label names (`le` for a
        // histogram's buckets only).
        var documentedTypes: [String: String] = [:], documentedLabels: [String: Set<String>] = [:]
        let families = try #require(doc.components(separatedBy: "### 2.1 Families").last?.components(separatedBy: "### 2.2").first)
        for line in families.split(separator: "\n") where line.hasPrefix("| `sealstream_") {
            let cells = line.split(separator: "|").map { $0.trimmingCharacters(in: .whitespaces) }
            let name = String(cells[0].dropFirst().prefix { $0 != "`" })
            documentedTypes[name] = cells[1]
            documentedLabels[name] = cells[3] == "—" ? [] : [String(cells[3].dropFirst().prefix { $0 != "`" })]
        }
        var exposedLabels: [String: Set<String>] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                #expect(documentedTypes[String(parts[2])] == String(parts[3]), "type of \(parts[2])")
            } else if !line.hasPrefix("#"), let brace = line.firstIndex(of: "{") {
                var family = String(line[..<brace])
                for suffix in ["_bucket"] where family.hasSuffix(suffix) { family.removeLast(suffix.count) }
                let labels = line[line.index(after: brace)...].prefix { $0 != "}" }.split(separator: ",")
                    .map { String($0.prefix { $0 != "=" }) }
                exposedLabels[family, default: []].formUnion(labels)
            }
        }
        for (name, labels) in documentedLabels {
            #expect(exposedLabels[name, default: []] == labels, "labels of \(name)")
        }
    }

    @Test("Every histogram's bounds are the ones docs/OPERATIONS.md §2.2 lists, in order")
    func documentedBounds() throws {
        let text = HostMetrics().prometheusText(now: 1)
        let doc = try String(contentsOfFile: #filePath.components(separatedBy: "/Tests/")[0] + "/docs/OPERATIONS.md", encoding: .utf8)
        let section = try #require(doc.components(separatedBy: "### 2.2 Histograms").last?.components(separatedBy: "### 2.3").first)
        // "500 µs", "2.5 ms", "1 s", "4 KiB", "16" → the `le` value in the exposed unit.
        func value(_ token: Substring) -> Double? {
            let parts = token.split(separator: " ")
            guard let number = parts.first.flatMap({ Double($0) }) else { return nil }
            let scale: [String: Double] = ["µs": 1e-6, "ms": 1e-3, "s": 1, "KiB": 1_024, "MiB": 1_048_576]
            return parts.count == 1 ? number : scale[String(parts[1])].map { number * $0 }
        }
        var checked = 0
        for line in section.split(separator: "\n") where line.hasPrefix("| `sealstream_") {
            let name = String(line.dropFirst(3).prefix { $0 != "`" })
            let tokens = line.split(separator: "|").last?.split(separator: ",") ?? []
            let documented = tokens.compactMap { value($0.trimmingCharacters(in: .whitespaces)[...]) }
            #expect(!tokens.isEmpty && documented.count == tokens.count, "\(name): unreadable bounds \(tokens)")
            let exposed = text.split(separator: "\n").compactMap { sample -> Double? in
                guard sample.hasPrefix(name + "_bucket{le=\""), !sample.contains("+Inf") else { return nil }
                return Double(sample.dropFirst(name.count + 12).prefix { $0 != "\"" })
            }
            #expect(exposed.count == documented.count, "\(name): exposed \(exposed), documented \(documented)")
            for (e, d) in zip(exposed, documented) { #expect(abs(e - d) <= d * 1e-9, "\(name): \(e) vs \(d)") }
            checked += 1
        }
        #expect(checked == 7)
    }

    @Test("Only capacity shedding marks the host unready")
    func capacityShedding() {
        let m = HostMetrics()
        m.countShed(.handshakeTimeout)
        m.countShed(.perAddressLimit)
        #expect(m.lastShedNanos.load(ordering: .relaxed) == 0)
        m.countShed(.connectionLimit)
        #expect(m.lastShedNanos.load(ordering: .relaxed) > 0)
    }

    @Test("Reply order hands back each answered frame's read time, oldest first")
    func replyReadTimes() {
        var r = ReplyOrder()
        r.forwardedOne(readAt: 10)
        r.forwardedOne(readAt: 20)
        _ = r.enclaveAnswered()
        #expect(r.lastAnswerReadAt == 10)
        r.forwardedOne(readAt: 30)
        _ = r.enclaveAnswered()
        #expect(r.lastAnswerReadAt == 20)
        _ = r.forgetForwarded()
        _ = r.enclaveAnswered()  // nothing in flight: no time
        #expect(r.lastAnswerReadAt == 0)
        r.forwardedOne(readAt: 40)
        _ = r.enclaveAnswered()
        #expect(r.lastAnswerReadAt == 40)
    }

    @Test("Published outputs set batch close time, halted markets, the last oracle price and the unbatched age")
    func publisherHooks() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sealstream-ops-\(UUID().uuidString.prefix(8))")
        defer { try? FileManager.default.removeItem(at: dir) }
        let metrics = HostMetrics()
        let publisher = OutputPublisher(dataDirectory: dir.path, metrics: metrics)
        try publisher.startEpoch(instanceID: "0102030405060708", evidenceJSON: Array(#"{"instanceID":"0102030405060708"}"#.utf8))
        // Three leaves at enclave times 1_000, 2_000 (an oracle price) and 3_000 ns.
        var leaves = [UInt8](repeating: 0, count: 3 * 49)
        for i in 0..<3 {
            leaves[i * 49 + 7] = UInt8(i + 1)
            withUnsafeBytes(of: UInt64((i + 1) * 1_000).bigEndian) { for (k, b) in $0.enumerated() { leaves[i * 49 + 8 + k] = b } }
            leaves[i * 49 + 16] = i == 1 ? 0x04 : 0x03
        }
        try leaves.withUnsafeBytes { try publisher.appendEventLeaves($0) }
        #expect(metrics.unbatchedSinceNanos.load(ordering: .relaxed) > 0)
        #expect(metrics.lastOraclePriceEnclaveTime.load(ordering: .relaxed) == 2_000)
        var line = OutputPublisherTests.headerLine(index: 0, first: 1, last: 3)
        line = Array(String(decoding: line, as: UTF8.self)
            .replacingOccurrences(of: #""enclaveTime":1,"#, with: #""enclaveTime":5001000,"#)
            .replacingOccurrences(of: #""haltedMarkets":[]"#, with: #""haltedMarkets":[2,7]"#).utf8)
        try line.withUnsafeBytes { try publisher.appendBatch($0) }
        // 5_001_000 − 1_000 ns = 5 ms: the 0.005 s bucket, not the 0.001 s one.
        #expect(metrics.batchClose.cumulativeCounts().prefix(2) == [0, 1])
        #expect(metrics.batchClose.sum == 0.005)
        #expect(metrics.haltedMarkets.load(ordering: .relaxed) == 2)
        #expect(metrics.lastBatchEnclaveTime.load(ordering: .relaxed) == 5_001_000)
        #expect(metrics.unbatchedSinceNanos.load(ordering: .relaxed) == 0)
        #expect(metrics.lastBatchPublishedUnixNanos.load(ordering: .relaxed) > 0)
    }

    @Test("DATA is private by default and 0710 with group-readable metrics; a restart without the flag closes it again")
    func dataDirectoryMode() throws {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sealstream-mode-\(UUID().uuidString.prefix(8))").path
        defer { try? FileManager.default.removeItem(atPath: dir) }
        func mode(_ path: String) throws -> Int {
            try (FileManager.default.attributesOfItem(atPath: path)[.posixPermissions] as? Int) ?? -1
        }
        try DataFiles.prepare(directory: dir, mode: DataFiles.directoryMode(groupReadableMetrics: true))
        #expect(try mode(dir) == 0o710)
        try DataFiles.atomicWrite(Data("x".utf8), to: dir + "/metrics.prom", mode: 0o640)
        #expect(try mode(dir + "/metrics.prom") == 0o640)
        try DataFiles.prepare(directory: dir, mode: DataFiles.directoryMode(groupReadableMetrics: false))
        #expect(try mode(dir) == 0o700)
        try DataFiles.atomicWrite(Data("x".utf8), to: dir + "/metrics.prom", mode: 0o600)
        #expect(try mode(dir + "/metrics.prom") == 0o600)
    }
}
