#ifndef SEALSTREAM_CNATS_SHIM_H
#define SEALSTREAM_CNATS_SHIM_H
#include <nats/nats.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Helpers that keep C pointer juggling (arrays of strings, nested option structs) out
   of Swift. Header-only: a system library target has no C sources. */

/* Creates the journal stream (docs/REPLICATION.md §2) or checks it exists: one subject,
   file storage, `replicas` copies, limits retention, discard new, no size limits,
   duplicate window `duplicates_ns`, deny delete and purge. */
static inline natsStatus sealstream_nats_ensure_stream(jsCtx *js, const char *name, const char *subject,
                                                      int64_t replicas, int64_t duplicates_ns,
                                                      int32_t max_msg_size, jsErrCode *err) {
    jsStreamInfo *si = NULL;
    natsStatus s = js_GetStreamInfo(&si, js, name, NULL, err);
    if (s == NATS_OK) {
        jsStreamInfo_Destroy(si);
        return NATS_OK;
    }
    if (s != NATS_NOT_FOUND) return s;
    jsStreamConfig cfg;
    jsStreamConfig_Init(&cfg);
    const char *subjects[1] = {subject};
    cfg.Name = name;
    cfg.Subjects = subjects;
    cfg.SubjectsLen = 1;
    cfg.Storage = js_FileStorage;
    cfg.Replicas = replicas;
    cfg.Retention = js_LimitsPolicy;
    cfg.Discard = js_DiscardNew;
    cfg.Duplicates = duplicates_ns;
    cfg.MaxMsgSize = max_msg_size;
    cfg.DenyDelete = true;
    cfg.DenyPurge = true;
    s = js_AddStream(&si, js, &cfg, NULL, err);
    if (s == NATS_OK) jsStreamInfo_Destroy(si);
    return s;
}

/* The stream's configured replicas and its last sequence and message count. */
static inline natsStatus sealstream_nats_stream_state(jsCtx *js, const char *name, int64_t *replicas,
                                                     uint64_t *first_seq, uint64_t *last_seq, uint64_t *msgs,
                                                     jsErrCode *err) {
    jsStreamInfo *si = NULL;
    natsStatus s = js_GetStreamInfo(&si, js, name, NULL, err);
    if (s != NATS_OK) return s;
    *replicas = si->Config->Replicas;
    *first_seq = si->State.FirstSeq;
    *last_seq = si->State.LastSeq;
    *msgs = si->State.Msgs;
    jsStreamInfo_Destroy(si);
    return NATS_OK;
}

/* A JetStream context whose asynchronous publishes report to `handler`. */
static inline natsStatus sealstream_nats_jetstream(jsCtx **js, natsConnection *nc, jsPubAckHandler handler,
                                                  void *closure, int64_t max_pending, int64_t wait_ms) {
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = wait_ms;
    o.PublishAsync.MaxPending = max_pending;
    o.PublishAsync.AckHandler = handler;
    o.PublishAsync.AckHandlerClosure = closure;
    o.PublishAsync.StallWait = 1;
    return natsConnection_JetStream(js, nc, &o);
}

/* Publishes `len` bytes to `subject` with a message id, the stream's expected last
   sequence (0: the subject must hold no message) and `Sealstream-Attempt: attempt`, asking for an
   ack within `max_wait_ms`. */
