/// A keyed hash of a client order id and one more word, for the tables that look ids up
/// on every order (the engine's open-order index, the worker's dedupe memory).
///
/// Client order ids are chosen by clients, so such a hash must not be predictable
/// (HashDoS: ids crafted to share a home bucket turn every probe into a scan of one long
/// run). The hash is keyed with 512 bits drawn once per process from the Swift runtime's
/// random hashing seed (the seed `Hasher` uses). It is a keyed multiply-fold in the style
/// of wyhash and rapidhash: each 64-bit word of the id and the extra word is XORed with a
/// secret key word before a 64 × 64 → 128-bit multiplication whose halves are folded, and
/// a last keyed fold mixes the result. Without the key, which no output, error or
/// iteration order reveals (the tables are never iterated in hash order where anyone can
/// see it, and another process has another key), a client cannot choose ids that collide
/// more often than random ones. It is not a PRF against someone who can read hash values,
/// as SipHash is; nobody can. About 20 instructions for an id of up to 8 bytes, against
/// ~110 for `Hasher` (SipHash-1-3 with its buffering).
public struct KeyedIDHash: Sendable {
    @usableFromInline let key: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)

    /// The per-process key, copied into each table so the hot path reads no global.
    public static let process: KeyedIDHash = {
        let k = (0..<8).map { (i: UInt64) in
            var h = Hasher()
            h.combine(0x5EA1_5743_0000_0000 | i)
            return UInt64(bitPattern: Int64(h.finalize()))
        }
        return KeyedIDHash(key: (k[0], k[1], k[2], k[3], k[4], k[5], k[6], k[7] | 1))
    }()

    @usableFromInline init(key: (UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64, UInt64)) {
        self.key = key
    }

    @inlinable @inline(__always)
    static func fold(_ a: UInt64, _ b: UInt64) -> UInt64 {
        let p = a.multipliedFullWidth(by: b)
        return p.high ^ p.low
    }

    /// The hash of `id` with `word` (the caller's own context: an account, a kind; the
    /// id's length is mixed in here). Ids up to 8 bytes (most) take one multiplication
    /// plus the final one.
    @inlinable @inline(__always)
    public func hash(_ id: ClientOrderID, word: UInt64) -> UInt64 {
        let w = id.paddedWords
        let n = id.count
        var h = Self.fold(w.0 ^ key.0, word ^ key.1)
        if n > 8 { h ^= Self.fold(w.1 ^ key.2, w.2 ^ key.3) }
        if n > 24 { h ^= Self.fold(w.3 ^ key.4, w.4 ^ key.5) }
        return Self.fold(h ^ key.6 ^ UInt64(n), key.7)
    }
}
