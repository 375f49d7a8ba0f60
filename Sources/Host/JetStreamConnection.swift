import CNATS
import Foundation
import Synchronization

/// Why a NATS or JetStream call failed: the libnats status and, for server replies, the
/// JetStream error code (10071: wrong last sequence) and text.
struct JetStreamError: Error, Equatable, CustomStringConvertible {
    /// libnats `natsStatus` (0 is OK; 26 timeout; 30 no responders).
    var status: Int32
    /// JetStream API error code, 0 when the server sent none.
    var code: Int32
    var text: String

    /// JetStream's "wrong last sequence" (an expected-last-sequence header failed).
    static let wrongLastSequenceCode: Int32 = 10071

    var isWrongLastSequence: Bool { code == Self.wrongLastSequenceCode }

    var description: String {
        let what = text.isEmpty ? String(cString: natsStatus_GetText(natsStatus(UInt32(status)))) : text
        return code != 0 ? "\(what) (JetStream error \(code))" : what
    }

    init(status: Int32, code: Int32 = 0, text: String = "") {
        self.status = status
        self.code = code
        self.text = text
    }

    init(_ s: natsStatus, _ code: jsErrCode = jsErrCode(rawValue: 0)) {
        let last = nats_GetLastError(nil).map { String(cString: $0) } ?? ""
        self.init(status: Int32(s.rawValue), code: Int32(code.rawValue), text: last)
    }
}

/// The reply to one asynchronous publish, delivered on a libnats thread.
enum JetStreamAck: Sendable {
    /// Stored (or found already stored under the same message id: `duplicate`) at `sequence`.
    case stored(id: String, attempt: UInt64, sequence: UInt64, duplicate: Bool)
    case failed(id: String, attempt: UInt64, error: JetStreamError)
}

/// The receiver of one stream of libnats callbacks (publish acks, consumer messages).
///
/// libnats can still be inside a callback after the context or subscription it belongs to
/// was destroyed: `jsCtx_Destroy` and `natsSubscription_Destroy` unsubscribe but do not
/// wait for a delivery thread that is already running the handler. So the object a C
/// closure pointer names is never freed (`retainedForever`: a few dozen bytes per
/// connection or consumer for the life of the process), and `clear()` waits for a
/// callback under way and makes every later one a no-op.
final class CallbackSink<Value: Sendable>: Sendable {
    private let handler = LockedHandler<Value>()

    /// A pointer for a C closure argument; the sink it names is never released.
    var retainedForever: UnsafeMutableRawPointer { Unmanaged.passRetained(self).toOpaque() }

    static func from(_ pointer: UnsafeMutableRawPointer) -> CallbackSink<Value> {
        Unmanaged<CallbackSink<Value>>.fromOpaque(pointer).takeUnretainedValue()
    }

    func set(_ body: @escaping @Sendable (Value) -> Void) { handler.set(body) }

    /// After it returns no handler runs, and none is running.
    func clear() { handler.clear() }

    /// Runs the handler (under the sink's lock, so `clear` can wait for it).
    func deliver(_ value: Value) { handler.callLocked(value) }
}

/// A reader-writer lock: libnats calls run concurrently under the read side; `close`
/// takes the write side, so it never frees a C object another thread is still using.
final class ReadWriteLock: @unchecked Sendable {
    // @unchecked: the pthread lock is the synchronisation.
    private let lock: UnsafeMutablePointer<pthread_rwlock_t>

    init() {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_rwlock_t())
        pthread_rwlock_init(lock, nil)
    }

    deinit {
        pthread_rwlock_destroy(lock)
        lock.deallocate()
    }

    func reading<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_rwlock_rdlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }

    func writing<R, E: Error>(_ body: () throws(E) -> R) throws(E) -> R {
        pthread_rwlock_wrlock(lock)
        defer { pthread_rwlock_unlock(lock) }
        return try body()
    }
}

