import CSHA256Lanes
import SealCrypto

/// A 32-byte hash: a SHA-256 or Keccak-256 digest, a Merkle node, an EIP-712 struct hash.
///
/// The bytes live inline in the value (four machine words), so creating, copying and
/// comparing hashes never touches the heap; arrays of `Hash32` are flat 32-byte records.
/// `==` is not constant-time: these values are public commitments, not secrets.
public struct Hash32: Hashable, Sendable, CustomStringConvertible {
    /// Number of bytes in every hash.
    public static let byteCount = 32

    /// The 32 bytes in order, held in the memory of four words. The words' numeric values
    /// depend on the platform's byte order and are never interpreted, only compared.
    @usableFromInline
    var storage: (UInt64, UInt64, UInt64, UInt64)

    /// All 32 bytes zero (for example the `previousHeaderHash` of batch 0).
    public static let zero = Hash32(storage: (0, 0, 0, 0))

    @inlinable
    init(storage: (UInt64, UInt64, UInt64, UInt64)) {
        self.storage = storage
    }

    /// Copies exactly 32 bytes; any other count is a programming error and traps.
    public init(_ bytes: [UInt8]) {
        precondition(bytes.count == Self.byteCount, "Hash32 needs 32 bytes, got \(bytes.count)")
        self = bytes.withUnsafeBytes { Hash32(copying: $0) }
    }

    /// Copies exactly 32 bytes from `buffer`; any other count is a programming error and traps.
    public init(_ buffer: UnsafeRawBufferPointer) {
        precondition(buffer.count == Self.byteCount, "Hash32 needs 32 bytes, got \(buffer.count)")
        self.init(copying: buffer)
    }

    @inlinable
    init(copying buffer: UnsafeRawBufferPointer) {
        var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        Swift.withUnsafeMutableBytes(of: &storage) { $0.copyMemory(from: buffer) }
        self.storage = storage
    }

    /// Parses 64 hex digits (either case), with or without a `0x`/`0X` prefix; nil for
    /// anything else (wrong length, a non-hex character, whitespace).
    public init?(hex: String) {
        var utf8 = Substring(hex).utf8
        if utf8.count >= 2, utf8.first == UInt8(ascii: "0"),
            let x = utf8.dropFirst().first, x == UInt8(ascii: "x") || x == UInt8(ascii: "X")
        {
            utf8 = utf8.dropFirst(2)
        }
        guard utf8.count == 2 * Self.byteCount else { return nil }
        var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        let ok = Swift.withUnsafeMutableBytes(of: &storage) { out -> Bool in
            var i = utf8.startIndex
            for k in 0..<Self.byteCount {
                guard let hi = Self.nibble(utf8[i]) else { return false }
                i = utf8.index(after: i)
                guard let lo = Self.nibble(utf8[i]) else { return false }
                i = utf8.index(after: i)
                out[k] = hi << 4 | lo
            }
            return true
        }
        guard ok else { return nil }
        self.storage = storage
    }

    private static func nibble(_ c: UInt8) -> UInt8? {
        switch c {
        case UInt8(ascii: "0")...UInt8(ascii: "9"): c &- UInt8(ascii: "0")
        case UInt8(ascii: "a")...UInt8(ascii: "f"): c &- UInt8(ascii: "a") &+ 10
        case UInt8(ascii: "A")...UInt8(ascii: "F"): c &- UInt8(ascii: "A") &+ 10
        default: nil
        }
    }

    /// The 32 bytes as a new array.
    public var bytes: [UInt8] {
        withUnsafeBytes { Array($0) }
    }

    /// `0x` followed by 64 lower-case hex digits, the form used in every JSON output.
    public var hex: String {
        let digits: StaticString = "0123456789abcdef"
        return withUnsafeBytes { raw in
            String(unsafeUninitializedCapacity: 2 + 2 * Self.byteCount) { out in
                digits.withUTF8Buffer { d in
                    out[0] = UInt8(ascii: "0")
                    out[1] = UInt8(ascii: "x")
                    for (k, byte) in raw.enumerated() {
                        out[2 + 2 * k] = d[Int(byte >> 4)]
                        out[3 + 2 * k] = d[Int(byte & 0x0f)]
                    }
                }
                return 2 + 2 * Self.byteCount
            }
        }
    }

    /// Same as `hex`.
    public var description: String { hex }

    /// The digest `hasher` finalizes to, without an array in between; `hasher` must not be
    /// used afterwards.
    init(finalizing hasher: inout SHA256) {
        var out = Hash32.zero
        Swift.withUnsafeMutableBytes(of: &out.storage) { hasher.finalize(into: $0) }
        self = out
    }

    /// Calls `body` with the 32 bytes; the pointer must not escape `body`.
    @inlinable
    public func withUnsafeBytes<R, E: Error>(_ body: (UnsafeRawBufferPointer) throws(E) -> R) throws(E) -> R {
        try Swift.withUnsafeBytes(of: storage, body)
    }

    @inlinable
    public static func == (a: Hash32, b: Hash32) -> Bool {
        a.storage.0 == b.storage.0 && a.storage.1 == b.storage.1
            && a.storage.2 == b.storage.2 && a.storage.3 == b.storage.3
    }

