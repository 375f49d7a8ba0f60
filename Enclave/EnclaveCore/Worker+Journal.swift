import Commitments
import Engine
import Journal
import SealCrypto
import Wire

/// Writing the journal (docs/DURABILITY.md §2): one sealed record per sequenced input and
/// per batch close, appended to `journalOut` for the shell.
extension Worker {
    /// Whether the worker journals (it was given a journal key).
    public var isJournaling: Bool { journal != nil }

    /// Bytes of the records appended and not yet taken by the shell (sealed or not).
    public var pendingJournalBytes: Int { journal?.pendingBytes ?? 0 }

    /// Sequence number of the last journal record sealed or replayed (0: none). Waits for
    /// the sealer to finish what was appended.
    public var lastRecordSequence: UInt64 { journal?.cipher.lastSequence ?? 0 }

    /// Hands the records appended since the last call to `write`, sealed (whole records,
    /// in sequence order), and forgets them; waits for the sealer thread to finish them
    /// (or seals what it has not started). The shell sends them to the host in a `journal`
    /// link message before any reply or output it writes after this call (§2.1).
    public func takeJournal(_ write: (UnsafeRawBufferPointer) -> Void) {
        journal?.take(write)
    }

    /// Journal chunks sealed so far, and how many on the sequencer's thread because the
    /// sealer thread had not started them (docs/DURABILITY.md §2.1).
    public var sealChunkCounts: (sealed: Int, byOwner: Int) { journal?.chunkCounts ?? (0, 0) }

    /// The event body hash is needed for the event leaf or the journal record.
    var needsBodyHash: Bool { committer != nil || journal != nil }

    /// Appends the input record of `event` for sealing: `body` is the decrypted request
    /// (0x03) or the public message body as received (0x04, 0x05). The payload is written
    /// straight into the seal lane's chunk: one copy of the body, no allocation.
    func appendInputRecord(
        _ event: SequencedEvent, type: MessageType, bodyHash: Hash32, account: UInt64, body: UnsafeRawBufferPointer
    ) {
        guard let journal else { return }
        journal.append(kind: .input, length: Self.inputHeaderLength + body.count) { out in
            out.storeBytes(of: event.globalSequence.bigEndian, toByteOffset: 0, as: UInt64.self)
            out.storeBytes(of: event.enclaveTime.bigEndian, toByteOffset: 8, as: UInt64.self)
            out[16] = type.rawValue
            bodyHash.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: out[17..<49]).copyMemory(from: $0) }
            out.storeBytes(of: account.bigEndian, toByteOffset: 49, as: UInt64.self)
            out.storeBytes(of: UInt32(body.count).bigEndian, toByteOffset: 57, as: UInt32.self)
            if body.count > 0 { UnsafeMutableRawBufferPointer(rebasing: out[61...]).copyMemory(from: body) }
        }
    }

    /// Bytes of an input payload before the body: sequence, time, type, hash, account, length.
    static var inputHeaderLength: Int { 8 + 8 + 1 + 32 + 8 + 4 }

    /// Appends the close record of batch `batchIndex`, closed at `closeTime` with the
    /// counter at `counter` (0 without one).
    func appendCloseRecord(batchIndex: UInt64, closeTime: UInt64, counter: UInt64) {
        guard let journal else { return }
        journal.append(kind: .batchClose, length: 24) { out in
            out.storeBytes(of: batchIndex.bigEndian, toByteOffset: 0, as: UInt64.self)
            out.storeBytes(of: closeTime.bigEndian, toByteOffset: 8, as: UInt64.self)
            out.storeBytes(of: counter.bigEndian, toByteOffset: 16, as: UInt64.self)
        }
    }
}
