/// How far `OutputVerifier.verify` has got, for progress lines on long runs
/// (docs/COMMITMENTS.md §5.2, "Progress"). Reported every 256 units of a phase and once
/// when the phase completes (`done == total`); phases come in the order below, and a phase
/// whose file is absent or whose check is not made is not reported.
public struct VerificationProgress: Equatable, Sendable {
    /// `read FILE` (lines of a JSON-lines file parsed strictly, §5.1; `decisions.jsonl` is
    /// read three times: for checks 13–15, for check 25 and, with `--config`, for the marks),
    /// `headers` (batch records: signature recovery, chain, consistency proofs),
    /// `events` (events.log records: their form), `eventsRoots` (events hashed into the tree
    /// up to the last header's lastSequence, every eventsRoot compared),
    /// `decisions` (decision records: inclusion proofs), `inputs` (public input records:
    /// signatures and admission, with `--config`), `marks` (events replayed for the marks,
    /// with `--config`).
    public var phase: String
    /// Units checked so far in this phase.
    public var done: Int
    /// Units in this phase.
    public var total: Int
    /// What the units are: `records` or `events`.
    public var unit: String
}

extension OutputVerifier {
    /// Calls `progress` for unit `done` of `total` when it is a multiple of 256 or the last.
    func report(_ phase: String, _ done: Int, _ total: Int, unit: String = "records") {
        guard let progress, done & 0xff == 0 || done == total else { return }
        progress(VerificationProgress(phase: phase, done: done, total: total, unit: unit))
    }

    /// A `JSONLines.read` progress hook reporting phase `read FILE`; nil without `progress`.
    func reading(_ file: String) -> ((Int, Int) -> Void)? {
        progress == nil ? nil : { line, lines in report("read " + file, line, lines, unit: "lines") }
    }
}
