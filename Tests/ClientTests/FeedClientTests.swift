import Client
import Commitments
import Foundation
import Testing

@Suite("Market data feed client")
struct FeedClientTests {
    /// RFC 6455 §1.3's example key and accept value.
    static let rfcKey = Array(Data(base64Encoded: "dGhlIHNhbXBsZSBub25jZQ==")!)

    @Test func theHandshakeAcceptsOnlyTheRFCAcceptValue() throws {
        var codec = WebSocketClientCodec(key: Self.rfcKey)
        #expect(codec.expectedAccept == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
        let answer = "HTTP/1.1 101 Switching Protocols\r\nupgrade: websocket\r\nconnection: upgrade\r\n"
            + "sec-websocket-accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        // The answer and a text frame "hi" in one read, dripped one byte at a time.
        var frames: [WebSocketClientCodec.Frame] = []
        for b in Array(answer.utf8) + [0x81, 0x02, 0x68, 0x69] { frames += try codec.receive([b]) }
        #expect(frames == [.init(opcode: .text, payload: Array("hi".utf8))])

        var wrong = WebSocketClientCodec(key: Self.rfcKey)
        #expect(throws: ClientError.self) {
            _ = try wrong.receive(Array(answer.replacingOccurrences(of: "s3pP", with: "s3pQ").utf8))
        }
        var refused = WebSocketClientCodec(key: Self.rfcKey)
        #expect(throws: ClientError.self) { _ = try refused.receive(Array("HTTP/1.1 404 Not Found\r\n\r\n".utf8)) }
    }

    @Test func clientFramesAreMaskedAndServerFramesMustNotBe() throws {
        let frame = WebSocketClientCodec.encode(.text, Array("abc".utf8), mask: [1, 2, 3, 4])
        let expected: [UInt8] = [0x81, 0x83, 1, 2, 3, 4, 0x60, 0x60, 0x60]
        #expect(frame == expected)
        var codec = WebSocketClientCodec(key: Self.rfcKey)
        _ = try codec.receive(Array("HTTP/1.1 101 OK\r\nSec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n".utf8))
        #expect(throws: ClientError.self) { _ = try codec.receive(frame) }
    }
}

@Suite("Feed tracker: gaps and resync")
struct FeedTrackerTests {
    static let zero = "0x" + String(repeating: "0", count: 64)

    static func header(_ index: UInt64) -> String {
        #"{"accountCount":1,"batchIndex":\#(index),"decisionCount":0,"decisionsRoot":"\#(zero)","digest":"\#(zero)","#
            + #""enclaveTime":1,"eventsConsistency":{"fromSize":0,"proof":[]},"eventsRoot":"\#(zero)","firstSequence":1,"#
            + #""haltedMarkets":[],"headerHash":"\#(zero)","lastSequence":1,"marketDataRoot":"\#(zero)","#
            + #""previousHeaderHash":"\#(zero)","signature":{"r":"\#(zero)","s":"\#(zero)","v":27},"#
            + #""signer":"0x\#(String(repeating: "0", count: 40))","stateRoot":"\#(zero)","venueId":7}"#
    }

    static func message(_ type: String, batch: UInt64, sequence: UInt64) -> [UInt8] {
        let line = MarketDataRecord(
            asks: [], batchIndex: batch, bids: [], firstSequence: 1, fundingRateBps: 0, halted: false, lastSequence: 1,
            leafIndex: 0, markPrice: 5, market: 1, marketSequence: sequence, nextFundingTime: 0, openInterest: 0, oracle: [],
            policy: "lit", priceInvalidity: 0, stateTime: 1, trades: [], venueId: 7).jsonLine().dropLast()
        let escaped = String(decoding: line, as: UTF8.self).replacingOccurrences(of: "\"", with: "\\\"")
        let header = type == "snapshot" ? #","header":\#(Self.header(batch))"# : ""
        return Array((#"{"batchIndex":\#(batch)\#(header),"leafCount":1,"leafIndex":0,"line":"\#(escaped)","#
            + #""market":1,"marketSequence":\#(sequence),"proof":[],"type":"\#(type)"}"#).utf8)
    }

    func kinds(_ events: [FeedTracker.Event]) -> [String] {
        events.map {
            switch $0 {
            case .header: "header"
            case .record(let r, let snapshot, _): "\(snapshot ? "snapshot" : "update") \(r.marketSequence)"
            case .gap(_, let want, let got): "gap \(want) \(got)"
            case .invalid(let why): "invalid \(why)"
            }
        }
    }

    @Test func aGapIsReportedOnceAndUpdatesWaitForTheSnapshot() {
        var t = FeedTracker()
        var seen: [String] = []
        seen += kinds(t.receive(Self.message("snapshot", batch: 4, sequence: 5)))
        seen += kinds(t.receive(Array(#"{"header":\#(Self.header(5)),"type":"header"}"#.utf8)))
        seen += kinds(t.receive(Self.message("update", batch: 5, sequence: 6)))
        // Sequence 7 is lost: 8 shows the gap, 9 is ignored until the snapshot.
        seen += kinds(t.receive(Self.message("update", batch: 7, sequence: 8)))
        seen += kinds(t.receive(Self.message("update", batch: 8, sequence: 9)))
        #expect(t.resyncing == [1])
        seen += kinds(t.receive(Self.message("snapshot", batch: 8, sequence: 9)))
        seen += kinds(t.receive(Self.message("update", batch: 9, sequence: 10)))
        // An update the snapshot already covered is dropped silently.
        seen += kinds(t.receive(Self.message("update", batch: 8, sequence: 9)))
        #expect(seen == ["snapshot 5", "header", "update 6", "gap 7 8", "snapshot 9", "update 10"])
        #expect(t.resyncing.isEmpty && t.next[1] == 11)
    }

    @Test func unverifiableLinesAreMarkedAndGarbageIsInvalid() {
        var t = FeedTracker()
        // The zero header's hash is not its headerHash and the proof reaches no root.
        guard case .record(_, _, let verified) = t.receive(Self.message("snapshot", batch: 1, sequence: 1)).first else {
            Issue.record("no record")
            return
        }
        #expect(!verified)
        #expect(kinds(t.receive(Array("{}".utf8))) == ["invalid not a feed message"])
        #expect(kinds(t.receive(Self.message("update", batch: 2, sequence: 2))) == ["invalid update message lacks a field or its header"])
    }
}