static inline natsStatus sealstream_nats_publish(jsCtx *js, const char *subject, const void *data, int len,
                                                const char *msg_id, const char *previous_id, uint64_t attempt,
                                                uint64_t expected_last, int64_t max_wait_ms) {
    natsMsg *msg = NULL;
    natsStatus s = natsMsg_Create(&msg, subject, NULL, (const char *)data, len);
    if (s != NATS_OK) return s;
    char text[24];
    snprintf(text, sizeof text, "%llu", (unsigned long long)attempt);
    s = natsMsgHeader_Set(msg, "Sealstream-Attempt", text);
    /* The content chain (docs/REPLICATION.md §2): the id of the message this one follows,
       "-" for the first message of the stream. Readers skip a message whose previous is not
       the last message they accepted (a cut-off writer's late publish). */
    if (s == NATS_OK) s = natsMsgHeader_Set(msg, "Sealstream-Previous", previous_id);
    if (s != NATS_OK) {
        natsMsg_Destroy(msg);
        return s;
    }
    jsPubOptions po;
    jsPubOptions_Init(&po);
    po.MsgId = msg_id;
    po.MaxWait = max_wait_ms;
    if (expected_last == 0) {
        po.ExpectNoMessage = true;
    } else {
        /* The stream-wide check: every replica checks it when it applies the message, in the
           stream's log order (so it holds for pipelined publishes), unlike the per-subject
           check, which a 2.9 leader compares with what is already applied before proposing. */
        po.ExpectLastSeq = expected_last;
    }
    s = js_PublishMsgAsync(js, &msg, &po);
    if (msg != NULL) natsMsg_Destroy(msg);
    return s;
}

/* A header's first value, NULL when absent. The string lives as long as `msg`. */
static inline const char *sealstream_nats_header(natsMsg *msg, const char *name) {
    const char *value = NULL;
    if (natsMsgHeader_Get(msg, name, &value) != NATS_OK) return NULL;
    return value;
}

/* The attempt a published message carries (0 when absent). */
static inline uint64_t sealstream_nats_attempt(natsMsg *msg) {
    const char *value = NULL;
    if (natsMsgHeader_Get(msg, "Sealstream-Attempt", &value) != NATS_OK || value == NULL) return 0;
    return strtoull(value, NULL, 10);
}

/* The message id a published message carries, or NULL. */
static inline const char *sealstream_nats_msg_id(natsMsg *msg) {
    const char *value = NULL;
    if (natsMsgHeader_Get(msg, "Nats-Msg-Id", &value) != NATS_OK) return NULL;
    return value;
}

/* Connects to the comma-separated `urls` (at most 16, 4095 bytes), reconnecting for ever. */
static inline natsStatus sealstream_nats_connect(natsConnection **nc, const char *urls, const char *name) {
    natsOptions *opts = NULL;
    natsStatus s = natsOptions_Create(&opts);
    /* A comma-separated list goes in as separate servers (SetURL takes one URL here). */
    char copy[4096];
    const char *servers[16];
    int count = 0;
    snprintf(copy, sizeof copy, "%s", urls);
    char *save = NULL;
    for (char *t = strtok_r(copy, ",", &save); t != NULL && count < 16; t = strtok_r(NULL, ",", &save)) {
        servers[count++] = t;
    }
    if (s == NATS_OK) s = natsOptions_SetServers(opts, servers, count);
    if (s == NATS_OK) s = natsOptions_SetNoRandomize(opts, false);
    if (s == NATS_OK) s = natsOptions_SetName(opts, name);
    if (s == NATS_OK) s = natsOptions_SetMaxReconnect(opts, -1);
    if (s == NATS_OK) s = natsOptions_SetReconnectWait(opts, 250);
    if (s == NATS_OK) s = natsOptions_SetTimeout(opts, 2000);
    if (s == NATS_OK) s = natsOptions_SetReconnectBufSize(opts, 64 * 1024 * 1024);
    if (s == NATS_OK) s = natsConnection_Connect(nc, opts);
    natsOptions_Destroy(opts);
    return s;
}
/* A JetStream context for synchronous requests (the lease) that wait at most `wait_ms`. */
static inline natsStatus sealstream_nats_jetstream_sync(jsCtx **js, natsConnection *nc, int64_t wait_ms) {
    jsOptions o;
    jsOptions_Init(&o);
    o.Wait = wait_ms;
    return natsConnection_JetStream(js, nc, &o);
}

/* Opens the key-value bucket `bucket` (history 1, file storage, `replicas` copies),
   creating it when absent (docs/REPLICATION.md §7). */
static inline natsStatus sealstream_nats_kv_open(kvStore **kv, jsCtx *js, const char *bucket, int64_t replicas) {
    natsStatus s = js_KeyValue(kv, js, bucket);
    if (s != NATS_NOT_FOUND) return s;
    kvConfig cfg;
    kvConfig_Init(&cfg);
    cfg.Bucket = bucket;
    cfg.History = 1;
    cfg.Replicas = (int)replicas;
    cfg.StorageType = js_FileStorage;
    return js_CreateKeyValue(kv, js, &cfg);
}

