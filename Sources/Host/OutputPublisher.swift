#if canImport(Glibc)
import Glibc
#endif
import Commitments
import Foundation
import Synchronization

/// Appends the enclave's public outputs to `DATA/outputs/` and answers lookups for the
/// HTTP API (docs/COMMITMENTS.md §4). Everything here is public and checkable against
/// the signed headers; the host holds no secret and vouches for nothing.
///
/// Writes come from the link's event loop (appends to the page cache, in the order the
/// enclave sent them: event leaves and decisions before the header that commits to
/// them). Reads come from the HTTP thread. One lock guards the index and is held only
/// for O(1) or O(log n) work, never for I/O of the reader; the Merkle tree behind event
/// proofs has a lock of its own that appends never take, so building a proof (which can
/// hash millions of leaves the first time) never delays the order path.
public final class OutputPublisher: Sendable {
    struct LineRef {
        var offset: Int
        var length: Int
    }

    struct BatchEntry {
        var line: LineRef
        var firstSequence: UInt64
        var lastSequence: UInt64
        /// Range in `decisions` of this batch's decision lines.
        var decisions: Range<Int>
        /// Range in `marketData` of this batch's market data lines.
        var marketData: Range<Int> = 0..<0
        /// Range in `inputs` of this batch's public input lines.
        var inputs: Range<Int> = 0..<0
        /// Range in `funding` of this batch's funding lines.
        var funding: Range<Int> = 0..<0
    }

    struct Files {
        var batches: Int32 = -1
        var decisions: Int32 = -1
        var events: Int32 = -1
        var marketData: Int32 = -1
        var inputs: Int32 = -1
        var funding: Int32 = -1
    }

    struct State {
        var files = Files()
        var batchesSize = 0
        var decisionsSize = 0
        var eventsSize = 0
        var marketDataSize = 0
        var inputsSize = 0
        var fundingSize = 0
        var batches: [BatchEntry] = []
        var marketData: [LineRef] = []
        /// Market data lines received since the last header (they belong to the next one).
        var pendingMarketData = 0
        /// Market of each line in `marketData`.
        var marketOfLine: [UInt32] = []
        /// Per market, the index in `marketData` of its latest line under a published header.
        var latestLine: [UInt32: Int] = [:]
        /// The lines received since the last header, for the feed.
        var pendingLines: [(head: MarketDataHead, bytes: [UInt8])] = []
        var decisions: [LineRef] = []
        /// Decision lines received since the last header.
        var pendingDecisions = 0
        /// Public input and funding lines (they are sent with their batch, before its header,
        /// so the lines received since the last header belong to the next one).
        var inputs: [LineRef] = []
        var pendingInputs = 0
        var funding: [LineRef] = []
        var pendingFunding = 0
        /// Enclave time of the first event leaf since the last header (the open batch's
        /// first input), for `batch_close_seconds`; nil while no batch is open.
        var openBatchFirstTime: UInt64?
        /// Counts epochs, so a proof tree of an earlier epoch is never used.
        var epoch = 0
    }

    /// Lazily extended tree over `events.log`, for inclusion proofs. Lock order: `state`
    /// may be held while taking `proofs` (startEpoch); never the other way round.
    struct ProofState {
        var epoch = 0
        var tree = MerkleTree()
    }

    public let directory: String
    /// Internal, not private: the lookups of `OutputPublisher+PublicInputs.swift` read it.
    let state = Mutex(State())
    /// Internal, not private: a test holds it to show that appends never take it.
    let proofs = Mutex(ProofState())
    private let metrics: HostMetrics?
    /// Told of every header appended, with its market data lines (the feed); called on the
    /// link thread after the index lock is released, so it must only hand the batch on.
    private let sink = LockedHandler<PublishedBatch>()

    /// A header and its market data lines, as appended.
    public struct PublishedBatch: Sendable {
        public var batchIndex: UInt64
        /// The header line, with its newline.
        public var headerLine: [UInt8]
        /// The batch's market data lines (without newlines) and what the host indexes them by.
        public var lines: [(market: UInt32, marketSequence: UInt64, bytes: [UInt8])]
    }

