/// The scenario that triggered a liquidation decision on an account holding options
/// (docs/OPTIONS.md §10.6, docs/COMMITMENTS.md §3 `scenarioHash`): per underlying on which
/// the account held an option position just before the step, the worst scenario of the
/// portfolio margin grid (docs/OPTIONS.md §7.3–§7.5) and the contingencies that make up that
/// portfolio's maintenance, plus the linear requirement of its other perpetual positions.
/// A decision on an account without option positions (the linear model) has none (nil).
/// Money in quote micro-units, prices in quote micro-units per whole base unit; every
/// value is the engine's exact integer saturated to the Int64 range.
public struct DecisionScenario: Codable, Equatable, Sendable {
    /// Σ of the linear maintenance requirements (docs/CONFIG.md) of the perpetual
    /// positions outside every portfolio (a perpetual on an underlying the account holds
    /// no option on), quote micro-units, ≥ 0.
    public var linearRequirement: Int64
    /// One entry per portfolio, in ascending `underlying`; never empty.
    public var portfolios: [Portfolio]

    public init(linearRequirement: Int64, portfolios: [Portfolio]) {
        self.linearRequirement = linearRequirement
        self.portfolios = portfolios
    }

    /// The worst scenario of one underlying's portfolio and its contingencies.
    public struct Portfolio: Codable, Equatable, Sendable {
        /// The underlying's perpetual market id.
        public var underlying: UInt32
        /// The underlying's mark F the risk arrays were computed at.
        public var mark: Int64
        /// The scan range R, bps of the mark (docs/OPTIONS.md §7.2).
        public var scanBps: Int64
        /// Index of the worst scenario in the grid of docs/OPTIONS.md §7.3 (the first on ties).
        public var scenario: UInt32
        /// Its price move in steps of R / N: j in −N…N, or ±X × N for an extreme scenario.
        public var moveSteps: Int64
        /// Its volatility shift: `volUpBps`, 0 or −`volDownBps` of the underlying's margin.
        public var volShiftBps: Int64
        /// The underlying's price in that scenario, P_s.
        public var price: Int64
        /// The portfolio's counted loss in that scenario (§7.5 step 2's `worst`; an extreme's
        /// at its cover), quote micro-units; negative when the portfolio gains in every scenario.
        public var loss: Int64
        /// §7.5 step 3, ≥ 0.
        public var shortOptionContingency: Int64
        /// §7.5 step 4, ≥ 0: ⌈u × c / 10⁸⌉ with c the underlying's aggregated oracle
        /// confidence (docs/OPTIONS.md §10.2).
        public var confidenceContingency: Int64

        public init(
            underlying: UInt32, mark: Int64, scanBps: Int64, scenario: UInt32, moveSteps: Int64, volShiftBps: Int64,
            price: Int64, loss: Int64, shortOptionContingency: Int64, confidenceContingency: Int64
        ) {
            self.underlying = underlying
            self.mark = mark
            self.scanBps = scanBps
            self.scenario = scenario
            self.moveSteps = moveSteps
            self.volShiftBps = volShiftBps
            self.price = price
            self.loss = loss
            self.shortOptionContingency = shortOptionContingency
            self.confidenceContingency = confidenceContingency
        }

        /// The portfolio's maintenance: max(loss, 0) + both contingencies, exact.
        public var maintenance: Int128 {
            max(Int128(loss), 0) + Int128(shortOptionContingency) + Int128(confidenceContingency)
        }
    }

    /// The account's whole maintenance requirement these parts make: `linearRequirement`
    /// plus each portfolio's maintenance, exact (the decision's `maintenanceRequirement` is
    /// this saturated to Int64).
    public var maintenance: Int128 {
        portfolios.reduce(Int128(linearRequirement)) { $0 + $1.maintenance }
    }
}
