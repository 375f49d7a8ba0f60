import Wire

/// Why a market has no usable mark price. While any holds, liquidations in the market
/// halt, orders that add risk there are refused, and withdrawals by accounts holding it
/// are refused: nothing is ever valued on a stale or implausible price.
public enum PriceInvalidity: UInt8, Equatable, Sendable, CaseIterable {
    /// No publisher has ever priced this market.
    case noPrice = 1
    /// No publisher has a fresh price (all older than the staleness limit).
    case stale = 2
    /// Fresh prices exist but some are zero or negative, leaving too few.
    case nonPositive = 3
    /// Fresh positive prices exist but too uncertain (confidence above the limit).
    case tooUncertain = 4
    /// Some publishers are fresh, but fewer than `minPublishers`.
    case tooFewPublishers = 5
    /// The median is further than the deviation limit from the reference and the new
    /// level has not yet persisted for the confirmation time.
    case deviation = 6
}

/// The price state of one market: latest price per publisher and the mark derived
/// from them at a given enclave time.
public struct OracleState: Sendable {
    struct Quote: Sendable {
        var price: Int64
        var confidence: UInt64
        var publishTime: UInt64
    }

    let config: OracleConfig
    /// Publisher keys in configuration order; quotes indexed the same way.
    let publisherKeys: [[UInt8]]
    var quotes: [Quote?]
    /// The last accepted median: the reference for the deviation limit.
    var reference: Int64?
    /// A level beyond the deviation limit, first seen at `since`. It becomes the
    /// reference once medians consistent with it have persisted for the confirmation
    /// time, so a single bad print halts liquidations instead of triggering them, and a
    /// genuine jump resumes them after confirmation.
    var pendingJump: (since: UInt64, level: Int64)?
    var deviationTripped = false
    /// Cached status and the enclave time until which it cannot change without a new
    /// update (the earliest moment a contributing price goes stale).
    var cachedMark: Int64?
    /// The aggregated confidence of the prices that made `cachedMark` (`evaluate`), 0
    /// without a cached mark. Not in the snapshot: restoring re-derives it from the quotes
    /// at `cacheComputedAt` (no quote changed since, or the cache would be empty).
    var cachedConfidence: Int64 = 0
    var cachedInvalidity: PriceInvalidity? = .noPrice
    var cacheValidUntil: UInt64 = 0
    var cacheComputedAt: UInt64 = .max

    init(config: OracleConfig) {
        self.config = config
        publisherKeys = config.publishers.map { Hex.decode($0) ?? [] }
        quotes = Array(repeating: nil, count: config.publishers.count)
    }

    /// Records a publisher's price. Returns false (ignored) for an unknown publisher or
    /// an out-of-order update (publish time not after the publisher's latest).
    mutating func record(_ price: OraclePrice, now: UInt64) -> Bool {
        guard let i = publisherKeys.firstIndex(of: price.publisher) else { return false }
        if let q = quotes[i], price.publishTime <= q.publishTime { return false }
        quotes[i] = Quote(price: price.price, confidence: price.confidence, publishTime: price.publishTime)
        // Re-derive the median now and run it past the deviation guard.
        let (median, invalidity, _, _) = evaluate(now: now)
        if invalidity == nil, let median { guardMedian(median, now: now) }
        cacheComputedAt = .max
        return true
    }

    /// The deviation guard. Every median the oracle computes passes through here, whether
    /// a new price or an expiring one moved it: a median beyond the limit from the
    /// reference starts (or continues) a pending jump, which becomes the reference only
    /// after consistent medians persisted for the confirmation time.
    private mutating func guardMedian(_ median: Int64, now: UInt64) {
        if let ref = reference, !within(median, of: ref) {
            if let jump = pendingJump, within(median, of: jump.level) {
                if now - jump.since >= config.jumpConfirmationNanos {
                    accept(median)
                } else {
                    pendingJump = (jump.since, median)
                    deviationTripped = true
                }
            } else {
                pendingJump = (now, median)
                deviationTripped = true
            }
        } else {
            accept(median)
        }
    }

    private mutating func accept(_ median: Int64) {
        reference = median
        pendingJump = nil
        deviationTripped = false
    }

    /// True if `a` is within the deviation limit of `b` (bps of `b`).
    private func within(_ a: Int64, of b: Int64) -> Bool {
        let diff = Int128(a > b ? a - b : b - a)
        return diff * FixedMath.bps <= Int128(b) * Int128(config.maxDeviationBps)
    }

    /// The mark price at `now`, or why there is none.
    ///
    /// Inlined for the usual case, a valid mark cached for `now` (several calls per
    /// event); everything else is `evaluateMark(at:)`.
    @inline(__always)
    mutating func mark(at now: UInt64) -> Result<Int64, PriceInvalidityError> {
        if let m = cachedValidMark(at: now) { return .success(m) }
        return evaluateMark(at: now)
    }

