import CNATS
import Foundation

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

/// One connection to a NATS cluster and its JetStream context (the libnats client, through
/// CNATS). Owns the C objects and frees them in `deinit`. Publishes are asynchronous: each
/// reply reaches `onAck` on a libnats thread.
final class JetStreamConnection: @unchecked Sendable {
    // @unchecked: libnats objects are thread-safe; `onAck` is set once, before publishing.
    private(set) var connection: OpaquePointer?
    private(set) var context: OpaquePointer?
    /// Called for every asynchronous publish reply, on a libnats thread.
    var onAck: (@Sendable (JetStreamAck) -> Void)?

    /// Connects to `urls` (`nats://h:p,h:p`), reconnecting for ever after a loss.
    /// `ackWaitMillis` bounds API requests; `maxPending` is libnats' own in-flight limit
    /// (the journal keeps its window below it, so a publish never stalls).
    init(urls: String, name: String, maxPending: Int64 = 65_536, ackWaitMillis: Int64 = 5_000) throws(JetStreamError) {
        var nc: OpaquePointer?
        var s = sealstream_nats_connect(&nc, urls, name)
        guard s == NATS_OK else { throw JetStreamError(s) }
        connection = nc
        var js: OpaquePointer?
        let closure = Unmanaged.passUnretained(self).toOpaque()
        s = sealstream_nats_jetstream(&js, nc, { _, msg, pa, pae, closure in
            guard let closure, let msg else { return }
            let me = Unmanaged<JetStreamConnection>.fromOpaque(closure).takeUnretainedValue()
            let id = sealstream_nats_msg_id(msg).map { String(cString: $0) } ?? ""
            let attempt = sealstream_nats_attempt(msg)
            if let pa {
                me.onAck?(.stored(id: id, attempt: attempt, sequence: pa.pointee.Sequence, duplicate: pa.pointee.Duplicate))
            } else if let pae {
                let text = pae.pointee.ErrText.map { String(cString: $0) } ?? ""
                me.onAck?(.failed(id: id, attempt: attempt, error: JetStreamError(
                    status: Int32(pae.pointee.Err.rawValue), code: Int32(pae.pointee.ErrCode.rawValue), text: text)))
            }
            natsMsg_Destroy(msg)
        }, closure, maxPending, ackWaitMillis)
        guard s == NATS_OK else {
            natsConnection_Destroy(nc)
            connection = nil
            throw JetStreamError(s)
        }
        context = js
    }

    deinit { close() }

    /// Stops: pending replies are dropped. Safe to call twice.
    func close() {
        if let context { jsCtx_Destroy(context) }
        context = nil
        if let connection { natsConnection_Destroy(connection) }
        connection = nil
    }

    /// Largest message the server accepts (payload and headers), bytes.
    var maxPayload: Int64 { natsConnection_GetMaxPayload(connection) }

    /// Creates the stream when it does not exist (docs/REPLICATION.md §2).
    func ensureStream(name: String, subject: String, replicas: Int, duplicateWindowNanos: Int64, maxMessageBytes: Int32)
        throws(JetStreamError)
    {
        var code = jsErrCode(rawValue: 0)
        let s = sealstream_nats_ensure_stream(context, name, subject, Int64(replicas), duplicateWindowNanos,
                                              maxMessageBytes, &code)
        guard s == NATS_OK else { throw JetStreamError(s, code) }
    }

    /// The stream's replicas, first and last sequence and message count.
    func streamState(name: String) throws(JetStreamError) -> (replicas: Int, first: UInt64, last: UInt64, messages: UInt64) {
        var code = jsErrCode(rawValue: 0)
        var replicas: Int64 = 0
        var first: UInt64 = 0
        var last: UInt64 = 0
        var messages: UInt64 = 0
        let s = sealstream_nats_stream_state(context, name, &replicas, &first, &last, &messages, &code)
        guard s == NATS_OK else { throw JetStreamError(s, code) }
        return (Int(replicas), first, last, messages)
    }

    /// The payload of the message at `sequence`, its message id and the id it names as the
    /// one it follows (`Sealstream-Previous`, nil when absent).
    func message(stream: String, sequence: UInt64) throws(JetStreamError) -> StreamMessage {
        var code = jsErrCode(rawValue: 0)
        var msg: OpaquePointer?
        let s = js_GetMsg(&msg, context, stream, sequence, nil, &code)
        guard s == NATS_OK, let msg else { throw JetStreamError(s, code) }
        defer { natsMsg_Destroy(msg) }
        let count = Int(natsMsg_GetDataLength(msg))
        var data = [UInt8](repeating: 0, count: count)
        if count > 0, let base = natsMsg_GetData(msg) {
            data.withUnsafeMutableBytes { $0.copyMemory(from: UnsafeRawBufferPointer(start: base, count: count)) }
        }
        let id = sealstream_nats_msg_id(msg).map { String(cString: $0) } ?? ""
        let previous = sealstream_nats_header(msg, "Sealstream-Previous").map { String(cString: $0) }
        return StreamMessage(data: data, id: id, previous: previous)
    }

    /// Publishes `data` to `subject` asynchronously with message id `id` and the subject's
    /// expected last sequence (0: empty); the reply (or a timeout after `maxWaitMillis`)
    /// reaches `onAck`. Throws when the message could not even be queued.
    func publish(subject: String, data: UnsafeRawBufferPointer, id: String, previous: String, attempt: UInt64,
                 expectedLast: UInt64, maxWaitMillis: Int64) throws(JetStreamError)
    {
        let s = sealstream_nats_publish(context, subject, data.baseAddress, Int32(data.count), id, previous, attempt,
                                        expectedLast, maxWaitMillis)
        guard s == NATS_OK else { throw JetStreamError(s) }
    }
}

/// One stored journal stream message as `js_GetMsg` returns it.
struct StreamMessage: Sendable {
    var data: [UInt8]
    /// `Nats-Msg-Id`.
    var id: String
    /// `Sealstream-Previous`, nil when the message has none.
    var previous: String?
}
