import Journal
import SealCrypto
import Testing
import Wire

@Suite("Journal records")
struct JournalTests {
    static func key(_ byte: UInt8 = 7) -> SecretBytes {
        var raw = [UInt8](repeating: byte, count: 32)
        return SecretBytes(consuming: &raw)
    }

    static func records(_ count: Int, key: SecretBytes = key()) -> (bytes: [UInt8], offsets: [Int]) {
        var cipher = JournalCipher(key: key)
        var out: [UInt8] = []
        var offsets: [Int] = []
        for i in 0..<count {
            offsets.append(out.count)
            var w = ByteWriter(capacity: 128)
            JournalInput(
                globalSequence: UInt64(i + 1), enclaveTime: 1_000 + UInt64(i), messageType: 0x03,
                eventBodyHash: [UInt8](repeating: UInt8(i), count: 32), account: 42, body: Array("order \(i)".utf8)
            ).encode(into: &w)
            w.bytes.withUnsafeBytes { cipher.seal(kind: .input, payload: $0, into: &out) }
        }
        return (out, offsets)
    }

    @Test("CRC-32C matches the published check value and the RFC 3720 vectors")
    func crc() {
        #expect(CRC32C.checksum(Array("123456789".utf8)) == 0xE306_9283)
        #expect(CRC32C.checksum([UInt8](repeating: 0, count: 32)) == 0x8A91_36AA)
        #expect(CRC32C.checksum([UInt8](repeating: 0xff, count: 32)) == 0x62A8_AB43)
        #expect(CRC32C.checksum(Array(0..<32)) == 0x46DD_794E)
        #expect(CRC32C.checksum([UInt8]()) == 0)
        #expect(Array("123456789".utf8).withUnsafeBytes { CRC32C.tableChecksum($0) } == 0xE306_9283)
    }

    @Test("CRC-32C: the crc32 instruction and the tables agree, at every length and alignment")
    func crcPathsAgree() {
        var generator = SystemRandomNumberGenerator()
        let bytes = (0..<1_100).map { _ in UInt8.random(in: 0...255, using: &generator) }
        bytes.withUnsafeBytes { all in
            for start in 0..<9 {
                for length in Array(0...70) + [255, 256, 257, 1_024, 1_091 - start] {
                    let slice = UnsafeRawBufferPointer(rebasing: all[start..<(start + length)])
                    #expect(CRC32C.checksum(slice) == CRC32C.tableChecksum(slice), "start \(start), length \(length)")
                }
            }
        }
    }

    @Test("Records open in order and give back their payloads")
    func roundTrip() throws {
        let (bytes, offsets) = Self.records(5)
        var reader = JournalCipher(key: Self.key())
        var at = 0
        for i in 0..<5 {
            #expect(at == offsets[i])
            let frame = try JournalFrame.parse(Array(bytes[at...]))
            #expect(frame.sequence == UInt64(i + 1) && frame.kind == .input)
            let opened = try bytes.withUnsafeBytes { try reader.open(UnsafeRawBufferPointer(rebasing: $0[at...])) }
            let input = try JournalInput.decode(opened.payload)
            #expect(input.globalSequence == UInt64(i + 1) && input.body == Array("order \(i)".utf8))
            at += opened.length
        }
        #expect(at == bytes.count)
    }

    @Test("A flipped byte anywhere fails the CRC; a torn record is incomplete")
    func framing() throws {
        let (bytes, offsets) = Self.records(2)
        let first = offsets[1]
        for i in stride(from: 0, to: first, by: 7) where i >= 8 {
            var b = bytes
            b[i] ^= 0x40
            #expect(throws: JournalFrame.Problem.self) { try JournalFrame.parse(b) }
        }
        #expect(throws: JournalFrame.Problem.incomplete(needed: first, available: first - 1)) {
            try JournalFrame.parse(Array(bytes[0..<(first - 1)]))
        }
        var magic = bytes
        magic[0] = 0
        #expect(throws: JournalFrame.Problem.badMagic) { try JournalFrame.parse(magic) }
    }

    @Test("Deletion, duplication, reordering and substitution break the chain")
    func chain() throws {
        let (bytes, offsets) = Self.records(3)
        let r = [Array(bytes[offsets[0]..<offsets[1]]), Array(bytes[offsets[1]..<offsets[2]]), Array(bytes[offsets[2]...])]
        func replay(_ records: [[UInt8]], key: SecretBytes = Self.key()) -> JournalCipher.Failure? {
            var c = JournalCipher(key: key)
            for rec in records {
                do { _ = try rec.withUnsafeBytes { try c.open($0) } } catch { return error as? JournalCipher.Failure }
            }
            return nil
        }
        #expect(replay(r) == nil)
        #expect(replay([r[0], r[2]]) == .outOfSequence(expected: 2, found: 3))
        #expect(replay([r[0], r[0]]) == .outOfSequence(expected: 2, found: 1))
        #expect(replay([r[1], r[0]]) == .outOfSequence(expected: 1, found: 2))
        #expect(replay(r, key: Self.key(8)) == .doesNotOpen(sequence: 1))
        // A record 2 from another journal (same key, same sequence number): valid frame,
        // wrong chain.
        let other = Self.records(3)
        let substitute = Array(other.bytes[other.offsets[1]..<other.offsets[2]])
        #expect(replay([r[0], substitute, r[2]]) == .doesNotOpen(sequence: 2))
    }

    @Test("Payloads decode strictly")
    func payloads() throws {
        var w = ByteWriter(capacity: 32)
        JournalBatchClose(batchIndex: 3, closeTime: 99, counter: 4).encode(into: &w)
        #expect(try JournalBatchClose.decode(w.bytes) == JournalBatchClose(batchIndex: 3, closeTime: 99, counter: 4))
        #expect(throws: WireError.self) { try JournalBatchClose.decode(w.bytes + [0]) }
        var i = ByteWriter(capacity: 64)
        JournalInput(globalSequence: 1, enclaveTime: 2, messageType: 0x07, eventBodyHash: [UInt8](repeating: 0, count: 32),
                     account: 0, body: []).encode(into: &i)
        #expect(throws: WireError.self) { try JournalInput.decode(i.bytes) }
    }
}
