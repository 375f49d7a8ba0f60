import Journal
import SealCrypto
import Testing
import Wire

@Suite("Sealed snapshot container")
struct SnapshotContainerTests {
    static func sealer(_ byte: UInt8 = 9) -> SnapshotSealer {
        var raw = [UInt8](repeating: byte, count: 32)
        return SnapshotSealer(key: SecretBytes(consuming: &raw))
    }

    static func header(payloadLength: Int, chunkSize: UInt32) -> SnapshotHeader {
        SnapshotHeader(recordSequence: 1_234, globalSequence: 1_000, batchIndex: 17,
                       stateRoot: [UInt8](repeating: 0xab, count: 32), recordHash: [UInt8](repeating: 0xcd, count: 32),
                       payloadLength: UInt64(payloadLength), chunkSize: chunkSize)
    }

    static func payload(_ n: Int) -> [UInt8] { (0..<n).map { UInt8(truncatingIfNeeded: $0 &* 31 &+ 7) } }

    @Test("Payloads of every chunking open to the same bytes under the same header",
          arguments: [(0, 16), (1, 16), (16, 16), (17, 16), (1_000, 64), (5_000, 1 << 20)] as [(Int, UInt32)])
    func roundTrip(length: Int, chunkSize: UInt32) throws {
        let payload = Self.payload(length)
        let header = Self.header(payloadLength: length, chunkSize: chunkSize)
        let file = Self.sealer().seal(header: header, payload: payload)
        #expect(UInt64(file.count) == header.sealedLength)
        #expect(Array(file[0..<SnapshotHeader.byteCount]) == header.encode())
        #expect(try SnapshotHeader.parse(file) == header)
        let (h, p) = try Self.sealer().open(file)
        #expect(h == header && p == payload)
        // Random nonces: sealing twice gives two different files that open alike.
        #expect(Self.sealer().seal(header: header, payload: payload) != file)
    }

    @Test("A flipped bit anywhere, in the header or any chunk, is refused")
    func tamperingIsRefused() throws {
        let payload = Self.payload(100)
        let file = Self.sealer().seal(header: Self.header(payloadLength: 100, chunkSize: 32), payload: payload)
        for i in 0..<file.count {
            var bad = file
            bad[i] ^= 0x01
            #expect(throws: SnapshotContainerError.self, "byte \(i)") { try Self.sealer().open(bad) }
        }
        // A header field changed consistently everywhere but the seal: the record sequence.
        var moved = file
        moved[13] ^= 0x01
        #expect(throws: SnapshotContainerError.doesNotOpen(chunk: 0)) { try Self.sealer().open(moved) }
        #expect(throws: SnapshotContainerError.doesNotOpen(chunk: 0)) { try Self.sealer(10).open(file) }
    }

    @Test("Swapped, missing and extra chunks are refused")
    func chunkStructure() throws {
        let header = Self.header(payloadLength: 64, chunkSize: 32)
        let file = Self.sealer().seal(header: header, payload: Self.payload(64))
        let chunk = 24 + 32 + 16
        let h = SnapshotHeader.byteCount
        let swapped = Array(file[0..<h]) + Array(file[(h + chunk)...]) + Array(file[h..<(h + chunk)])
        #expect(throws: SnapshotContainerError.doesNotOpen(chunk: 0)) { try Self.sealer().open(swapped) }
        #expect(throws: SnapshotContainerError.truncated) { try Self.sealer().open(Array(file.dropLast(chunk))) }
        #expect(throws: SnapshotContainerError.trailingBytes(1)) { try Self.sealer().open(file + [0]) }
        #expect(throws: SnapshotContainerError.truncated) { try SnapshotHeader.parse(file.prefix(h - 1)) }
        var magic = file
        magic[0] = 0
        #expect(throws: SnapshotContainerError.badMagic) { try SnapshotHeader.parse(magic) }
        var version = file
        version[5] = 2
        #expect(throws: SnapshotContainerError.unsupportedVersion(2)) { try SnapshotHeader.parse(version) }
    }

    /// docs/DURABILITY.md §6.3: a stated payload length above 2^56 is refused when the
    /// header is read, so computing the sealed length of any parsed header cannot overflow
    /// (before, a header stating 2^64 − 1 bytes parsed and its `sealedLength` trapped: the
    /// host's scan of its snapshot directory, and the worker receiving `snapshotData`).
    @Test("A header stating a payload above 2^56 bytes is refused, the largest allowed has a sealed length",
          arguments: [UInt32(1), 1 << 20, 1 << 24])
    func payloadLengthBound(chunkSize: UInt32) throws {
        func header(_ length: UInt64) -> [UInt8] {
            var h = Self.header(payloadLength: 0, chunkSize: chunkSize)
            h.payloadLength = length
            return h.encode()
        }
        for length in [SnapshotHeader.maxPayloadLength + 1, UInt64.max - 1, UInt64.max] {
            #expect(throws: SnapshotContainerError.payloadTooLarge(length)) { try SnapshotHeader.parse(header(length)) }
        }
        let largest = try SnapshotHeader.parse(header(1 << 56))
        #expect(largest.chunkCount == (1 << 56) / UInt64(chunkSize))
        #expect(largest.sealedLength == 106 + (1 << 56) + 40 * largest.chunkCount)
    }

    @Test("The snapshot key is SHA-256 of its label and the storage key, and differs from the journal key")
    func keyDerivation() {
        var raw = [UInt8](repeating: 1, count: 32)
        let storage = SecretBytes(consuming: &raw)
        let key = SnapshotSealer.deriveKey(storageKey: storage)
        let expected = SHA256.hash(Array("sealstream/v1/snapshot-key".utf8) + [UInt8](repeating: 1, count: 32))
        #expect(key.withUnsafeBytes { Array($0) } == expected)
        #expect(JournalCipher.deriveKey(storageKey: storage).withUnsafeBytes { Array($0) } != expected)
    }
}
