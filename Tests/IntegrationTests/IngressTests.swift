#if canImport(Glibc)
import Glibc
#endif
import Client
import Foundation
import SealCrypto
import Testing
import VenueTools
import Wire

/// The host's promises about replies (docs/PROTOCOL.md §1): every frame that reached the
/// enclave is answered before the connection closes, and replies keep request order.
@Suite("Host ingress: replies owed and reply order", .serialized)
struct IngressTests {
    static func restingOrder(_ id: String) throws -> OrderRequest {
        .newOrder(NewOrder(clientOrderID: try ClientOrderID(id), market: 1, side: .sell, price: 65_000_000_000,
                           quantity: 10_000_000))
    }

    /// Reads until the connection ends; returns the receipts opened and how it ended.
    static func readToClose(_ trader: Trader) -> (receipts: [Receipt], end: ClientError?, other: [MessageType]) {
        var receipts: [Receipt] = []
        var other: [MessageType] = []
        while true {
            do {
                let frame = try trader.connection.receive(timeoutMillis: 10_000)
                switch frame.type {
                case .sealedReceipt:
                    let envelope = try frame.body.withUnsafeBytes { try SealedEnvelope.decode(body: $0) }
                    receipts.append(try trader.session.openReceipt(envelope))
                case .sealedEvent: break
                default: other.append(frame.type)
                }
            } catch let error as ClientError {
                return (receipts, error, other)
            } catch {
                other.append(.error)
                return (receipts, nil, other)
            }
        }
    }

    /// Orders followed in the same write by a malformed frame: each order was forwarded
    /// and sequenced, so each receipt arrives, then the `Error` frame, then the close.
    /// The in-flight limit is small, so most orders wait in the host behind it first.
    @Test func malformedFrameAfterOrdersStillDeliversTheirReceipts() throws {
        let host = try HostProcess(label: "owed-malformed", extraArguments: ["--max-in-flight", "8"])
        let trader = try Trader(address: host.address, accountID: 61, name: "owed-malformed")
        var bytes: [UInt8] = []
        for i in 0..<40 { bytes += try trader.session.seal(try Self.restingOrder("m-\(i)")).frame }
        bytes += [0, 0, 0, 1, 1]  // bad_length
        try trader.connection.send(bytes)
        let (receipts, end, other) = Self.readToClose(trader)
        #expect(receipts.count == 40, "one receipt per order before the error")
        #expect(receipts.allSatisfy { $0.status == .accepted })
        #expect(receipts.map { $0.clientOrderID?.description ?? "" } == (0..<40).map { "m-\($0)" })
        #expect(other.isEmpty, "unexpected frames \(other)")
        guard case .hostError(let code, let message) = end else {
            Issue.record("expected the Error frame last, got \(String(describing: end))")
            return
        }
        #expect(code == 1 && message == "bad_length")
        do {
            let frame = try trader.connection.receive(timeoutMillis: 5_000)
            Issue.record("expected the close after the error, got \(frame.type)")
        } catch {
            #expect(error == .connectionClosed)
        }
        #expect(host.stop() == 0)
        #expect(host.metric("sealstream_host_replies_undeliverable_total") == 0)
        #expect((host.metric("sealstream_host_read_pauses_total") ?? 0) >= 1, "orders waited behind the in-flight limit")
        #expect(host.metric("sealstream_host_malformed_frames_total{reason=\"bad_length\"}") == 1)
    }

    /// Orders, then the client half-closes its write side: the host keeps its side open
    /// until every receipt is written, then closes. With a small in-flight limit, most
    /// orders are still waiting in the host when the half-close arrives.
    @Test func halfCloseKeepsTheReplySideOpenUntilNothingIsOwed() throws {
        let host = try HostProcess(label: "owed-halfclose", extraArguments: ["--max-in-flight", "8"])
        let trader = try Trader(address: host.address, accountID: 62, name: "owed-halfclose")
        var bytes: [UInt8] = []
        for i in 0..<40 { bytes += try trader.session.seal(try Self.restingOrder("h-\(i)")).frame }
        // A partial frame after them is counted as truncated, and answers nothing.
        bytes += Array(EvidenceRequest(nonce: Array(repeating: 7, count: 32)).encode().prefix(10))
        try trader.connection.send(bytes)
        trader.connection.shutdownWrite()
        let (receipts, end, other) = Self.readToClose(trader)
        #expect(receipts.count == 40, "one receipt per order after the half-close")
        #expect(receipts.map { $0.clientOrderID?.description ?? "" } == (0..<40).map { "h-\($0)" })
        #expect(receipts.allSatisfy { $0.status == .accepted })
        #expect(other.isEmpty, "unexpected frames \(other)")
        #expect(end == .connectionClosed)
        #expect(host.stop() == 0)
        #expect(host.metric("sealstream_host_replies_undeliverable_total") == 0)
        #expect((host.metric("sealstream_host_read_pauses_total") ?? 0) >= 1, "orders waited behind the in-flight limit")
        #expect(host.metric("sealstream_host_malformed_frames_total{reason=\"truncated\"}") == 1)
    }

    /// Host refusals (`tooManyRequests`) are queued behind the replies to earlier
    /// requests on the connection: replies arrive in request order.
    @Test func hostRefusalsKeepRequestOrder() throws {
        let host = try HostProcess(label: "reply-order")
        let connection = try Connection(address: host.address)
        // Six evidence requests: the host forwards four and refuses the fifth and sixth;
        // a deposit after them (for an unknown custody signature) is answered by the enclave.
        var bytes: [UInt8] = []
        for i in 0..<6 { bytes += EvidenceRequest(nonce: Array(repeating: UInt8(i), count: 32)).encode() }
        var deposit = DemoKeys.deposit(venueID: DemoKeys.venue().venueID, accountID: 63,
                                       accountKey: DemoKeys.signingKey(.trader, "order").publicKey.bytes,
                                       amount: 1_000_000, depositID: 4242)
        deposit.signature[0] ^= 1
        bytes += deposit.encode()
        try connection.send(bytes)
        var sequence: [String] = []
        for _ in 0..<7 {
            let frame = try connection.receive(timeoutMillis: 10_000)
            switch frame.type {
            case .evidence:
                let json = try JSONSerialization.jsonObject(with: Data(frame.body)) as? [String: Any]
                sequence.append("evidence:\((json?["nonce"] as? String)?.prefix(2) ?? "?")")
            case .refusal:
                let r = try frame.body.withUnsafeBytes { try Refusal.decode(body: $0) }
                sequence.append("refusal:\(r.refused):\(r.reason):\(r.reference)")
            default:
                sequence.append("\(frame.type)")
            }
        }
        #expect(sequence == [
            "evidence:00", "evidence:01", "evidence:02", "evidence:03",
            "refusal:\(MessageType.evidenceRequest):\(RefusalReason.tooManyRequests):0",
            "refusal:\(MessageType.evidenceRequest):\(RefusalReason.tooManyRequests):0",
            "refusal:\(MessageType.deposit):\(RefusalReason.badCustodySignature):4242",
        ])
        #expect(host.stop() == 0)
        #expect(host.metric("sealstream_host_frames_refused_over_limit_total") == 2)
    }
}
