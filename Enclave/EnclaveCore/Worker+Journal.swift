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

    /// Sealed records waiting for the shell, bytes.
    public var pendingJournalBytes: Int { journalOut.count }

    /// Sequence number of the last journal record sealed or replayed (0: none).
    public var lastRecordSequence: UInt64 { journal?.lastSequence ?? 0 }

    /// Hands the sealed records appended since the last call to `write` (whole records,
    /// in sequence order) and forgets them. The shell sends them to the host in a
    /// `journal` link message before any reply or output it writes after this call.
    public func takeJournal(_ write: (UnsafeRawBufferPointer) -> Void) {
        guard !journalOut.isEmpty else { return }
        journalOut.withUnsafeBytes(write)
        journalOut.removeAll(keepingCapacity: true)
    }

    /// The event body hash is needed for the event leaf or the journal record.
    var needsBodyHash: Bool { committer != nil || journal != nil }

    /// Seals the input record of `event`: `body` is the decrypted request (0x03) or the
    /// public message body as received (0x04, 0x05). One payload buffer, reused.
    func appendInputRecord(
        _ event: SequencedEvent, type: MessageType, bodyHash: Hash32, account: UInt64, body: UnsafeRawBufferPointer
    ) {
        guard journal != nil else { return }
        journalPayload.truncate(to: 0)
        journalPayload.write(event.globalSequence)
        journalPayload.write(event.enclaveTime)
        journalPayload.write(type.rawValue)
        bodyHash.withUnsafeBytes { journalPayload.write(bytes: $0) }
        journalPayload.write(account)
        journalPayload.write(UInt32(body.count))
        journalPayload.write(bytes: body)
        sealJournalPayload(kind: .input)
    }

    /// Seals the close record of batch `batchIndex`, closed at `closeTime` with the
    /// counter at `counter` (0 without one).
    func appendCloseRecord(batchIndex: UInt64, closeTime: UInt64, counter: UInt64) {
        guard journal != nil else { return }
        journalPayload.truncate(to: 0)
        journalPayload.write(batchIndex)
        journalPayload.write(closeTime)
        journalPayload.write(counter)
        sealJournalPayload(kind: .batchClose)
    }

    private func sealJournalPayload(kind: JournalFrame.Kind) {
        let payload = journalPayload.bytes
        payload.withUnsafeBytes { journal!.seal(kind: kind, payload: $0, into: &journalOut) }
    }
}
