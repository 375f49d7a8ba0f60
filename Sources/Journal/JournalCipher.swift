import SealCrypto
import Wire

/// Seals and opens journal records under the journal key and keeps the chain: each
/// record's associated data ends with the previous record's hash (docs/DURABILITY.md §2).
/// Lives in the enclave; the key never leaves it.
public struct JournalCipher {
    private let key: SecretBytes
    /// Sequence number of the last record sealed or opened (0: none yet).
    public private(set) var lastSequence: UInt64
    /// SHA-256 of the last record (32 zero bytes before the first).
    public private(set) var lastHash: [UInt8]
    /// Random nonces drawn ahead. A class, so copies of this struct draw from one pool
    /// and never seal with the same nonce.
    private let nonces = NoncePool()

    /// Why a record does not continue the chain.
    public enum Failure: Error, Equatable, Sendable {
        /// The frame itself is broken (the host should have caught this).
        case frame(JournalFrame.Problem)
        /// Not the next sequence number: a gap, a duplicate or a reordering.
        case outOfSequence(expected: UInt64, found: UInt64)
        /// The ciphertext does not open: tampered, substituted, or another key.
        case doesNotOpen(sequence: UInt64)
    }

    /// The journal key derived from the storage key (§1).
    public static func deriveKey(storageKey: SecretBytes) -> SecretBytes {
        SecretBytes(count: 32) { out in
            var h = SHA256()
            h.update(Array("sealstream/v1/journal-key".utf8))
            storageKey.withUnsafeBytes { h.update($0) }
            h.finalize(into: out)
        }
    }

    public init(key: SecretBytes, lastSequence: UInt64 = 0, lastHash: [UInt8] = [UInt8](repeating: 0, count: 32)) {
        self.key = key
        self.lastSequence = lastSequence
        self.lastHash = lastHash
    }

    /// Continues the chain after record `lastSequence` with hash `lastHash`: where a
    /// snapshot (docs/DURABILITY.md §6.7) left it.
    public mutating func resume(lastSequence: UInt64, lastHash: [UInt8]) {
        precondition(lastHash.count == 32)
        self.lastSequence = lastSequence
        self.lastHash = lastHash
    }

