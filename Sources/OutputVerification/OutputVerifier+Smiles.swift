import Engine
import SealCrypto
import Wire

/// A smile's admission key: (underlying, expiry, publisher).
struct SmileKey: Hashable {
    let underlying: UInt32
    let expiry: UInt64
    let publisher: [UInt8]
}

extension OutputVerifier {
    /// `inputs.signature` and `inputs.admission` for an oracle smile record (docs/COMMITMENTS.md
    /// §5.3, PROTOCOL.md §2.17), judged once in the enclave's order: `unknownMarket` (the
    /// underlying is not a perpetual with option markets), `unknownExpiry`, `unknownPublisher`,
    /// `signature`, `invalidSmile` (OPTIONS.md §5.2), `stalePrice` (not after that publisher's
    /// last admitted one for the (underlying, expiry), or outside the underlying's freshness
    /// window). The first failing reason is the record's only failure, in `inputs.signature`
    /// (`unknownMarket`, `unknownPublisher`, `signature`) or `inputs.admission` (the others);
    /// only a smile that passes all six counts as that publisher's last.
    static func checkSmile(
        _ s: OracleSmile, now: UInt64, at: String, config: VenueConfig, last: inout [SmileKey: UInt64],
        signature: inout Check, admission: inout Check
    ) {
        let listed = config.options?.markets.filter { $0.underlying == s.underlying } ?? []
        let refused = "\(at): smile for expiry \(s.expiry) published at \(s.publishTime) would have been refused"
        guard let market = config.markets.first(where: { $0.id == s.underlying }), !listed.isEmpty else {
            signature.fail("unknownMarket", actual: "underlying \(s.underlying)",
                           "\(at): underlying \(s.underlying) is not a perpetual with option markets")
            return
        }
        guard listed.contains(where: { $0.expiry == s.expiry }) else {
            admission.fail("unknownExpiry", actual: at, refused)
            return
        }
        guard market.oracle.publishers.contains(where: { Hex.decode($0) == s.publisher }),
              let key = try? Ed25519PublicKey(bytes: s.publisher)
        else {
            signature.fail("unknownPublisher", actual: "0x" + Hex.encode(s.publisher),
                           "\(at): publisher not registered for market \(s.underlying)")
            return
        }
        guard key.isValidSignature(s.signature, for: s.signedBytes) else {
            signature.fail("signature", actual: at, "\(at): publisher signature does not verify")
            return
        }
        let k = SmileKey(underlying: s.underlying, expiry: s.expiry, publisher: s.publisher)
        let previous = last[k] ?? 0
        let tooOld = now > s.publishTime && now - s.publishTime > market.oracle.stalenessNanos
        let tooNew = s.publishTime > now && s.publishTime - now > 5_000_000_000
        let parameters = SmileConfig(expiry: s.expiry, a: s.a, b: s.b, rho: s.rho, m: s.m, sigma: s.sigma)
        guard parameters.isValid else {
            admission.fail("invalidSmile", actual: at, refused)
            return
        }
        guard s.publishTime > previous, !tooOld, !tooNew else {
            admission.fail("stalePrice", actual: at, refused)
            return
        }
        signature.record(true, "")
        admission.record(true, "")
        last[k] = s.publishTime
    }
}
