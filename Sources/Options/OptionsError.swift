/// Why an options computation refused its input. Closed: a switch covers every case.
/// Each names the offending value so that a caller can count and report it.
public enum OptionsError: Error, Equatable, Sendable {
    /// A price (forward or strike) outside 1...2^50 micro-units.
    case priceOutOfRange(Int64)
    /// A volatility outside 0...16 (1,600 %), or a total standard deviation σ√T above 16.
    case volatilityOutOfRange(Fixed)
    /// A time to expiry (years) outside 0...100.
    case timeOutOfRange(Fixed)
    /// SVI parameters that fail a named validity check (docs/OPTIONS.md §5.2).
    case invalidSVI(SVIViolation)
    /// A realized-volatility update older than or as old as the last one accepted.
    case outOfOrderTick(last: UInt64, got: UInt64)
    /// A margin configuration value outside its documented range; names the field.
    case invalidMarginConfig(String)
    /// An option series whose expiry has no SVI smile in the underlying's state.
    case missingSmile(expiry: UInt64)
    /// The oracle confidence is negative or above 2^50 micro-units.
    case confidenceOutOfRange(Int64)
    /// A position's size is zero or beyond ±2^53, its instrument index unknown, or
    /// the portfolio holds more than 512 positions (index 512).
    case invalidPosition(index: Int)
}

/// The SVI check that failed (docs/OPTIONS.md §5.2).
public enum SVIViolation: String, Equatable, Sendable {
    /// b < 0.
    case negativeSlope
    /// |ρ| ≥ 1.
    case correlationOutOfRange
    /// σ ≤ 0.
    case nonPositiveSigma
    /// a + b σ √(1 − ρ²) < 0: the minimum total variance is negative.
    case negativeMinimumVariance
    /// b (1 + |ρ|) > 2: a wing steeper than Lee's moment bound.
    case wingTooSteep
    /// A parameter's magnitude above 2^20 (outside the arithmetic's domain).
    case parameterOutOfRange
}