/* The value (copied into `out`, at most `cap` bytes; `*len` its full length) and revision
   of `key`. NATS_NOT_FOUND when absent or deleted. */
/* The last message of `subject` in `stream` as the stream's leader holds it (the
   STREAM.MSG.GET API, never a direct get that a follower may answer: docs/REPLICATION.md
   §7, "Reads from the leader"). `*deleted` is 1 for a KV delete or purge marker, whose
   revision is still returned; NATS_NOT_FOUND when the subject holds no message. */
static inline natsStatus sealstream_nats_kv_get(jsCtx *js, const char *stream, const char *subject, char *out,
                                                int cap, int *len, uint64_t *revision, int *deleted) {
    natsMsg *msg = NULL;
    jsErrCode code = 0;
    natsStatus s = js_GetLastMsg(&msg, js, stream, subject, NULL, &code);
    if (s != NATS_OK) return s;
    const char *op = NULL;
    *deleted = natsMsgHeader_Get(msg, "KV-Operation", &op) == NATS_OK && op != NULL
               && (strcmp(op, "DEL") == 0 || strcmp(op, "PURGE") == 0);
    int n = natsMsg_GetDataLength(msg);
    *len = n;
    if (n > cap) n = cap;
    if (n > 0) memcpy(out, natsMsg_GetData(msg), (size_t)n);
    *revision = natsMsg_GetSequence(msg);
    natsMsg_Destroy(msg);
    return NATS_OK;
}

/* Creates a KV key: a publish to its subject that the leader stores only if the subject's
   last message is still `last` (0: it holds none). Never libnats' kvStore_Create, which on
   a refusal re-reads the key with a direct get a diverged follower may answer. */
static inline natsStatus sealstream_nats_kv_create(jsCtx *js, const char *subject, const void *data, int len,
                                                  uint64_t last, uint64_t *revision, jsErrCode *err) {
    jsPubOptions po;
    jsPubOptions_Init(&po);
    if (last == 0) po.ExpectNoMessage = true;
    else po.ExpectLastSubjectSeq = last;
    jsPubAck *pa = NULL;
    natsStatus s = js_Publish(&pa, js, subject, data, len, &po, err);
    if (s == NATS_OK && pa != NULL) *revision = pa->Sequence;
    if (pa != NULL) jsPubAck_Destroy(pa);
    return s;
}

/* An ordered push consumer on `subject` of `stream` from stream sequence `start_seq`
   (docs/REPLICATION.md §8): every message reaches `handler` once, in order, on a libnats
   thread; libnats recreates the consumer after a gap. */
static inline natsStatus sealstream_nats_follow(natsSubscription **sub, jsCtx *js, const char *stream,
                                                const char *subject, uint64_t start_seq, natsMsgHandler handler,
                                                void *closure, jsErrCode *err) {
    jsSubOptions so;
    jsSubOptions_Init(&so);
    so.Stream = stream;
    so.Ordered = true;
    so.Config.DeliverPolicy = js_DeliverByStartSequence;
    so.Config.OptStartSeq = start_seq;
    natsStatus s = js_Subscribe(sub, js, subject, handler, closure, NULL, &so, err);
    if (s == NATS_OK) s = natsSubscription_SetPendingLimits(*sub, -1, 256 * 1024 * 1024);
    return s;
}

/* A stream message's sequence in the stream and the time the stream stored it (Unix ns). */
static inline natsStatus sealstream_nats_msg_meta(natsMsg *msg, uint64_t *stream_seq, int64_t *timestamp) {
    jsMsgMetaData *meta = NULL;
    natsStatus s = natsMsg_GetMetaData(&meta, msg);
    if (s != NATS_OK) return s;
    *stream_seq = meta->Sequence.Stream;
    *timestamp = meta->Timestamp;
    jsMsgMetaData_Destroy(meta);
    return NATS_OK;
}
#endif
