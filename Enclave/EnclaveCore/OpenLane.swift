import Journal
import SealCrypto
import Wire

/// Opens the records of one `journalReplay` message on a thread of its own while the
/// sequencer applies those already opened (docs/DURABILITY.md §4, *Replay in two
/// threads*): the opener checks each frame and the chain and decrypts into one buffer;
/// the sequencer reads the payloads in order. The result is the same as opening and
/// applying record by record: the sequencer applies every record before the first that
/// does not open, then throws that record's rejection.
final class OpenLane {
    /// One opened record: its kind and where its payload is in `payloads`.
    struct Opened {
        var kind: JournalFrame.Kind
        var offset: Int
        var length: Int
        /// The record's sequence number.
        var sequence: UInt64
    }

    /// Records the opener publishes at once (one lock and, if the sequencer waits, one
    /// wake-up per batch).
    static let publishEvery = 64

    private let bytes: UnsafeRawBufferPointer
    private(set) var chain: JournalCipher
    private let payloads: UnsafeMutableRawBufferPointer
    private var payloadEnd = 0
    /// Written by the opener up to `published`, read by the sequencer below it: a fixed
    /// buffer (never reallocated), sized for the most records `bytes` can hold.
    private let records: UnsafeMutableBufferPointer<Opened>
    /// Records opened and visible to the sequencer (under `mutex`).
    private var published = 0
    private var finished = false
    private var cancelled = false
    private var consumerWaiting = false
    /// Why opening stopped early, for the record after the last opened one.
    private var failure: JournalRejected?
    /// The lock and the opener thread, if one runs; the sequencer waits on its `done`
    /// condition for records.
    private let sync = LaneThread()
    /// Whether the opener was meant to run on its own thread (read by the opener, so set
    /// before it starts, unlike `sync.isRunning`).
    private let threaded: Bool
    /// What the sequencer has seen of `published`, read without the lock.
    private var seen = 0

    /// Opens `bytes` (whole records, the first continuing `chain`) from `offset` on,
    /// starting at once; with `threaded` false, opens them all here first.
    init(bytes: UnsafeRawBufferPointer, from offset: Int, chain: JournalCipher, threaded: Bool) {
        self.bytes = UnsafeRawBufferPointer(rebasing: bytes[offset...])
        self.chain = chain
        self.threaded = threaded
        payloads = .allocate(byteCount: max(self.bytes.count, 1), alignment: 16)
        records = .allocate(capacity: self.bytes.count / JournalFrame.minLength + 1)
        // `deinit` stops and joins the thread before the lane goes.
        if threaded && sync.start(name: "open-lane", { [unowned(unsafe) self] in self.openAll() }) { return }
        openAll()
    }

    deinit {
        finish()
        Sodium.wipe(UnsafeMutableRawBufferPointer(rebasing: payloads[0..<payloadEnd]))
        payloads.deallocate()
        records.deallocate()
    }

    /// Stops the opener (if it still runs) and waits for it: afterwards `chain` is where
    /// opening stopped.
    func finish() {
        guard sync.isRunning else { return }
        sync.lock()
        cancelled = true
        sync.unlock()
        sync.join()
    }

    /// The `i`-th record's kind, sequence and payload, waiting for the opener as needed;
    /// nil after the last record; throws the rejection of the first record that did not open.
    func record(_ i: Int) throws(JournalRejected) -> (kind: JournalFrame.Kind, sequence: UInt64, payload: UnsafeRawBufferPointer)? {
        if i >= seen {
            sync.lock()
            while published <= i && !finished {
                consumerWaiting = true
                sync.waitForDone()
                consumerWaiting = false
            }
            seen = published
            let failed = failure
            sync.unlock()
            if i >= seen {
                if let failed { throw failed }
                return nil
            }
        }
        let r = records[i]
        return (r.kind, r.sequence, UnsafeRawBufferPointer(rebasing: payloads[r.offset..<(r.offset + r.length)]))
    }

    private func openAll() {
        var offset = 0
        var local = 0
        var stop: JournalRejected?
        while offset < bytes.count {
            if local % Self.publishEvery == 0 && threaded {
                sync.lock()
                let quit = cancelled
                sync.unlock()
                if quit { break }
            }
            let rest = UnsafeRawBufferPointer(rebasing: bytes[offset...])
            let out = UnsafeMutableRawBufferPointer(rebasing: payloads[payloadEnd...])
            do {
                let r = try chain.open(rest, into: out)
                records.initializeElement(
                    at: local, to: Opened(kind: r.kind, offset: payloadEnd, length: r.payloadLength, sequence: chain.lastSequence))
                payloadEnd += r.payloadLength
                offset += r.length
            } catch {
                stop = switch error {
                case .frame:
                    JournalRejected(
                        recordSequence: rest.count >= 16
                            ? UInt64(bigEndian: rest.loadUnaligned(fromByteOffset: 8, as: UInt64.self)) : chain.lastSequence + 1,
                        reason: .doesNotOpen)
                case .outOfSequence(_, let found): JournalRejected(recordSequence: found, reason: .outOfSequence)
                case .doesNotOpen(let sequence): JournalRejected(recordSequence: sequence, reason: .doesNotOpen)
                }
                break
            }
            local += 1
            if local % Self.publishEvery == 0 { publish(local, failure: nil, finished: false) }
        }
        publish(local, failure: stop, finished: true)
    }

    private func publish(_ count: Int, failure: JournalRejected?, finished: Bool) {
        sync.lock()
        published = count
        self.failure = failure
        self.finished = finished
        if consumerWaiting { sync.signalDone() }
        sync.unlock()
    }
}