/// One connection to a NATS cluster and its JetStream context (the libnats client, through
/// CNATS). Owns the C objects and frees them in `close` (or `deinit`). Publishes are
/// asynchronous: each reply reaches `onAck` on a libnats thread.
///
/// Thread-safe: every call into libnats holds the read side of `lifetime`, `close` the
/// write side, so a close on one thread (a host shutting down, a test ending) never frees
/// the context under a publish on the event loop; a call after `close` throws
/// `NATS_CONNECTION_CLOSED`. (Journals used to be stopped off their event loop, where
/// a retry could be publishing.)
final class JetStreamConnection: @unchecked Sendable {
    // @unchecked: `connection` and `context` are read under `lifetime`'s read side and
    // changed only under its write side; libnats objects are thread-safe.
    private var connection: OpaquePointer?
    private var context: OpaquePointer?
    private let lifetime = ReadWriteLock()
    private let acks = CallbackSink<JetStreamAck>()

    /// Called for every asynchronous publish reply, on a libnats thread; never after `close`.
    func onAck(_ body: @escaping @Sendable (JetStreamAck) -> Void) { acks.set(body) }

    /// Connects to `urls` (`nats://h:p,h:p`), reconnecting for ever after a loss.
    /// `ackWaitMillis` bounds API requests; `maxPending` is libnats' own in-flight limit
    /// (the journal keeps its window below it, so a publish never stalls).
    init(urls: String, name: String, maxPending: Int64 = 65_536, ackWaitMillis: Int64 = 5_000) throws(JetStreamError) {
        var nc: OpaquePointer?
        var s = sealstream_nats_connect(&nc, urls, name)
        guard s == NATS_OK else { throw JetStreamError(s) }
        connection = nc
        var js: OpaquePointer?
        s = sealstream_nats_jetstream(&js, nc, { _, msg, pa, pae, closure in
            guard let closure, let msg else { return }
            defer { natsMsg_Destroy(msg) }
            let id = sealstream_nats_msg_id(msg).map { String(cString: $0) } ?? ""
            let attempt = sealstream_nats_attempt(msg)
            let sink = CallbackSink<JetStreamAck>.from(closure)
            if let pa {
                sink.deliver(.stored(id: id, attempt: attempt, sequence: pa.pointee.Sequence, duplicate: pa.pointee.Duplicate))
            } else if let pae {
                let text = pae.pointee.ErrText.map { String(cString: $0) } ?? ""
                sink.deliver(.failed(id: id, attempt: attempt, error: JetStreamError(
                    status: Int32(pae.pointee.Err.rawValue), code: Int32(pae.pointee.ErrCode.rawValue), text: text)))
            }
        }, acks.retainedForever, maxPending, ackWaitMillis)
        guard s == NATS_OK else {
            natsConnection_Destroy(nc)
            connection = nil
            throw JetStreamError(s)
        }
        context = js
    }

    deinit { close() }

    /// Stops: waits for calls under way, frees the C objects; later replies are dropped.
    /// Safe to call twice and from any thread.
    func close() {
        lifetime.writing {
            if let context { jsCtx_Destroy(context) }
            context = nil
            if let connection { natsConnection_Destroy(connection) }
            connection = nil
        }
        acks.clear()
    }

    static let closedError = JetStreamError(status: Int32(NATS_CONNECTION_CLOSED.rawValue), text: "connection closed")

    /// Runs `body` with the JetStream context, which stays valid until it returns.
    func withContext<R>(_ body: (OpaquePointer) throws(JetStreamError) -> R) throws(JetStreamError) -> R {
        try lifetime.reading { () throws(JetStreamError) -> R in
            guard let context else { throw Self.closedError }
            return try body(context)
        }
    }

    /// Runs `body` with the connection, which stays valid until it returns.
    func withConnection<R>(_ body: (OpaquePointer) throws(JetStreamError) -> R) throws(JetStreamError) -> R {
        try lifetime.reading { () throws(JetStreamError) -> R in
            guard let connection else { throw Self.closedError }
            return try body(connection)
        }
    }

