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
    /// §5.3, PROTOCOL.md §2.17), in the enclave's order: `unknownMarket` (the underlying is not
    /// a perpetual with option markets), `unknownPublisher`, `signature`; then `unknownExpiry`,
    /// `invalidSmile` (OPTIONS.md §5.2) and `stalePrice` (not after that publisher's last for
    /// the (underlying, expiry), or outside the underlying's freshness window).
    static func checkSmile(
        _ s: OracleSmile, now: UInt64, at: String, config: VenueConfig, last: inout [SmileKey: UInt64],
        signature: inout Check, admission: inout Check
    ) {
        let listed = config.options?.markets.filter { $0.underlying == s.underlying } ?? []
        guard let market = config.markets.first(where: { $0.id == s.underlying }), !listed.isEmpty else {
            signature.fail("unknownMarket", actual: "underlying \(s.underlying)",
                           "\(at): underlying \(s.underlying) is not a perpetual with option markets")
            return
        }
        guard market.oracle.publishers.contains(where: { Hex.decode($0) == s.publisher }),
              let key = try? Ed25519PublicKey(bytes: s.publisher)
        else {
            signature.fail("unknownPublisher", actual: "0x" + Hex.encode(s.publisher),
                           "\(at): publisher not registered for market \(s.underlying)")
            return
        }
        if key.isValidSignature(s.signature, for: s.signedBytes) {
            signature.record(true, "")
        } else {
            signature.fail("signature", actual: at, "\(at): publisher signature does not verify")
        }
        let k = SmileKey(underlying: s.underlying, expiry: s.expiry, publisher: s.publisher)
        let previous = last[k] ?? 0
        let tooOld = now > s.publishTime && now - s.publishTime > market.oracle.stalenessNanos
        let tooNew = s.publishTime > now && s.publishTime - now > 5_000_000_000
        let parameters = SmileConfig(expiry: s.expiry, a: s.a, b: s.b, rho: s.rho, m: s.m, sigma: s.sigma)
        let refusal: String? =
            !listed.contains(where: { $0.expiry == s.expiry }) ? "unknownExpiry"
            : !parameters.isValid ? "invalidSmile"
            : s.publishTime <= previous || tooOld || tooNew ? "stalePrice"
            : nil
        if let refusal {
            admission.fail(refusal, actual: at, "\(at): smile for expiry \(s.expiry) published at \(s.publishTime) would have been refused")
        } else {
            admission.record(true, "")
            last[k] = s.publishTime
        }
    }
}
