/// How a run's connections recovered (docs/PROTOCOL.md §2.12).
public struct RecoverySummary: Codable, Equatable, Sendable {
    /// The most `Notice enclaveRestarted` any one connection received.
    public var restartsSeen = 0
    /// Connections that lost their socket (host gone, reset), summed.
    public var connectionsLost = 0
    /// Recoveries completed (evidence re-verified, sessions reopened), summed over connections.
    public var reconnects = 0
    /// Copies of requests sent again after a disruption.
    public var resends = 0
    /// Requests whose final answer came to a resent copy.
    public var resentRequests = 0
    /// Requests not resent because first sent beyond the resend horizon (outcome
    /// unknown; also counted in `missingReceipts`).
    public var abandoned = 0
    /// Recoveries that completed at another host address (failovers), summed.
    public var failovers = 0
    /// Hosts refused because their enclave had another identity, summed.
    public var identityRefusals = 0
    /// `notPrimary` refusals (a standby) that moved a connection on, summed.
    public var notPrimary = 0
    public init() {}

    enum CodingKeys: String, CodingKey {
        case restartsSeen, connectionsLost, reconnects, resends, resentRequests, abandoned, failovers,
             identityRefusals, notPrimary
    }

    /// Summaries written before failover existed lack its three counts: they read as 0.
    public init(from decoder: Decoder) throws {
        let c = try decoder.container(keyedBy: CodingKeys.self)
        restartsSeen = try c.decode(Int.self, forKey: .restartsSeen)
        connectionsLost = try c.decode(Int.self, forKey: .connectionsLost)
        reconnects = try c.decode(Int.self, forKey: .reconnects)
        resends = try c.decode(Int.self, forKey: .resends)
        resentRequests = try c.decode(Int.self, forKey: .resentRequests)
        abandoned = try c.decode(Int.self, forKey: .abandoned)
        failovers = try c.decodeIfPresent(Int.self, forKey: .failovers) ?? 0
        identityRefusals = try c.decodeIfPresent(Int.self, forKey: .identityRefusals) ?? 0
        notPrimary = try c.decodeIfPresent(Int.self, forKey: .notPrimary) ?? 0
    }
}
