#if canImport(Glibc)
import Glibc
#endif
import Commitments
import Foundation

/// The public inputs (`inputs.jsonl`, docs/COMMITMENTS.md §4.1) and signed funding
/// payments (`funding.jsonl`, §4.3) by batch: served by `GET /v1/inputs?batch=I` and
/// `GET /v1/funding?batch=I` (§4.2). The enclave sends a batch's lines with its event
/// leaves, before its header, so the lines appended since the last header belong to the
/// next one (`appendBatch`); on continuing an epoch they are indexed again from the files.
extension OutputPublisher {
    // MARK: - Lookups (HTTP thread)

    /// The public input lines of batch `index` (without newlines), in file order, or nil
    /// when there is no such batch (or the file changed under the reader: a new epoch).
    public func inputLines(batch index: Int) -> [[UInt8]]? {
        let refs: [LineRef]? = state.withLock { s in
            index >= 0 && index < s.batches.count ? Array(s.inputs[s.batches[index].inputs]) : nil
        }
        return refs.flatMap { readContiguous("inputs.jsonl", $0) }
    }

    /// The funding lines of batch `index` (without newlines), in file order, or nil when
    /// there is no such batch (or the file changed under the reader).
    public func fundingLines(batch index: Int) -> [[UInt8]]? {
        let refs: [LineRef]? = state.withLock { s in
            index >= 0 && index < s.batches.count ? Array(s.funding[s.batches[index].funding]) : nil
        }
        return refs.flatMap { readContiguous("funding.jsonl", $0) }
    }

    /// Lines that follow one another in file `name` (one batch's), read with one `pread`.
    private func readContiguous(_ name: String, _ refs: [LineRef]) -> [[UInt8]]? {
        guard let first = refs.first, let last = refs.last else { return [] }
        let span = LineRef(offset: first.offset, length: last.offset + last.length - first.offset)
        guard let bytes = read(name, span) else { return nil }
        return refs.map { Array(bytes[($0.offset - first.offset)..<($0.offset - first.offset + $0.length)]) }
    }

    // MARK: - Continuing an epoch

    /// Indexes the continued `inputs.jsonl` and `funding.jsonl` by the kept headers in
    /// `s.batches` and returns the byte sizes to keep. `inputs.jsonl` holds one line per
    /// oracle price, deposit and oracle smile leaf (types 0x04, 0x05, 0x0a) in sequence order: a batch's lines
    /// are as many as its leaves of those types; a file missing altogether (outputs of a
    /// host without it) is created empty and its batches have no lines. `funding.jsonl`
    /// keeps the lines whose `sequence` the kept headers cover (in sequence order), up to
    /// the first that does not read; each belongs to the batch whose range holds it.
    func reindexPublicInputs(_ s: inout State, _ start: inout EpochStart) throws -> (inputs: Int, funding: Int) {
        let fm = FileManager.default
        let inputsPath = directory + "/inputs.jsonl"
        let inputs = [UInt8](fm.contents(atPath: inputsPath) ?? Data())
        let inputLines = inputs.withUnsafeBytes { Self.lines($0) }
        let counts = try Self.publicInputCounts(eventsFile: directory + "/events.log",
                                                through: s.batches.map(\.lastSequence))
        let keepInputLines = counts.last ?? 0
        guard keepInputLines <= inputLines.count || !fm.fileExists(atPath: inputsPath) else {
            throw PublishError.malformed("outputs/inputs.jsonl holds \(inputLines.count) lines, "
                + "the kept event leaves \(keepInputLines) public inputs")
        }
        let keepInputs: Int
        if keepInputLines == 0 || keepInputLines > inputLines.count {
            keepInputs = 0
        } else {
            keepInputs = inputLines[keepInputLines - 1].upperBound + 1
            s.inputs = inputLines[..<keepInputLines].map { LineRef(offset: $0.lowerBound, length: $0.count) }
            for b in s.batches.indices { s.batches[b].inputs = (b == 0 ? 0 : counts[b - 1])..<counts[b] }
        }
        start.trimmedInputLines = max(0, inputLines.count - keepInputLines)

        struct FundingStub: Decodable { var sequence: UInt64 }
        let funding = [UInt8](fm.contents(atPath: directory + "/funding.jsonl") ?? Data())
        let fundingLines = funding.withUnsafeBytes { Self.lines($0) }
        let lastSequence = s.batches.last?.lastSequence ?? 0
        var b = 0
        for line in fundingLines {
            guard let sequence = try? JSONDecoder().decode(FundingStub.self, from: Data(funding[line])).sequence,
                  sequence <= lastSequence
            else { break }
            while s.batches[b].lastSequence < sequence { b += 1 }
            if s.batches[b].funding.isEmpty { s.batches[b].funding = s.funding.count..<s.funding.count }
            s.funding.append(LineRef(offset: line.lowerBound, length: line.count))
            s.batches[b].funding = s.batches[b].funding.lowerBound..<s.funding.count
        }
        // Batches without lines get an empty range at their place (ranges ascend).
        var next = 0
        for i in s.batches.indices {
            if s.batches[i].funding.isEmpty {
                s.batches[i].funding = next..<next
            } else {
                next = s.batches[i].funding.upperBound
            }
        }
        start.trimmedFundingLines = fundingLines.count - s.funding.count
        return (keepInputs, s.funding.last.map { $0.offset + $0.length + 1 } ?? 0)
    }

    /// For each of `lastSequences` (ascending), how many of the first that many event
    /// leaves of `eventsFile` are public inputs (message type 0x04, 0x05 or 0x0a, the byte at
    /// offset 16 of each leaf).
    static func publicInputCounts(eventsFile: String, through lastSequences: [UInt64]) throws -> [Int] {
        guard let leaves = lastSequences.last.map(Int.init), leaves > 0 else { return lastSequences.map { _ in 0 } }
        let fd = Glibc.open(eventsFile, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw PublishError.io(errno) }
        defer { close(fd) }
        var counts: [Int] = []
        var count = 0
        var next = 0
        while next < lastSequences.count, lastSequences[next] == 0 { counts.append(0); next += 1 }
        var buffer = [UInt8](repeating: 0, count: EventLeaf.byteCount * 4096)
        var done = 0
        while done < leaves {
            let want = min(leaves - done, 4096) * EventLeaf.byteCount
            let at = off_t(done * EventLeaf.byteCount)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress!, want, at) }
            guard n == want else {
                throw PublishError.malformed("outputs/events.log is shorter than its headers cover")
            }
            for i in 0..<(want / EventLeaf.byteCount) {
                if EventLeaf.publishedInputTypes.contains(buffer[i * EventLeaf.byteCount + 16]) { count += 1 }
                let sequence = UInt64(done + i + 1)
                while next < lastSequences.count, lastSequences[next] == sequence { counts.append(count); next += 1 }
            }
            done += want / EventLeaf.byteCount
        }
        return counts
    }
}