    /// Largest message the server accepts (payload and headers), bytes.
    var maxPayload: Int64 { (try? withConnection { natsConnection_GetMaxPayload($0) }) ?? 0 }

    /// Creates the stream when it does not exist (docs/REPLICATION.md §2).
    func ensureStream(name: String, subject: String, replicas: Int, duplicateWindowNanos: Int64, maxMessageBytes: Int32)
        throws(JetStreamError)
    {
        try withContext { context throws(JetStreamError) in
            var code = jsErrCode(rawValue: 0)
            let s = sealstream_nats_ensure_stream(context, name, subject, Int64(replicas), duplicateWindowNanos,
                                                  maxMessageBytes, &code)
            guard s == NATS_OK else { throw JetStreamError(s, code) }
        }
    }

    /// The stream's replicas, first and last sequence and message count.
    func streamState(name: String) throws(JetStreamError) -> (replicas: Int, first: UInt64, last: UInt64, messages: UInt64) {
        try withContext { context throws(JetStreamError) in
            var code = jsErrCode(rawValue: 0)
            var replicas: Int64 = 0
            var first: UInt64 = 0
            var last: UInt64 = 0
            var messages: UInt64 = 0
            let s = sealstream_nats_stream_state(context, name, &replicas, &first, &last, &messages, &code)
            guard s == NATS_OK else { throw JetStreamError(s, code) }
            return (Int(replicas), first, last, messages)
        }
    }

    /// The payload of the message at `sequence`, its message id and the id it names as the
    /// one it follows (`Sealstream-Previous`, nil when absent).
    func message(stream: String, sequence: UInt64) throws(JetStreamError) -> StreamMessage {
        var code = jsErrCode(rawValue: 0)
        var msg: OpaquePointer?
        let s = try withContext { context throws(JetStreamError) in js_GetMsg(&msg, context, stream, sequence, nil, &code) }
        guard s == NATS_OK, let msg else { throw JetStreamError(s, code) }
        defer { natsMsg_Destroy(msg) }
        return StreamMessage(copying: msg)
    }

    /// Publishes `data` to `subject` asynchronously with message id `id` and the subject's
    /// expected last sequence (0: empty); the reply (or a timeout after `maxWaitMillis`)
    /// reaches `onAck`. Throws when the message could not even be queued.
    func publish(subject: String, data: UnsafeRawBufferPointer, id: String, previous: String, attempt: UInt64,
                 expectedLast: UInt64, maxWaitMillis: Int64) throws(JetStreamError)
    {
        try withContext { context throws(JetStreamError) in
            let s = sealstream_nats_publish(context, subject, data.baseAddress, Int32(data.count), id, previous, attempt,
                                            expectedLast, maxWaitMillis)
            guard s == NATS_OK else { throw JetStreamError(s) }
        }
    }
}

/// One stored journal stream message as `js_GetMsg` returns it.
struct StreamMessage: Sendable {
    var data: [UInt8]
    /// `Nats-Msg-Id`.
    var id: String
    /// `Sealstream-Previous`, nil when the message has none.
    var previous: String?

    init(data: [UInt8], id: String, previous: String?) {
        self.data = data
        self.id = id
        self.previous = previous
    }

    /// A copy of a libnats message's payload and journal headers (the message stays the
    /// caller's to destroy).
    init(copying msg: OpaquePointer) {
        let count = Int(natsMsg_GetDataLength(msg))
        var data = [UInt8](repeating: 0, count: count)
        if count > 0, let base = natsMsg_GetData(msg) {
            data.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: base, count: count)) }
        }
        self.init(data: data, id: sealstream_nats_msg_id(msg).map { String(cString: $0) } ?? "",
                  previous: sealstream_nats_header(msg, "Sealstream-Previous").map { String(cString: $0) })
    }
}
