import Engine
import SealCrypto
import Wire

extension Worker {
    /// Admits a signed SVI smile (docs/PROTOCOL.md §2.17) with the guard rails of a price,
    /// checked in this order: decodes (`malformed`); the underlying is a perpetual with
    /// option markets (`unknownMarket`); an option market on it has the expiry
    /// (`unknownExpiry`); the publisher is registered for the underlying's oracle
    /// (`unknownPublisher`); the signature verifies (`badPublisherSignature`); the
    /// parameters pass docs/OPTIONS.md §5.2 (`invalidSmile`); the publish time is later
    /// than the publisher's last for (underlying, expiry), within the underlying's
    /// staleness limit and at most 5 s ahead of enclave time (`stalePrice`). Then it is
    /// sequenced like a price and acknowledged with a `PublicAck`.
    func handleOracleSmile(route: UInt32, body: UnsafeRawBufferPointer, output: inout LinkBatchWriter) {
        guard let smile = try? OracleSmile.decode(body: body) else {
            return refuse(route: route, type: .oracleSmile, sessionID: 0, reference: 0, reason: .malformed, output: &output)
        }
        let ref = smile.publishTime
        let listed = identity.config.options?.markets.filter { $0.underlying == smile.underlying } ?? []
        guard !listed.isEmpty, let allowed = publishers[smile.underlying] else {
            return refuse(route: route, type: .oracleSmile, sessionID: 0, reference: ref, reason: .unknownMarket, output: &output)
        }
        guard listed.contains(where: { $0.expiry == smile.expiry }) else {
            return refuse(route: route, type: .oracleSmile, sessionID: 0, reference: ref, reason: .unknownExpiry, output: &output)
        }
        guard let publisher = allowed.first(where: { $0.bytes == smile.publisher }) else {
            return refuse(route: route, type: .oracleSmile, sessionID: 0, reference: ref, reason: .unknownPublisher, output: &output)
        }
        guard publisher.isValidSignature(smile.signature, for: smile.signedBytes) else {
            return refuse(route: route, type: .oracleSmile, sessionID: 0, reference: ref, reason: .badPublisherSignature, output: &output)
        }
        let parameters = SmileConfig(expiry: smile.expiry, a: smile.a, b: smile.b, rho: smile.rho, m: smile.m, sigma: smile.sigma)
        guard parameters.isValid else {
            return refuse(route: route, type: .oracleSmile, sessionID: 0, reference: ref, reason: .invalidSmile, output: &output)
        }
        let now = stamp()
        // In place: a plain call copied the whole engine (`withEngineInPlace`).
        let last = withEngineInPlace { $0.lastSmilePublishTime(underlying: smile.underlying, expiry: smile.expiry, publisher: smile.publisher) }
        let tooOld = now > ref && now - ref > stalenessLimit[smile.underlying, default: 0]
        let tooNew = ref > now && ref - now > WorkerLimits.maxFutureSkewNanos
        guard ref > last, !tooOld, !tooNew else {
            return refuse(route: route, type: .oracleSmile, sessionID: 0, reference: ref, reason: .stalePrice, output: &output)
        }
        sequencePublic(.oracleSmile(smile), type: .oracleSmile, reference: ref, body: body, route: route, at: now, output: &output)
    }
}
