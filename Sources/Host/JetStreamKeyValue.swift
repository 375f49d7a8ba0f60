import CNATS

/// One JetStream key-value bucket (the leadership lease, docs/REPLICATION.md §7), over its
/// own JetStream context whose requests wait at most `waitMillis`. Synchronous calls: use
/// it from one thread of its own, never the event loop. Owns the C objects.
final class JetStreamKeyValue: @unchecked Sendable {
    // @unchecked: used by one thread (the lease's); libnats objects are thread-safe anyway.
    private var context: OpaquePointer?
    private var store: OpaquePointer?
    /// Keeps the connection alive as long as the bucket.
    private let connection: JetStreamConnection
    /// The bucket's stream and subject prefix (`KV_<bucket>`, `$KV.<bucket>.`).
    private let stream: String
    private let subjectPrefix: String
    /// Per key, the revision `get` last found it absent at: 0 (no message) or a delete
    /// marker's; `create` compares-and-sets against it.
    private var absentAt: [String: UInt64] = [:]

    /// Opens `bucket`, creating it (history 1, file storage, `replicas` copies) when absent.
    init(connection: JetStreamConnection, bucket: String, replicas: Int, waitMillis: Int64) throws(JetStreamError) {
        self.connection = connection
        stream = "KV_" + bucket
        subjectPrefix = "$KV." + bucket + "."
        var js: OpaquePointer?
        var s = try connection.withConnection { nc throws(JetStreamError) in sealstream_nats_jetstream_sync(&js, nc, waitMillis) }
        guard s == NATS_OK else { throw JetStreamError(s) }
        context = js
        // Created (a stream of three replicas: seconds, at times) through the connection's
        // patient context, then used through the short one.
        var kv: OpaquePointer?
        s = try connection.withContext { patient throws(JetStreamError) in
            sealstream_nats_kv_open(&kv, patient, bucket, Int64(replicas))
        }
        guard s == NATS_OK else { throw JetStreamError(s) }
        kvStore_Destroy(kv)
        kv = nil
        for _ in 0..<20 {
            s = js_KeyValue(&kv, js, bucket)
            if s == NATS_OK { break }
        }
        guard s == NATS_OK else { throw JetStreamError(s) }
        store = kv
    }

    deinit {
        if let store { kvStore_Destroy(store) }
        if let context { jsCtx_Destroy(context) }
    }

    /// The value and revision of `key` as the bucket's stream leader holds them; nil when
    /// absent or deleted. Never a direct get: nats-server 2.9.10's replicas of a KV stream
    /// can come to disagree about sequence numbers after compare-and-set refusals and node
    /// restarts (seen in the failover chaos: the leader at 177, both followers at 178 for
    /// the same message), and a revision read from a follower then fails every
    /// compare-and-set at the leader (docs/REPLICATION.md §7).
    func get(_ key: String) throws(JetStreamError) -> (value: [UInt8], revision: UInt64)? {
        var buffer = [UInt8](repeating: 0, count: 4096)
        var length: Int32 = 0
        var revision: UInt64 = 0
        var deleted: Int32 = 0
        let s = buffer.withUnsafeMutableBytes { raw in
            sealstream_nats_kv_get(context, stream, subjectPrefix + key, raw.baseAddress!.assumingMemoryBound(to: CChar.self),
                                   Int32(raw.count), &length, &revision, &deleted)
        }
        if s == NATS_NOT_FOUND {
            absentAt[key] = 0
            return nil
        }
        guard s == NATS_OK else { throw JetStreamError(s) }
        if deleted != 0 {
            absentAt[key] = revision
            return nil
        }
        absentAt[key] = nil
        return (Array(buffer.prefix(Int(min(length, 4096)))), revision)
    }

    /// Creates `key`, which the last `get` found absent or deleted: a compare-and-set
    /// against that (0 for no message, else the delete marker's revision), so it is
    /// refused if anything was written since; returns its revision.
    func create(_ key: String, value: [UInt8]) throws(JetStreamError) -> UInt64 {
        var revision: UInt64 = 0
        var code = jsErrCode(rawValue: 0)
        let last = absentAt[key] ?? 0
        let s = value.withUnsafeBytes {
            sealstream_nats_kv_create(context, subjectPrefix + key, $0.baseAddress, Int32($0.count), last, &revision, &code)
        }
        guard s == NATS_OK else { throw JetStreamError(s, code) }
        return revision
    }

    /// Replaces `key` if its revision is still `last` (compare-and-set); returns the new one.
    func update(_ key: String, value: [UInt8], last: UInt64) throws(JetStreamError) -> UInt64 {
        var revision: UInt64 = 0
        let s = value.withUnsafeBytes { kvStore_Update(&revision, store, key, $0.baseAddress, Int32($0.count), last) }
        guard s == NATS_OK else { throw JetStreamError(s) }
        return revision
    }

    /// Deletes `key` (a delete marker: `get` answers nil, `create` succeeds).
    func delete(_ key: String) throws(JetStreamError) {
        let s = kvStore_Delete(store, key)
        guard s == NATS_OK else { throw JetStreamError(s) }
    }
}

/// One stream message as a follower receives it.
struct FollowedMessage: Sendable {
    /// The message's sequence in the stream.
    var streamSequence: UInt64
    /// When the stream stored it, Unix ns (the leader's clock).
    var storedUnixNanos: Int64
    var id: String
    /// `Sealstream-Previous`: the id of the message it follows (docs/REPLICATION.md §2).
    var previous: String?
    var data: [UInt8]
}

/// An ordered push consumer on the journal stream (docs/REPLICATION.md §8): every message
/// from a start sequence reaches `onMessage` once, in order, on a libnats thread.
final class JetStreamFollow: @unchecked Sendable {
    // @unchecked: `subscription` is changed by `start` and `stop` only, on the follower's
    // thread; libnats objects are thread-safe; delivery goes through the sink.
    private var subscription: OpaquePointer?
    private let connection: JetStreamConnection
    private let messages = CallbackSink<FollowedMessage>()

    init(connection: JetStreamConnection) {
        self.connection = connection
    }

    deinit { stop() }

    /// Where messages go; never called after `stop` returns.
    func onMessage(_ body: @escaping @Sendable (FollowedMessage) -> Void) { messages.set(body) }

    /// Starts delivery at stream sequence `from`.
    func start(stream: String, subject: String, from: UInt64) throws(JetStreamError) {
        var code = jsErrCode(rawValue: 0)
        var sub: OpaquePointer?
        let closure = messages.retainedForever
        let s = try connection.withContext { context throws(JetStreamError) in
            sealstream_nats_follow(&sub, context, stream, subject, from, { _, _, msg, closure in
                guard let msg, let closure else { return }
                defer { natsMsg_Destroy(msg) }
                var sequence: UInt64 = 0
                var stored: Int64 = 0
                guard sealstream_nats_msg_meta(msg, &sequence, &stored) == NATS_OK else { return }
                let m = StreamMessage(copying: msg)
                CallbackSink<FollowedMessage>.from(closure).deliver(FollowedMessage(
                    streamSequence: sequence, storedUnixNanos: stored, id: m.id, previous: m.previous, data: m.data))
            }, closure, &code)
        }
        guard s == NATS_OK else { throw JetStreamError(s, code) }
        subscription = sub
    }

    /// Ends delivery: waits for a callback under way; none runs afterwards. Safe to call twice.
    func stop() {
        if let subscription {
            natsSubscription_Unsubscribe(subscription)
            natsSubscription_Destroy(subscription)
        }
        subscription = nil
        messages.clear()
    }
}