    /// The valid mark cached for `now`, if any. Reads only, so the engine can ask
    /// without a mutable access to its market array (a uniqueness check per call).
    @inline(__always)
    func cachedValidMark(at now: UInt64) -> Int64? {
        cacheComputedAt != .max && now >= cacheComputedAt && now <= cacheValidUntil ? cachedMark : nil
    }

    @inline(never)
    private mutating func evaluateMark(at now: UInt64) -> Result<Int64, PriceInvalidityError> {
        if cacheComputedAt != .max && now >= cacheComputedAt && now <= cacheValidUntil {
            if let m = cachedMark { return .success(m) }
        } else {
            let (median, invalidity, validUntil, confidence) = evaluate(now: now)
            // A quote expiring can move the median too: it meets the same guard.
            if invalidity == nil, let median { guardMedian(median, now: now) }
            cachedInvalidity = invalidity ?? (deviationTripped ? .deviation : nil)
            cachedMark = cachedInvalidity == nil ? median : nil
            cachedConfidence = cachedMark == nil ? 0 : confidence
            cacheValidUntil = validUntil
            cacheComputedAt = now
            if let m = cachedMark { return .success(m) }
        }
        return .failure(PriceInvalidityError(reason: cachedInvalidity ?? .noPrice))
    }

    /// The aggregated confidence c of the mark at `now` (docs/COMMITMENTS.md "Recomputing
    /// the marks"; docs/OPTIONS.md §10.2), micro-units per whole base unit, 0…2⁵⁰: the
    /// median of the confidences of exactly the prices counted in the median that made
    /// the valid mark (an even count: the mean of the middle two rounded toward +∞), then
    /// clamped to 2⁵⁰. Nil while the mark is invalid.
    mutating func confidence(at now: UInt64) -> Int64? {
        guard case .success = mark(at: now) else { return nil }
        // A valid mark is cached for `now` now, with its confidence.
        return cachedConfidence
    }

    /// The largest aggregated confidence, 2⁵⁰ micro-units (docs/OPTIONS.md §7.4's bound).
    public static let maxConfidence: Int64 = 1 << 50

    /// Median of the fresh, positive, confident quotes at `now`; the earliest time a
    /// contributing quote goes stale; the aggregated confidence of those same quotes
    /// (`confidence(at:)`; 0 without a median). Even counts average the two middle prices
    /// rounded down, the two middle confidences rounded up (a contingency errs high).
    func evaluate(now: UInt64)
        -> (median: Int64?, invalidity: PriceInvalidity?, validUntil: UInt64, confidence: Int64)
    {
        // The usable prices and confidences go to stack buffers: this runs on every price update.
        withUnsafeTemporaryAllocation(of: UInt64.self, capacity: max(1, quotes.count)) { confidences in
        withUnsafeTemporaryAllocation(of: Int64.self, capacity: max(1, quotes.count)) { usable in
            var count = 0
            var any = false
            var fresh = 0
            var positive = 0
            var validUntil = UInt64.max
            for q in quotes {
                guard let q else { continue }
                any = true
                let age = now >= q.publishTime ? now - q.publishTime : 0
                guard age <= config.stalenessNanos else { continue }
                fresh += 1
                guard q.price > 0 else { continue }
                positive += 1
                guard Int128(q.confidence) * FixedMath.bps <= Int128(q.price) * Int128(config.maxConfidenceBps) else { continue }
                usable[count] = q.price
                confidences[count] = q.confidence
                count += 1
                let (expiry, overflow) = q.publishTime.addingReportingOverflow(config.stalenessNanos)
                validUntil = min(validUntil, overflow ? .max : expiry)
            }
            let need = config.minPublishers
            guard count >= need else {
                let reason: PriceInvalidity =
                    !any ? .noPrice
                    : fresh == 0 ? .stale
                    : fresh < need ? .tooFewPublishers
                    : positive < need ? .nonPositive
                    : .tooUncertain
                return (nil, reason, validUntil, 0)
            }
            var prices = UnsafeMutableBufferPointer(rebasing: usable[0..<count])
            prices.sort()
            let n = count
            let median = n % 2 == 1 ? prices[n / 2] : Int64((Int128(prices[n / 2 - 1]) + Int128(prices[n / 2])) / 2)
            var counted = UnsafeMutableBufferPointer(rebasing: confidences[0..<count])
            counted.sort()
            let c = n % 2 == 1
                ? UInt128(counted[n / 2]) : (UInt128(counted[n / 2 - 1]) + UInt128(counted[n / 2]) + 1) / 2
            return (median, nil, validUntil, Int64(min(c, UInt128(Self.maxConfidence))))
        }
        }
    }
}

public struct PriceInvalidityError: Error, Equatable, Sendable {
    public let reason: PriceInvalidity
}