    /// Seals `payload` as the next record of `kind` and appends it to `out`. Allocates
    /// nothing when `out` has the capacity: the frame is written in place, the associated
    /// data lives on the stack, and the record hash is kept in place.
    public mutating func seal(kind: JournalFrame.Kind, payload: UnsafeRawBufferPointer, into out: inout [UInt8]) {
        let sequence = lastSequence + 1
        let length = JournalFrame.overhead + payload.count + XChaCha20Poly1305.tagByteCount
        precondition(length <= JournalFrame.maxLength, "journal payload too large")
        let start = out.count
        out.append(contentsOf: repeatElement(0, count: length))
        let header = JournalFrame.headerLength
        out.withUnsafeMutableBytes { raw in
            let record = UnsafeMutableRawBufferPointer(rebasing: raw[start..<(start + length)])
            for (i, b) in JournalFrame.magic.enumerated() { record[i] = b }
            record.storeBytes(of: UInt32(length).bigEndian, toByteOffset: 4, as: UInt32.self)
            record.storeBytes(of: sequence.bigEndian, toByteOffset: 8, as: UInt64.self)
            record[16] = kind.rawValue
            nonces.take(into: UnsafeMutableRawBufferPointer(rebasing: record[17..<header]))
            withUnsafeTemporaryAllocation(byteCount: header + 32, alignment: 8) { ad in
                ad.copyMemory(from: UnsafeRawBufferPointer(rebasing: record[0..<header]))
                lastHash.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: ad[header...]).copyMemory(from: $0) }
                // Sized for the payload: sealing cannot fail.
                _ = try! XChaCha20Poly1305.seal(
                    key: key, nonce: UnsafeRawBufferPointer(rebasing: record[17..<header]),
                    associatedData: UnsafeRawBufferPointer(ad), plaintext: payload,
                    into: UnsafeMutableRawBufferPointer(rebasing: record[header..<(length - 4)]))
            }
            let crc = CRC32C.checksum(UnsafeRawBufferPointer(rebasing: record[0..<(length - 4)]))
            record.storeBytes(of: crc.bigEndian, toByteOffset: length - 4, as: UInt32.self)
            var hasher = SHA256()
            hasher.update(UnsafeRawBufferPointer(record))
            lastHash.withUnsafeMutableBytes { hasher.finalize(into: $0) }
        }
        lastSequence = sequence
    }

    /// Opens the record at the start of `bytes`, which must be the next in the chain, into
    /// `payload` (at least the record's length; the replay's reusable buffer); returns its
    /// kind, the payload's length and how many bytes the record took. Allocates nothing:
    /// the associated data lives on the stack and the record hash is kept in place.
    public mutating func open(
        _ bytes: UnsafeRawBufferPointer, into payload: UnsafeMutableRawBufferPointer
    ) throws(Failure) -> (kind: JournalFrame.Kind, payloadLength: Int, length: Int) {
        let frame: JournalFrame
        do { frame = try JournalFrame.parse(bytes) } catch { throw .frame(error) }
        guard frame.sequence == lastSequence + 1 else {
            throw .outOfSequence(expected: lastSequence + 1, found: frame.sequence)
        }
        let header = JournalFrame.headerLength
        let record = UnsafeRawBufferPointer(rebasing: bytes[0..<frame.length])
        let ciphertext = UnsafeRawBufferPointer(rebasing: record[header..<(frame.length - 4)])
        let length = ciphertext.count - XChaCha20Poly1305.tagByteCount
        precondition(payload.count >= length, "payload buffer too small for a journal record")
        let opened: Int? = withUnsafeTemporaryAllocation(byteCount: header + 32, alignment: 8) { ad in
            ad.copyMemory(from: UnsafeRawBufferPointer(rebasing: record[0..<header]))
            lastHash.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: ad[header...]).copyMemory(from: $0) }
            return try? XChaCha20Poly1305.open(
                key: key, nonce: UnsafeRawBufferPointer(rebasing: record[17..<header]),
                associatedData: UnsafeRawBufferPointer(ad), ciphertext: ciphertext,
                into: UnsafeMutableRawBufferPointer(rebasing: payload[0..<length]))
        }
        guard opened != nil else { throw .doesNotOpen(sequence: frame.sequence) }
        lastSequence = frame.sequence
        var hasher = SHA256()
        hasher.update(record)
        lastHash.withUnsafeMutableBytes { hasher.finalize(into: $0) }
        return (frame.kind, length, frame.length)
    }

    /// Opens the record at the start of `bytes`, which must be the next in the chain;
    /// returns its kind and payload and how many bytes it took.
    public mutating func open(_ bytes: UnsafeRawBufferPointer) throws(Failure) -> (kind: JournalFrame.Kind, payload: [UInt8], length: Int) {
        let frame: JournalFrame
        do { frame = try JournalFrame.parse(bytes) } catch { throw .frame(error) }
        guard frame.sequence == lastSequence + 1 else {
            throw .outOfSequence(expected: lastSequence + 1, found: frame.sequence)
        }
        let record = UnsafeRawBufferPointer(rebasing: bytes[0..<frame.length])
        var ad = [UInt8](UnsafeRawBufferPointer(rebasing: record[0..<JournalFrame.headerLength]))
        ad += lastHash
        let ciphertext = UnsafeRawBufferPointer(rebasing: record[JournalFrame.headerLength..<(frame.length - 4)])
        var payload = [UInt8](repeating: 0, count: ciphertext.count - XChaCha20Poly1305.tagByteCount)
        let opened: Int? = payload.withUnsafeMutableBytes { out in
            ad.withUnsafeBytes { adBytes in
                try? XChaCha20Poly1305.open(
                    key: key, nonce: UnsafeRawBufferPointer(rebasing: record[17..<41]), associatedData: adBytes,
                    ciphertext: ciphertext, into: out)
            }
        }
        guard opened != nil else { throw .doesNotOpen(sequence: frame.sequence) }
        lastSequence = frame.sequence
        lastHash = SHA256.hash(record)
        return (frame.kind, payload, frame.length)
    }
}

/// Random bytes for nonces, drawn from the CSPRNG 256 nonces at a time instead of once per
/// record (a system call each, about 0.3 µs on the worker's hot path). Each byte is used
/// once and wiped when taken.
final class NoncePool {
    private static let size = XChaCha20Poly1305.nonceByteCount
    private let pool = UnsafeMutableRawBufferPointer.allocate(byteCount: size * 256, alignment: 8)
    private var used: Int

    init() { used = pool.count }

    deinit {
        Sodium.wipe(pool)
        pool.deallocate()
    }

    /// Fills `nonce` (24 bytes) with fresh random bytes.
    func take(into nonce: UnsafeMutableRawBufferPointer) {
        if used == pool.count {
            Sodium.fillRandom(pool)
            used = 0
        }
        let slice = UnsafeMutableRawBufferPointer(rebasing: pool[used..<(used + Self.size)])
        nonce.copyMemory(from: UnsafeRawBufferPointer(slice))
        Sodium.wipe(slice)
        used += Self.size
    }
}
