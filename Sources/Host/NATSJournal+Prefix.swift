#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Journal
import Logging
import SealCrypto

/// The verified local prefix (docs/REPLICATION.md §4 step 3): at start-up the host keeps
/// the records of its local copy that are, byte for byte, the stream's first `k` messages,
/// and reads only messages `k + 1 … L`. `k` is found by a binary search over the stream's
/// messages, one `js_GetMsg` per probe (⌈log2(L + 1)⌉ probes), not by reading them all.
extension NATSJournal {
    /// What the prefix search kept.
    struct KeptPrefix {
        /// The local copy, cut back to the end of stream message `messages`.
        var store: JournalStore
        /// Stream message `messages` is the local copy's last, and the journal's messages up
        /// to it are the local copy's records.
        var messages: UInt64
        /// Id of stream message `messages`: the last message of the journal kept.
        var lastID: String
        /// Records the local copy held before the search (after its torn tail was cut).
        var localRecords: UInt64
        /// `js_GetMsg` requests the search made.
        var probes: UInt64
    }

    /// The largest `m` in `0 … last` with `matches(m)`, for a `matches` that holds on
    /// `1 … k` and on nothing after (`matches(0)` is taken as true and never asked):
    /// ⌈log2(last + 1)⌉ calls at most.
    static func lastMatching<E: Error>(last: UInt64, _ matches: (UInt64) throws(E) -> Bool) throws(E) -> UInt64 {
        var low: UInt64 = 0
        var high = last + 1
        while high - low > 1 {
            let mid = low + (high - low) / 2
            if try matches(mid) { low = mid } else { high = mid }
        }
        return low
    }

    /// Opens the local copy (cutting a torn tail as DURABILITY.md §3's scan does) and keeps
    /// its verified prefix; nil when nothing can be kept (no local records, an empty
    /// stream, a local copy that does not scan, or no stream message it holds). Only local
    /// records up to `trusted` (the `StreamMark`) can match. The stream messages probed are
    /// checked as §4 step 3 checks any (whole valid records, the id naming them); one that
    /// fails stops start-up.
    static func keepVerifiedPrefix(
        connection: JetStreamConnection, stream: String, last: UInt64, directory: String, trusted: UInt64,
        logger: Logger
    ) throws(NATSJournalError) -> KeptPrefix? {
        guard last > 0, trusted > 0, let opened = try? JournalStore.open(directory: directory),
              opened.1.lastSequence > 0
        else {
            return nil
        }
        let (store, report) = opened
        let limit = min(trusted, report.lastSequence)
        let local = LocalRecords(directory: directory, segments: report.segments)
        var probes: UInt64 = 0
        var ends: [UInt64: (position: JournalPosition, id: String)] = [:]
        let k = try lastMatching(last: last) { (m: UInt64) throws(NATSJournalError) -> Bool in
            probes += 1
            let message: StreamMessage
            do throws(JetStreamError) {
                message = try connection.message(stream: stream, sequence: m)
            } catch {
                throw .stream(name: stream, error)
            }
            let first: UInt64
            let lastRecord: UInt64
            do {
                first = try JournalFrame.parse(message.data).sequence
                lastRecord = try message.data.withUnsafeBytes { raw throws(JournalRecordError) in
                    try store.check(raw, after: first &- 1)
                }
            } catch {
                throw .corrupt(stream: stream, message: m, problem: "\(error)")
            }
            let id = messageID(first: first, payload: message.data)
            guard message.id == id else {
                throw .corrupt(stream: stream, message: m, problem: "message id \(message.id), expected \(id) (first record and payload hash)")
            }
            guard message.previous != nil else {
                throw .corrupt(stream: stream, message: m, problem: "\(StreamChain.Refusal.missingPrevious)")
            }
            guard lastRecord <= limit, let end = local.matches(message.data, first: first) else { return false }
            ends[m] = (JournalPosition(segment: end.segment, size: end.size, sequence: lastRecord), message.id)
            return true
        }
        guard k > 0, let (end, lastID) = ends[k] else { return nil }
        do throws(JournalStoreError) { try store.rewind(to: end) } catch { throw .local(error) }
        logger.info("journal_prefix_kept", metadata: [
            "stream": "\(stream)", "local_records": "\(report.lastSequence)", "kept_records": "\(end.sequence)",
            "kept_messages": "\(k)", "probes": "\(probes)",
        ])
        return KeptPrefix(store: store, messages: k, lastID: lastID, localRecords: report.lastSequence, probes: probes)
    }
}

/// The local copy's segments, each read and indexed (record → offset) the first time a
/// probe needs it.
final class LocalRecords {
    let directory: String
    let segments: [JournalSegmentName]
    private var loaded: [UInt64: (bytes: [UInt8], offsets: [Int], end: Int)] = [:]

    init(directory: String, segments: [JournalSegmentName]) {
        self.directory = directory
        self.segments = segments
    }

    /// Where the records `first …` of `payload` end in the local copy, when the local copy
    /// holds exactly those bytes from record `first` on (within one segment: a stream
    /// message is never split across segments, §4 step 4); nil otherwise.
    func matches(_ payload: [UInt8], first: UInt64) -> (segment: JournalSegmentName, size: Int)? {
        guard let name = segments.last(where: { $0.firstSequence <= first }), let segment = load(name),
              first - name.firstSequence < UInt64(segment.offsets.count)
        else { return nil }
        let start = segment.offsets[Int(first - name.firstSequence)]
        let end = start + payload.count
        guard end <= segment.bytes.count, segment.bytes[start..<end].elementsEqual(payload) else { return nil }
        return (name, end)
    }

    /// SHA-256 of local record `sequence`'s bytes, nil when the copy does not hold it.
    func hash(of sequence: UInt64) -> [UInt8]? {
        guard let name = segments.last(where: { $0.firstSequence <= sequence }), let segment = load(name),
              sequence - name.firstSequence < UInt64(segment.offsets.count)
        else { return nil }
        let i = Int(sequence - name.firstSequence)
        let start = segment.offsets[i]
        // The record's own length, not the file's end: a preallocated segment's zero-filled
        // free space follows its last record (docs/DURABILITY.md §3).
        let end = i + 1 < segment.offsets.count ? segment.offsets[i + 1] : segment.end
        return segment.bytes[start..<end].withUnsafeBytes { SHA256.hash($0) }
    }

    /// The segment's bytes, the offset of each whole valid record, and where the last ends
    /// (records stop at the first bytes that are not one: a torn tail or free space).
    private func load(_ name: JournalSegmentName) -> (bytes: [UInt8], offsets: [Int], end: Int)? {
        if let hit = loaded[name.firstSequence] { return hit }
        guard let data = FileManager.default.contents(atPath: directory + "/" + name.fileName) else { return nil }
        let bytes = [UInt8](data)
        var offsets: [Int] = []
        var end = 0
        bytes.withUnsafeBytes { raw in
            while end < raw.count, let frame = try? JournalFrame.parse(UnsafeRawBufferPointer(rebasing: raw[end...])) {
                offsets.append(end)
                end += frame.length
            }
        }
        // One segment kept at a time (bounded memory): the probes converge on one.
        loaded = [name.firstSequence: (bytes, offsets, end)]
        return (bytes, offsets, end)
    }
}