    @inlinable
    public func hash(into hasher: inout Hasher) {
        hasher.combine(storage.0)
        hasher.combine(storage.1)
        hasher.combine(storage.2)
        hasher.combine(storage.3)
    }
}

/// RFC 6962 §2.1 hashing with SHA-256 (docs/COMMITMENTS.md §2): leaves are hashed with a
/// 0x00 prefix and interior nodes with 0x01, so a leaf can never be passed off as a node.
/// Proof verification (`verifyInclusion`, `verifyConsistency`) is in MerkleTree.swift.
public enum RFC6962 {
    /// MTH of the empty tree: SHA-256 of the empty string,
    /// e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855.
    public static let emptyRoot: Hash32 = sha256(UnsafeRawBufferPointer(start: nil, count: 0))

    /// `SHA-256(data)` as a `Hash32`, without allocating.
    public static func sha256(of data: UnsafeRawBufferPointer) -> Hash32 { sha256(data) }

    /// `SHA-256(0x00 ‖ data)`: the hash of a leaf whose data is `data`.
    public static func leafHash(_ data: UnsafeRawBufferPointer) -> Hash32 {
        withUnsafeBytes(of: UInt8(0x00)) { prefix in sha256(prefix, data) }
    }

    /// `SHA-256(0x00 ‖ data)`: the hash of a leaf whose data is `data`. Contiguous
    /// collections (arrays, slices) are hashed in place without a copy.
    public static func leafHash(_ data: some Sequence<UInt8>) -> Hash32 {
        if let hash = data.withContiguousStorageIfAvailable({ leafHash(UnsafeRawBufferPointer($0)) }) {
            return hash
        }
        return Array(data).withUnsafeBytes { leafHash($0) }
    }

    /// `SHA-256(0x01 ‖ left ‖ right)`: the hash of an interior node. The 65-byte input
    /// is assembled on the stack.
    public static func nodeHash(_ left: Hash32, _ right: Hash32) -> Hash32 {
        withUnsafeTemporaryAllocation(byteCount: 1 + 2 * Hash32.byteCount, alignment: 8) { buffer in
            buffer[0] = 0x01
            left.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[1..<33]).copyMemory(from: $0) }
            right.withUnsafeBytes { UnsafeMutableRawBufferPointer(rebasing: buffer[33..<65]).copyMemory(from: $0) }
            return sha256(UnsafeRawBufferPointer(buffer))
        }
    }

    /// How many node hashes `nodeHashes` computes side by side on this CPU: 16 with
    /// AVX-512F, 8 with AVX2 (CSHA256Lanes, one SHA-256 per 32-bit vector element), 1
    /// without either (one at a time through OpenSSL, SHA-NI where present).
    public static let nodeHashWidth = max(1, Int(sealstream_sha256_parallel_width()))

    /// For every `p` in `parents`: `above[p] = nodeHash(below[2p], below[2p + 1])`, the
    /// parents hashed `width` at a time (a tree level's nodes are independent): 1 (one at
    /// a time through OpenSSL), or 8 or 16 at most `nodeHashWidth`. The same digests as
    /// `nodeHash` one by one at every width; `above` must not overlap `below`.
    static func nodeHashes(
        parents: UnsafeBufferPointer<Int>, below: UnsafePointer<Hash32>, above: UnsafeMutablePointer<Hash32>,
        width: Int = nodeHashWidth
    ) {
        precondition(width == 1 || ((width == 8 || width == 16) && width <= nodeHashWidth), "no \(width)-wide SHA-256 on this CPU")
        guard width > 1 else {
            for p in parents { above[p] = nodeHash(below[2 * p], below[2 * p + 1]) }
            return
        }
        // The C side takes a pointer per pair and per digest: built on the stack, a batch
        // of pointers at a time.
        let batch = 64
        withUnsafeTemporaryAllocation(of: UnsafePointer<UInt8>?.self, capacity: batch) { pairs in
            withUnsafeTemporaryAllocation(of: UnsafeMutablePointer<UInt8>?.self, capacity: batch) { digests in
                var start = 0
                while start < parents.count {
                    let n = min(batch, parents.count - start)
                    for k in 0..<n {
                        let p = parents[start + k]
                        pairs[k] = UnsafeRawPointer(below + 2 * p).assumingMemoryBound(to: UInt8.self)
                        digests[k] = UnsafeMutableRawPointer(above + p).assumingMemoryBound(to: UInt8.self)
                    }
                    sealstream_sha256_nodes(Int32(width), pairs.baseAddress!, digests.baseAddress!, n)
                    start += n
                }
            }
        }
    }

    /// SHA-256 of `first ‖ second`. Every digest in this module goes through here
    /// (`SealCrypto.SHA256`: OpenSSL, SHA-NI where the CPU has it), straight into the
    /// hash's inline storage: no allocation.
    @usableFromInline
    static func sha256(
        _ first: UnsafeRawBufferPointer, _ second: UnsafeRawBufferPointer = UnsafeRawBufferPointer(start: nil, count: 0)
    ) -> Hash32 {
        var hasher = SHA256()
        hasher.update(first)
        hasher.update(second)
        var storage: (UInt64, UInt64, UInt64, UInt64) = (0, 0, 0, 0)
        Swift.withUnsafeMutableBytes(of: &storage) { hasher.finalize(into: $0) }
        return Hash32(storage: storage)
    }
}