    /// Sets where each appended batch goes (the market data feed).
    public func onPublished(_ body: @escaping @Sendable (PublishedBatch) -> Void) { sink.set(body) }

    public init(dataDirectory: String, metrics: HostMetrics? = nil) {
        directory = dataDirectory + "/outputs"
        self.metrics = metrics
    }

    deinit {
        state.withLock { Self.closeFiles(&$0.files) }
    }

    // MARK: - Epochs

    /// What `startEpoch` did with the files it found.
    public struct EpochStart: Equatable, Sendable {
        /// True when the files of the same signer's epoch were continued (not archived).
        public var continued = false
        /// Published headers kept (P).
        public var batches = 0
        /// Bytes cut past the last published header: event leaves, decision lines, and a
        /// header line without its newline.
        public var trimmedEventBytes = 0
        public var trimmedDecisionLines = 0
        public var trimmedDecisionBytes = 0
        public var trimmedHeaderBytes = 0
        /// Public input lines (`inputs.jsonl`) cut past the last published header.
        public var trimmedInputLines = 0
        /// Funding lines (`funding.jsonl`) of inputs past the last published header.
        public var trimmedFundingLines = 0
    }

    /// Starts the outputs of a worker (docs/COMMITMENTS.md §4). The epoch is the signer: a
    /// worker whose signer is the current epoch's continues its files, cut back to the last
    /// published header (a tail of leaves and decision lines past it is sent again by the
    /// worker); a different signer (or none before) moves the previous epoch's files to
    /// `outputs/epochs/<its instance id>/`, next to the evidence that names its signer.
    /// `evidenceJSON` is the new worker's hello.
    @discardableResult
    public func startEpoch(instanceID: String, signer: String? = nil, evidenceJSON: [UInt8]) throws -> EpochStart {
        metrics?.unbatchedSinceNanos.store(0, ordering: .relaxed)  // a new worker resends its open batch
        return try state.withLock { s in
            Self.closeFiles(&s.files)
            let epoch = s.epoch + 1
            s = State()
            s.epoch = epoch
            proofs.withLock { $0 = ProofState(epoch: epoch) }
            let fm = FileManager.default
            try fm.createDirectory(atPath: directory, withIntermediateDirectories: true)
            let epochFile = directory + "/epoch.json"
            var start = EpochStart()
            if let old = fm.contents(atPath: epochFile), let previous = try? JSONDecoder().decode(EpochStub.self, from: old) {
                if let signer, previous.signer?.lowercased() == signer.lowercased() {
                    start.continued = true
                } else {
                    let archive = directory + "/epochs/" + previous.instanceID.filter(\.isHexDigit)
                    try fm.createDirectory(atPath: archive, withIntermediateDirectories: true)
                    for name in ["epoch.json"] + Self.outputFiles where fm.fileExists(atPath: directory + "/" + name) {
                        guard rename(directory + "/" + name, archive + "/" + name) == 0 else {
                            throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: archive + "/" + name])
                        }
                    }
                }
            }
            if start.continued {
                try reindexAndTrim(&s, &start)
            } else {
                for name in Self.outputFiles { unlink(directory + "/" + name) }
            }
            try DataFiles.atomicWrite(Data(evidenceJSON), to: epochFile)
            func open(_ name: String) throws -> Int32 {
                let fd = Glibc.open(directory + "/" + name, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0o644)
                guard fd >= 0 else { throw CocoaError(.fileWriteUnknown, userInfo: [NSFilePathErrorKey: directory + "/" + name]) }
                return fd
            }
            s.files = Files(batches: try open("batches.jsonl"), decisions: try open("decisions.jsonl"), events: try open("events.log"),
                            marketData: try open("marketdata.jsonl"), inputs: try open("inputs.jsonl"),
                            funding: try open("funding.jsonl"))
            return start
        }
    }

    /// Rebuilds the index of the continued files and cuts each back to what the last whole
    /// header line covers.
    private func reindexAndTrim(_ s: inout State, _ start: inout EpochStart) throws {
        let fm = FileManager.default
        let batches = [UInt8](fm.contents(atPath: directory + "/batches.jsonl") ?? Data())
        let decisions = [UInt8](fm.contents(atPath: directory + "/decisions.jsonl") ?? Data())
        let eventsSize = ((try? fm.attributesOfItem(atPath: directory + "/events.log"))?[.size] as? Int) ?? 0
        var offset = 0
        let decisionLines = decisions.withUnsafeBytes { Self.lines($0) }
        var usedDecisions = 0
        var lastSequence: UInt64 = 0
        while let newline = batches[offset...].firstIndex(of: 0x0a) {
            let line = Array(batches[offset..<newline])
            guard let record = try? JSONDecoder().decode(BatchRecord.self, from: Data(line)),
                record.batchIndex == UInt64(s.batches.count)
            else { throw PublishError.malformed("outputs/batches.jsonl line \(s.batches.count + 1) is not the next header") }
            let count = Int(record.decisionCount)
            guard usedDecisions + count <= decisionLines.count else {
                throw PublishError.malformed("outputs/decisions.jsonl holds fewer lines than header \(record.batchIndex) counts")
            }
            for l in decisionLines[usedDecisions..<(usedDecisions + count)] {
                s.decisions.append(LineRef(offset: l.lowerBound, length: l.count))
            }
            s.batches.append(BatchEntry(
                line: LineRef(offset: offset, length: line.count), firstSequence: record.firstSequence,
                lastSequence: record.lastSequence, decisions: usedDecisions..<(usedDecisions + count)))
            usedDecisions += count
            lastSequence = record.lastSequence
            offset = newline + 1
        }
        let keepEvents = Int(lastSequence) * EventLeaf.byteCount
        guard eventsSize >= keepEvents else {
            throw PublishError.malformed("outputs/events.log holds \(eventsSize / EventLeaf.byteCount) leaves, the last header covers \(lastSequence)")
        }
        let keepDecisions = usedDecisions == 0 ? 0 : decisionLines[usedDecisions - 1].upperBound + 1
        let (keepInputs, keepFunding) = try reindexPublicInputs(&s, &start)
        start.batches = s.batches.count
        start.trimmedHeaderBytes = batches.count - offset
        start.trimmedEventBytes = eventsSize - keepEvents
        start.trimmedDecisionLines = decisionLines.count - usedDecisions
        start.trimmedDecisionBytes = decisions.count - keepDecisions
        let keepMarketData = try reindexMarketData(&s)
        for (name, size) in [("batches.jsonl", offset), ("decisions.jsonl", keepDecisions), ("events.log", keepEvents),
                             ("marketdata.jsonl", keepMarketData), ("inputs.jsonl", keepInputs), ("funding.jsonl", keepFunding)] {
            guard truncate(directory + "/" + name, off_t(size)) == 0 || errno == ENOENT else {
                throw PublishError.io(errno)
            }
        }
        s.batchesSize = offset
        s.decisionsSize = keepDecisions
        s.eventsSize = keepEvents
        s.marketDataSize = keepMarketData
        s.inputsSize = keepInputs
        s.fundingSize = keepFunding
    }

    /// The files of one epoch's outputs (besides `epoch.json`).
    static let outputFiles = ["batches.jsonl", "decisions.jsonl", "events.log", "marketdata.jsonl", "inputs.jsonl", "funding.jsonl"]

    /// Indexes the continued `marketdata.jsonl` lines of the kept headers (each line names
    /// its batch; lines of one batch are contiguous and precede the next batch's) and
    /// returns the byte size to keep: the lines of batches that have no header go.
    private func reindexMarketData(_ s: inout State) throws -> Int {
        let bytes = [UInt8](FileManager.default.contents(atPath: directory + "/marketdata.jsonl") ?? Data())
        var keep = 0
        var perBatch = [Range<Int>](repeating: 0..<0, count: s.batches.count)
        for range in bytes.withUnsafeBytes({ Self.lines($0) }) {
            let head: MarketDataHead
            do {
                head = try bytes.withUnsafeBytes { try MarketDataHead.scan(UnsafeRawBufferPointer(rebasing: $0[range])) }
            } catch {
                throw PublishError.malformed(
                    "outputs/marketdata.jsonl line \(s.marketData.count + 1) is not a market data record: \(error)")
            }
            guard head.batchIndex < UInt64(s.batches.count) else { break }
            let b = Int(head.batchIndex)
            if perBatch[b].isEmpty { perBatch[b] = s.marketData.count..<s.marketData.count }
            guard perBatch[b].upperBound == s.marketData.count else {
                throw PublishError.malformed("outputs/marketdata.jsonl lines of batch \(b) are not contiguous")
            }
            s.marketData.append(LineRef(offset: range.lowerBound, length: range.count))
            s.marketOfLine.append(head.market)
            s.latestLine[head.market] = s.marketData.count - 1
            perBatch[b] = perBatch[b].lowerBound..<s.marketData.count
            keep = range.upperBound + 1
        }
        for b in perBatch.indices { s.batches[b].marketData = perBatch[b].isEmpty ? s.marketData.count..<s.marketData.count : perBatch[b] }
        return keep
    }

    /// The members of a market data line the host indexes by (`scan`, in
    /// MarketDataHead+Scan.swift).
    struct MarketDataHead {
        var batchIndex: UInt64
        var market: UInt32
        var marketSequence: UInt64
    }

    private struct EpochStub: Decodable {
        var instanceID: String
        var signer: String?
    }

    // MARK: - Appends (link thread)

    /// Appends 49-byte event log records.
    public func appendEventLeaves(_ bytes: UnsafeRawBufferPointer) throws(PublishError) {
        guard bytes.count % EventLeaf.byteCount == 0 else { throw .malformed("event leaves not a multiple of 49 bytes") }
        let opened = try state.withLock { s throws(PublishError) -> Bool in
            try Self.writeAll(s.files.events, bytes)
            s.eventsSize += bytes.count
            guard s.openBatchFirstTime == nil, bytes.count > 0 else { return false }
            s.openBatchFirstTime = Self.leafTime(bytes, at: 0)
            return true
        }
        guard let metrics else { return }
        if opened { metrics.unbatchedSinceNanos.store(MonotonicClock.nanos(), ordering: .relaxed) }
        // The last oracle price among these leaves (type byte at offset 16; docs/COMMITMENTS.md §3).
        var at = bytes.count - EventLeaf.byteCount
        while at >= 0 {
            if bytes[at + 16] == MessageTypeByte.oraclePrice {
                metrics.lastOraclePriceEnclaveTime.store(Self.leafTime(bytes, at: at), ordering: .relaxed)
                break
            }
            at -= EventLeaf.byteCount
        }
    }

    /// The big-endian enclave time of the leaf at byte `at` (offset 8 in the leaf).
    private static func leafTime(_ bytes: UnsafeRawBufferPointer, at: Int) -> UInt64 {
        (0..<8).reduce(UInt64(0)) { $0 << 8 | UInt64(bytes[at + 8 + $1]) }
    }

    private enum MessageTypeByte {
        static let oraclePrice: UInt8 = 0x04
    }

    /// Appends public input lines (oracle prices and deposits); they belong to the next header.
    public func appendPublicInputs(_ bytes: UnsafeRawBufferPointer) throws(PublishError) {
        let lines = Self.lines(bytes)
        try state.withLock { s throws(PublishError) in
            try Self.writeAll(s.files.inputs, bytes)
            for l in lines { s.inputs.append(LineRef(offset: s.inputsSize + l.lowerBound, length: l.count)) }
            s.inputsSize += bytes.count
            s.pendingInputs += lines.count
        }
    }

    /// Appends signed funding payment lines; they belong to the next header.
    public func appendFunding(_ bytes: UnsafeRawBufferPointer) throws(PublishError) {
        let lines = Self.lines(bytes)
        try state.withLock { s throws(PublishError) in
            try Self.writeAll(s.files.funding, bytes)
            for l in lines { s.funding.append(LineRef(offset: s.fundingSize + l.lowerBound, length: l.count)) }
            s.fundingSize += bytes.count
            s.pendingFunding += lines.count
        }
    }

    /// Appends decision lines; they belong to the next header.
    public func appendDecisions(_ bytes: UnsafeRawBufferPointer) throws(PublishError) {
        let lines = Self.lines(bytes)
        try state.withLock { s throws(PublishError) in
            try Self.writeAll(s.files.decisions, bytes)
            for l in lines { s.decisions.append(LineRef(offset: s.decisionsSize + l.lowerBound, length: l.count)) }
            s.decisionsSize += bytes.count
            s.pendingDecisions += lines.count
        }
        metrics?.decisionsPublished.add(UInt64(lines.count), ordering: .relaxed)
    }

    /// Appends market data lines (docs/MARKETDATA.md); they belong to the next header. A
    /// line that `MarketDataHead.scan` refuses refuses the whole message: none of its lines
    /// is written or indexed.
    public func appendMarketData(_ bytes: UnsafeRawBufferPointer) throws(PublishError) {
        let lines = Self.lines(bytes)
        var heads: [(head: MarketDataHead, bytes: [UInt8])] = []
        for (n, l) in lines.enumerated() {
            let line = UnsafeRawBufferPointer(rebasing: bytes[l])
            do {
                heads.append((try MarketDataHead.scan(line), Array(line)))
            } catch {
                throw .marketData(line: n + 1, error)
            }
        }
        try state.withLock { s throws(PublishError) in
            try Self.writeAll(s.files.marketData, bytes)
            for l in lines { s.marketData.append(LineRef(offset: s.marketDataSize + l.lowerBound, length: l.count)) }
            s.marketOfLine += heads.map(\.head.market)
            s.pendingLines += heads
            s.marketDataSize += bytes.count
            s.pendingMarketData += lines.count
        }
    }

    /// Appends a signed header line and indexes it with the decisions received since the
    /// previous one. The host checks only what it needs for its index (the enclave's
    /// signature is for verifiers to check, not the host).
    public func appendBatch(_ bytes: UnsafeRawBufferPointer) throws(PublishError) {
        let record: BatchRecord
        do {
            record = try JSONDecoder().decode(BatchRecord.self, from: Data(bytes))
        } catch {
            throw .malformed("batch header is not a header record")
        }
        let (firstTime, lines) = try state.withLock { s throws(PublishError) -> (UInt64?, [(head: MarketDataHead, bytes: [UInt8])]) in
            guard record.batchIndex == UInt64(s.batches.count) else { throw .malformed("batch index out of order") }
            guard record.decisionCount == UInt64(s.pendingDecisions) else { throw .malformed("decision count mismatch") }
            try Self.writeAll(s.files.batches, bytes)
            let first = s.decisions.count - s.pendingDecisions
            let firstMarketData = s.marketData.count - s.pendingMarketData
            s.batches.append(BatchEntry(
                line: LineRef(offset: s.batchesSize, length: bytes.count - 1), firstSequence: record.firstSequence,
                lastSequence: record.lastSequence, decisions: first..<s.decisions.count,
                marketData: firstMarketData..<s.marketData.count,
                inputs: (s.inputs.count - s.pendingInputs)..<s.inputs.count,
                funding: (s.funding.count - s.pendingFunding)..<s.funding.count))
            for i in firstMarketData..<s.marketData.count { s.latestLine[s.marketOfLine[i]] = i }
            s.batchesSize += bytes.count
            s.pendingDecisions = 0
            s.pendingMarketData = 0
            s.pendingInputs = 0
            s.pendingFunding = 0
            let opened = s.openBatchFirstTime
            s.openBatchFirstTime = nil
            defer { s.pendingLines = [] }
            return (opened, s.pendingLines)
        }
        if let sink = sink.current {
            sink(PublishedBatch(batchIndex: record.batchIndex, headerLine: Array(bytes),
                                lines: lines.map { ($0.head.market, $0.head.marketSequence, $0.bytes) }))
        }
        guard let metrics else { return }
        metrics.batchesPublished.add(1, ordering: .relaxed)
        if let firstTime, record.enclaveTime >= firstTime { metrics.batchClose.observe(record.enclaveTime - firstTime) }
        metrics.haltedMarkets.store(Int64(record.haltedMarkets.count), ordering: .relaxed)
        metrics.lastBatchEnclaveTime.store(record.enclaveTime, ordering: .relaxed)
        metrics.lastBatchPublishedUnixNanos.store(MonotonicClock.unixNanos(), ordering: .relaxed)
        metrics.unbatchedSinceNanos.store(0, ordering: .relaxed)
        metrics.publishErrorsAtLastBatch.store(metrics.publishErrors.load(ordering: .relaxed), ordering: .relaxed)
    }

    // MARK: - Lookups (HTTP thread)

    public var batchCount: Int { state.withLock { $0.batches.count } }

    /// Header lines `from..<from+limit`.
    public func batchLines(from: Int, limit: Int) -> [[UInt8]] {
        let refs = state.withLock { s in
            from < s.batches.count ? s.batches[from..<min(s.batches.count, from + limit)].map(\.line) : []
        }
        return refs.compactMap { read("batches.jsonl", $0) }
    }

    /// The decision lines of batch `index`, or nil when there is no such batch.
    public func decisionLines(batch index: Int) -> [[UInt8]]? {
        let refs: [LineRef]? = state.withLock { s in
            index >= 0 && index < s.batches.count ? Array(s.decisions[s.batches[index].decisions]) : nil
        }
        return refs?.compactMap { read("decisions.jsonl", $0) }
    }

    /// The event leaves batch `index` covers (`firstSequence…lastSequence`), 49 bytes each
    /// as in `events.log`, concatenated; nil when there is no such batch (or the file does
    /// not hold them: a read that fails is not an empty answer).
    public func eventLeaves(batch index: Int) -> [UInt8]? {
        let range: (first: UInt64, last: UInt64)? = state.withLock { s in
            guard index >= 0, index < s.batches.count else { return nil }
            let b = s.batches[index]
            return Int(b.lastSequence) * EventLeaf.byteCount <= s.eventsSize ? (b.firstSequence, b.lastSequence) : nil
        }
        guard let range else { return nil }
        let count = range.last >= range.first ? Int(range.last - range.first + 1) : 0
        if count == 0 { return [] }
        return read("events.log", LineRef(offset: Int(range.first - 1) * EventLeaf.byteCount,
                                          length: count * EventLeaf.byteCount))
    }

    /// The market data lines of batch `index` (without newlines), or nil when there is no such batch.
    public func marketDataLines(batch index: Int) -> [[UInt8]]? {
        let refs: [LineRef]? = state.withLock { s in
            index >= 0 && index < s.batches.count ? Array(s.marketData[s.batches[index].marketData]) : nil
        }
        return refs?.compactMap { read("marketdata.jsonl", $0) }
    }

    /// The latest published market data of `market`: the batch index, the line's leaf index
    /// and the batch's lines (for the proof); nil before any.
    public func latestMarketData(market: UInt32) -> (batch: Int, leafIndex: Int, lines: [[UInt8]])? {
        let found: (Int, Int, [LineRef])? = state.withLock { s in
            guard let line = s.latestLine[market],
                  let b = Self.batch(containingLine: line, in: s.batches) else { return nil }
            return (b, line - s.batches[b].marketData.lowerBound, Array(s.marketData[s.batches[b].marketData]))
        }
        guard let (batch, leaf, refs) = found else { return nil }
        let lines = refs.compactMap { read("marketdata.jsonl", $0) }
        return lines.count == refs.count ? (batch, leaf, lines) : nil
    }

    /// Markets with at least one published line.
    public var marketsWithData: [UInt32] { state.withLock { Array($0.latestLine.keys) } }

    /// The batch whose market data range holds line `line` (binary search: ranges ascend).
    private static func batch(containingLine line: Int, in batches: [BatchEntry]) -> Int? {
        var lo = 0
        var hi = batches.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if batches[mid].marketData.upperBound <= line { lo = mid + 1 } else { hi = mid }
        }
        return lo < batches.count && batches[lo].marketData.contains(line) ? lo : nil
    }

    /// The inclusion proof of event `sequence` in the `eventsRoot` of the batch that
    /// covers it, built from `events.log`. The tree is extended lazily, so the first
    /// call after many events hashes them once; later calls only hash what is new.
    public func eventProof(sequence: UInt64) -> EventProof? {
        // Under the index lock: find the batch (binary search: batches ascend by sequence).
        let found = state.withLock { s -> (epoch: Int, batch: Int, size: Int)? in
            guard sequence >= 1 else { return nil }
            var lo = 0
            var hi = s.batches.count
            while lo < hi {
                let mid = (lo + hi) / 2
                if s.batches[mid].lastSequence < sequence { lo = mid + 1 } else { hi = mid }
            }
            guard lo < s.batches.count, s.batches[lo].firstSequence <= sequence else { return nil }
            let size = Int(s.batches[lo].lastSequence)
            guard size * EventLeaf.byteCount <= s.eventsSize else { return nil }
            return (s.epoch, lo, size)
        }
        guard let found else { return nil }
        // Under the proof lock only: read and hash what is new, then prove.
        return proofs.withLock { p -> EventProof? in
            guard p.epoch == found.epoch, extendTree(&p.tree, to: found.size),
                let leaf = readLeaf(Int(sequence - 1))
            else { return nil }
            return EventProof(
                batchIndex: found.batch, leaf: leaf, proof: p.tree.inclusionProof(index: Int(sequence - 1), size: found.size))
        }
    }

    public struct EventProof {
        public var batchIndex: Int
        public var leaf: EventLeaf
        public var proof: [Hash32]
    }

    private func extendTree(_ tree: inout MerkleTree, to size: Int) -> Bool {
        guard tree.count < size else { return true }
        let fd = Glibc.open(directory + "/events.log", O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: EventLeaf.byteCount * 4096)
        while tree.count < size {
            let want = min(size - tree.count, 4096) * EventLeaf.byteCount
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, want, off_t(tree.count * EventLeaf.byteCount)) }
            guard n == want else { return false }
            buffer.withUnsafeBytes { raw in
                var at = 0
                while at < n {
                    tree.append(RFC6962.leafHash(UnsafeRawBufferPointer(rebasing: raw[at..<(at + EventLeaf.byteCount)])))
                    at += EventLeaf.byteCount
                }
            }
        }
        return true
    }

    private func readLeaf(_ index: Int) -> EventLeaf? {
        read("events.log", LineRef(offset: index * EventLeaf.byteCount, length: EventLeaf.byteCount)).flatMap { EventLeaf($0) }
    }

    func read(_ name: String, _ ref: LineRef) -> [UInt8]? {
        let fd = Glibc.open(directory + "/" + name, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { return nil }
        defer { close(fd) }
        var out = [UInt8](repeating: 0, count: ref.length)
        let n = out.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, ref.length, off_t(ref.offset)) }
        return n == ref.length ? out : nil
    }

    // MARK: - Helpers

    /// Line ranges (without the newline) of newline-terminated records.
    static func lines(_ bytes: UnsafeRawBufferPointer) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var start = 0
        for i in bytes.indices where bytes[i] == 0x0a {
            if i > start { out.append(start..<i) }
            start = i + 1
        }
        return out
    }

    private static func writeAll(_ fd: Int32, _ bytes: UnsafeRawBufferPointer) throws(PublishError) {
        guard fd >= 0 else { throw .noEpoch }
        var offset = 0
        while offset < bytes.count {
            let n = write(fd, bytes.baseAddress! + offset, bytes.count - offset)
            if n < 0 {
                if errno == EINTR { continue }
                throw .io(errno)
            }
            offset += n
        }
    }

    private static func closeFiles(_ f: inout Files) {
        for fd in [f.batches, f.decisions, f.events, f.marketData, f.inputs, f.funding] where fd >= 0 { close(fd) }
        f = Files()
    }
}

public enum PublishError: Error, Equatable {
    /// Output arrived before the worker's hello opened an epoch.
    case noEpoch
    case malformed(String)
    /// Line `line` (1-based) of a market data message cannot be indexed; none of the
    /// message's lines was appended.
    case marketData(line: Int, MarketDataLineError)
    case io(Int32)
}
