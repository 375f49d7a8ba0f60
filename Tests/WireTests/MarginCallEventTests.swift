import Testing
@testable import Wire

/// The margin-call plaintext of docs/PROTOCOL.md §2.11 (kind 2), against a vector written
/// field by field from the tables there (python/tests decodes the same bytes).
@Suite("Margin call event")
struct MarginCallEventTests {
    static let vector =
        "0201000087d600000000075bcd150000000053724e00000000004c1680eb000000000000002a000000e8d4a5107b0002"
        + "00000001010000000beebcf08000109b03000087d6ffffffffff7e1ca7fffffffffffffb2effffffffd941c980"
        + "000000030000000000000000000000000000000000000000000000000000000000000000000000000000000000"

    static let event = MarginCallEvent(
        trigger: .crossed, probabilityPpm: 34_774, distance: 123_456_789, equity: 1_400_000_000, maintenance: 1_276_543_211,
        globalSequence: 42, enclaveTime: 1_000_000_000_123,
        exposures: [
            .init(underlying: 1, exposed: true, mark: 51_250_000_000, volatilityPpm: 1_088_259, probabilityPpm: 34_774,
                  delta: -8_512_345, gamma: -1_234, vega: -650_000_000),
            .unexposed(3),
        ])

    @Test func encodesTheDocumentedLayout() throws {
        let bytes = Self.event.encode()
        #expect(bytes.count == MarginCallEvent.length(underlyings: 2) && bytes.count == 138)
        #expect(Hex.encode(bytes) == Self.vector)
        let decoded = try bytes.withUnsafeBytes { try SessionEvent.decode($0) }
        #expect(decoded == .marginCall(Self.event))
    }

    /// A fill event still decodes as kind 1; unknown kinds, bad triggers, probabilities
    /// above 10⁶, a bad flag, no exposure or another count than the venue's, underlyings out
    /// of order, an unexposed underlying with values, and a wrong length are refused.
    @Test func decodingIsStrict() throws {
        let fill = FillEvent(clientOrderID: try ClientOrderID("a"), market: 1, side: .sell, price: 1, quantity: 2, fee: 0,
                             makerOrderID: 3, globalSequence: 4, enclaveTime: 5)
        #expect(try fill.encode().withUnsafeBytes { try SessionEvent.decode($0) } == .fill(fill))
        let good = Self.event.encode()
        func refused(_ edit: (inout [UInt8]) -> Void) -> Bool {
            var b = good
            edit(&b)
            return (try? b.withUnsafeBytes { try SessionEvent.decode($0) }) == nil
        }
        #expect(refused { $0[0] = 3 })
        #expect(refused { $0[1] = 0 })
        #expect(refused { $0[1] = 3 })
        #expect(refused { $0[2...5] = [0x00, 0x0f, 0x42, 0x41] })  // 1,000,001
        #expect(!refused { $0[2...5] = [0x00, 0x0f, 0x42, 0x40] })  // 1,000,000
        #expect(refused { $0[52] = 2 })  // the first exposure's flag
        #expect(refused { $0.append(0) })
        #expect(refused { $0.removeLast() })
        #expect(refused { $0[47] = 3 })  // count 3, two exposures
        #expect(refused { $0 = Array($0[..<48]); $0[47] = 0 })  // no exposure at all
        #expect(refused { $0[96] = 1 })  // the second underlying repeats the first
        #expect(refused { $0[96] = 0 })  // ... or comes before it
        #expect(refused { $0[105] = 1 })  // unexposed, yet a mark
        #expect(refused { $0[$0.count - 1] = 1 })  // unexposed, yet a vega
        // The venue's number of option underlyings, when the caller knows it.
        #expect(try good.withUnsafeBytes { try MarginCallEvent.decode($0, underlyings: 2) } == Self.event)
        for n in [1, 3] {
            #expect(throws: WireError.invalidField("margin call count")) {
                try good.withUnsafeBytes { try MarginCallEvent.decode($0, underlyings: n) }
            }
        }
        #expect(throws: WireError.self) { try [UInt8]().withUnsafeBytes { try SessionEvent.decode($0) } }
    }

    /// PROTOCOL §2.11: each rule applies as soon as its field is read, truncation included,
    /// so the refusal of a short or malformed plaintext is pinned (python/tests/test_wire.py
    /// checks the same cases).
    @Test func theRefusalIsTheFirstRuleBrokenInReadingOrder() {
        func refusal(_ bytes: [UInt8]) -> WireError? {
            do { _ = try bytes.withUnsafeBytes { try MarginCallEvent.decode($0) } } catch let e as WireError { return e } catch {}
            return nil
        }
        #expect(refusal([2, 9]) == .invalidField("margin call trigger"))
        #expect(refusal([2, 1, 0x00, 0x0f, 0x42, 0x41]) == .invalidField("margin call probability"))
        if case .truncated = refusal([2, 1, 0, 0, 0, 0]) {} else { Issue.record("a header ending before distance") }
        let cut = Array(Self.event.encode()[..<46]) + [0, 1] + [0, 0, 0, 5, 7]
        #expect(refusal(cut) == .invalidField("margin call exposed flag"))
    }
}
