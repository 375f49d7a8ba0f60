import Testing
@testable import Wire

/// The key file kept by the host (docs/DURABILITY.md §4.1): `storageKeyOffer` and
/// `storageKeyCreated` bodies.
@Suite("Storage key link messages")
struct StorageKeyLinkTests {
    /// The body of a whole link message, after its length and kind.
    static func body(_ message: [UInt8], kind: LinkKind) -> [UInt8] {
        #expect(message[4] == kind.rawValue)
        #expect(Int(UInt32(message[0]) << 24 | UInt32(message[1]) << 16 | UInt32(message[2]) << 8 | UInt32(message[3]))
            == message.count - 4)
        return Array(message.dropFirst(5))
    }

    static func decodeOffer(_ body: [UInt8]) throws -> StorageKeyOffer {
        try body.withUnsafeBytes { try StorageKeyOffer.decode(body: $0) }
    }

    @Test func offerRoundTrip() throws {
        let file = Array(#"{"version":1,"mode":"tpm"}"#.utf8)
        for offer in [StorageKeyOffer.none, .absent, .file(file), .file([7])] {
            #expect(try Self.decodeOffer(Self.body(offer.encode(), kind: .storageKeyOffer)) == offer)
        }
        #expect(Self.body(StorageKeyOffer.none.encode(), kind: .storageKeyOffer) == [0])
        #expect(Self.body(StorageKeyOffer.absent.encode(), kind: .storageKeyOffer) == [1])
        #expect(Self.body(StorageKeyOffer.file([0xAB, 0xCD]).encode(), kind: .storageKeyOffer) == [2, 0, 0, 0, 2, 0xAB, 0xCD])
    }

    @Test func offerTruncatedIsRefused() throws {
        let body = Self.body(StorageKeyOffer.file(Array(repeating: 5, count: 40)).encode(), kind: .storageKeyOffer)
        #expect(throws: WireError.truncated(needed: 1, available: 0)) { try Self.decodeOffer([]) }
        #expect(throws: WireError.truncated(needed: 4, available: 2)) { try Self.decodeOffer(Array(body.prefix(3))) }
        #expect(throws: WireError.truncated(needed: 40, available: 39)) { try Self.decodeOffer(Array(body.dropLast())) }
    }

    @Test func offerOutOfRangeIsRefused() throws {
        #expect(throws: WireError.invalidField("storage key offer: state 3")) { try Self.decodeOffer([3]) }
        #expect(throws: WireError.invalidField("storage key offer: file of 0 bytes")) { try Self.decodeOffer([2, 0, 0, 0, 0]) }
        #expect(throws: WireError.invalidField("storage key offer: file of 65537 bytes")) {
            try Self.decodeOffer([2, 0, 1, 0, 1] + Array(repeating: 0, count: 65_537))
        }
        // Bytes after the end (a state without a file, or a file with a tail).
        #expect(throws: WireError.self) { try Self.decodeOffer([1, 0]) }
        #expect(throws: WireError.self) { try Self.decodeOffer([2, 0, 0, 0, 1, 9, 9]) }
    }

    @Test func createdRoundTripAndLimits() throws {
        let file = Array(repeating: UInt8(0x7B), count: 1_200)
        let body = Self.body(StorageKeyCreated.encode(file: file), kind: .storageKeyCreated)
        #expect(try body.withUnsafeBytes { try StorageKeyCreated.decode(body: $0) } == file)
        #expect(throws: WireError.invalidField("storage key created: file of 0 bytes")) {
            try [UInt8]().withUnsafeBytes { try StorageKeyCreated.decode(body: $0) }
        }
        #expect(throws: WireError.invalidField("storage key created: file of 65537 bytes")) {
            try [UInt8](repeating: 1, count: 65_537).withUnsafeBytes { try StorageKeyCreated.decode(body: $0) }
        }
    }

    /// The link parser knows the three kinds (a host or worker reads them as messages).
    @Test func kindsParse() throws {
        for kind in [LinkKind.storageKeyRequest, .storageKeyOffer, .storageKeyCreated] {
            let message = encodeLinkMessage(kind: kind, body: [1])
            let header = try message.withUnsafeBytes { try LinkParser.parseHeader($0) }
            #expect(header?.kind == kind)
        }
    }
}
