import Commitments
import FuzzSupport
import Journal
import Wire

// The host ↔ enclave link decoder over a stream of link messages, as both ends read it.
// Invariants: a batch rebuilt with `LinkBatchWriter` from its decoded entries is the
// original message byte for byte; each entry's frame body goes through its message
// decoder; stats survive a round trip; event leaves re-encode to their 49 bytes.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzLink(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = fuzzInput(start, count)
    var offset = 0
    while offset < count {
        let rest = UnsafeRawBufferPointer(rebasing: input[offset...])
        let parsed: LinkHeader?
        do { parsed = try LinkParser.parseHeader(rest) } catch { return 0 }
        guard let header = parsed else { return 0 }
        invariant(header.totalLength <= rest.count, "link header longer than the bytes")
        let message = UnsafeRawBufferPointer(rebasing: rest[0..<header.totalLength])
        let body = UnsafeRawBufferPointer(rebasing: rest[5..<header.totalLength])
        switch header.kind {
        case .inboundBatch: checkBatch(header.kind, message: message, body: body, direction: .fromClient)
        case .outboundBatch: checkBatch(header.kind, message: message, body: body, direction: .toClient)
        case .stats: checkStats(body)
        case .eventLeaves:
            var at = 0
            while at + EventLeaf.byteCount <= body.count {
                let chunk = Array(body[at..<(at + EventLeaf.byteCount)])
                invariant(EventLeaf(chunk)?.bytes == chunk, "EventLeaf: decode then encode changed the record")
                at += EventLeaf.byteCount
            }
        case .routeClosed, .hello, .decisions, .batchHeader, .snapshotData, .marketData, .publicInputs, .funding,
             .enrollChallenge, .enrollGrant, .enrollStart, .enrollEvidence, .enrolled, .enrollFailed, .storageKeyRequest:
            invariant(encodeLinkMessage(kind: header.kind, body: body) == Array(message), "link message re-encodes differently")
        case .journal, .journalReplay:
            // Whole journal records: the host's frame check (magic, bounds, CRC) on each.
            var at = 0
            while at < body.count, let frame = try? JournalFrame.parse(UnsafeRawBufferPointer(rebasing: body[at...])) {
                invariant(frame.length >= JournalFrame.minLength && at + frame.length <= body.count, "frame out of bounds")
                at += frame.length
            }
        case .replayEnd, .follow: _ = try? ReplayEnd.decode(body: body)
        case .recovered: _ = try? Recovered.decode(body: body)
        case .journalRejected: _ = try? JournalRejected.decode(body: body)
        case .snapshotRejected: _ = try? SnapshotRejected.decode(body: body)
        case .storageKeyOffer:
            // A body that decodes re-encodes to the same message.
            if let offer = try? StorageKeyOffer.decode(body: body) {
                invariant(offer.encode() == Array(message), "storage key offer re-encodes differently")
            }
        case .storageKeyCreated:
            if let file = try? StorageKeyCreated.decode(body: body) {
                invariant(StorageKeyCreated.encode(file: file) == Array(message), "storage key created re-encodes differently")
            }
        }
        offset += header.totalLength
    }
    return 0
}

func checkBatch(_ kind: LinkKind, message: UnsafeRawBufferPointer, body: UnsafeRawBufferPointer,
                direction: FrameParser.Direction) {
    var entries: [(route: UInt32, type: MessageType, frame: [UInt8], bodyOffset: Int)] = []
    do {
        try LinkParser.forEachEntry(batchBody: body, direction: direction) { route, header, frame in
            invariant(frame.count == header.totalLength, "entry slice is not the frame's length")
            entries.append((route, header.type, Array(frame), header.bodyOffset))
        }
    } catch {
        return
    }
    var writer = LinkBatchWriter(kind: kind, capacity: message.count)
    for e in entries {
        writer.append(route: e.route, frame: e.frame)
        e.frame.withUnsafeBytes { checkMessage(e.type, body: UnsafeRawBufferPointer(rebasing: $0[e.bodyOffset...])) }
    }
    invariant(writer.finish() == Array(message), "batch rebuilt from its entries differs")
}

// SwiftPM links executables with `main` = `FuzzLink_main`; libFuzzer's driver runs from here.
@_cdecl("FuzzLink_main")
public func fuzzLinkMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runLibFuzzer(argc, argv)
}
