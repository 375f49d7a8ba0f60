import Wire

extension MatchingEngine {
    /// The last publish time recorded for `publisher`'s signed smile of (`underlying`,
    /// `expiry`) (docs/OPTIONS.md §10.9); 0 when none, and always 0 for an engine without
    /// a volatility feed. The enclave admits a smile only if it is later than this.
    public func lastSmilePublishTime(underlying: UInt32, expiry: UInt64, publisher: [UInt8]) -> UInt64 { 0 }
}

extension PerpEngine {
    public func lastSmilePublishTime(underlying: UInt32, expiry: UInt64, publisher: [UInt8]) -> UInt64 {
        guard let u = options?.underlyings.firstIndex(where: { $0.perpID == underlying }) else { return 0 }
        return options!.underlyings[u].feed.lastPublishTime(expiry: expiry, publisher: publisher)
    }

    /// Records a signed smile (docs/OPTIONS.md §10.9), or ignores it: an underlying
    /// without option markets, an expiry not listed on it, an unregistered publisher,
    /// parameters failing §5.2, or a publish time not after that publisher's last for the
    /// expiry. The enclave refuses all of these at admission; an engine given one anyway
    /// (a test harness) changes nothing.
    mutating func recordSmile(_ smile: OracleSmile) {
        guard let u = options?.underlyings.firstIndex(where: { $0.perpID == smile.underlying }) else { return }
        _ = options!.underlyings[u].feed.record(smile)
    }
}
