#if canImport(Glibc)
import Glibc
#endif
import Logging
import NIOCore
import Wire

/// A hot standby's reader of the journal stream (docs/REPLICATION.md §8): after the local
/// copy (stream messages 1…L, rebuilt at start-up) has been fed to the worker, an ordered
/// consumer delivers messages L+1, L+2, … as the stream stores them; each is checked as the
/// start-up rebuild checks one, appended to the local copy and handed to the worker as a
/// `journalReplay` message. At takeover `finish` stops the consumer and reads whatever it
/// had not delivered yet up to the stream's last sequence. Confined to the event loop.
final class StandbyFollower: @unchecked Sendable {
    let connection: JetStreamConnection
    let stream: String
    let subject: String
    let store: JournalStore
    private let follow: JetStreamFollow
    private let eventLoop: EventLoop
    private let metrics: HostMetrics
    private let logger: Logger
    /// The last stream message read: written to the local copy and handed to the worker, or
    /// skipped as not the journal's (docs/REPLICATION.md §3).
    private(set) var lastStreamSequence: UInt64
    /// The content chain: the id of the journal's last message.
    private(set) var chain: StreamChain
    /// `DATA/journal-verified`, advanced as messages are applied.
    let mark: StreamMark?
    private var channel: Channel?
    private var stopped = false
    /// Lag of the last message followed, ns (stored → handed to the worker).
    private(set) var lastLagNanos: UInt64 = 0
    /// Called when a followed message cannot be applied (the host then stops).
    var onFailure: ((Error) -> Void)?

    init(connection: JetStreamConnection, stream: String, subject: String, store: JournalStore,
         lastStreamSequence: UInt64, chain: StreamChain, mark: StreamMark?, eventLoop: EventLoop, metrics: HostMetrics,
         logger: Logger)
    {
        self.chain = chain
        self.mark = mark
        self.connection = connection
        self.stream = stream
        self.subject = subject
        self.store = store
        self.lastStreamSequence = lastStreamSequence
        follow = JetStreamFollow(connection: connection)
        self.eventLoop = eventLoop
        self.metrics = metrics
        self.logger = logger
    }

    /// True once the worker was fed the local copy and messages are followed.
    var isFollowing: Bool { channel != nil && !stopped }

    /// The local copy is fed: follow the stream from the next message into `channel`.
    func begin(channel: Channel) throws(JetStreamError) {
        self.channel = channel
        let loop = eventLoop
        follow.onMessage { [weak self] message in
            loop.execute { self?.received(message) }
        }
        try follow.start(stream: stream, subject: subject, from: lastStreamSequence + 1)
        logger.info("standby_following", metadata: [
            "stream": "\(stream)", "from_message": "\(lastStreamSequence + 1)", "records": "\(store.lastSequence)",
        ])
    }

    private func received(_ message: FollowedMessage) {
        guard !stopped else { return }
        // The ordered consumer redelivers after a reset: what was applied is skipped.
        guard message.streamSequence > lastStreamSequence else { return }
        do {
            try apply(sequence: message.streamSequence, data: message.data, id: message.id, previous: message.previous)
        } catch {
            stopped = true
            follow.stop()
            onFailure?(error)
            return
        }
        let now = UInt64(max(0, NIODeadline.wallNanos))
        let stored = UInt64(max(0, message.storedUnixNanos))
        lastLagNanos = now > stored ? now - stored : 0
        metrics.replication.standbyLag.observe(lastLagNanos)
        metrics.replication.followedMessages.add(1, ordering: .relaxed)
    }

    /// Checks stream message `sequence` (the next of the journal's content chain, whole
    /// records continuing the local copy, its id naming them), appends it to the local copy
    /// and hands it to the worker; a message that is not the journal's is only skipped.
    private func apply(sequence: UInt64, data: [UInt8], id: String, previous: String?) throws(NATSJournalError) {
        guard sequence == lastStreamSequence + 1 else {
            throw .corrupt(stream: stream, message: sequence, problem: "followed after message \(lastStreamSequence)")
        }
        if try NATSJournal.skip(StreamMessage(data: data, id: id, previous: previous), at: sequence, chain: &chain,
                                stream: stream, logger: logger)
        {
            metrics.replication.skippedMessages.add(1, ordering: .relaxed)
            lastStreamSequence = sequence
            return
        }
        let first = store.lastSequence + 1
        let last: UInt64
        do {
            last = try data.withUnsafeBytes { raw throws(JournalRecordError) in try store.check(raw, after: store.lastSequence) }
        } catch {
            throw .corrupt(stream: stream, message: sequence, problem: "\(error)")
        }
        let expected = NATSJournal.messageID(first: first, payload: data)
        guard id == expected else {
            throw .corrupt(stream: stream, message: sequence,
                           problem: "message id \(id), expected \(expected) (first record and payload hash)")
        }
        do { try store.write(data, last: last) } catch { throw .local(error) }
        lastStreamSequence = sequence
        mark?.advance(to: last)
        if let channel {
            let bytes = HostLinkMessage.journalReplay(records: data[...]).encode()
            channel.writeAndFlush(channel.allocator.buffer(bytes: bytes), promise: nil)
        }
    }

    /// Takeover: stops following, then reads and applies every message after the last one
    /// applied up to the stream's last sequence. Returns how many it read.
    func finish() throws(NATSJournalError) -> UInt64 {
        stopped = true
        follow.stop()
        let last: UInt64
        do { last = try connection.streamState(name: stream).last } catch { throw .stream(name: stream, error) }
        var read: UInt64 = 0
        while lastStreamSequence < last {
            let message: StreamMessage
            do { message = try connection.message(stream: stream, sequence: lastStreamSequence + 1) } catch {
                throw .stream(name: stream, error)
            }
            try apply(sequence: lastStreamSequence + 1, data: message.data, id: message.id, previous: message.previous)
            read += 1
        }
        return read
    }
}

extension NIODeadline {
    /// CLOCK_REALTIME, Unix ns (for comparing with the stream's stored time stamps).
    static var wallNanos: Int64 {
        var ts = timespec()
        clock_gettime(CLOCK_REALTIME, &ts)
        return Int64(ts.tv_sec) * 1_000_000_000 + Int64(ts.tv_nsec)
    }
}
