import TestSupport
import Testing
import Wire
@testable import Commitments

/// A decision's salted commitments (docs/COMMITMENTS.md §3) against known answers from
/// the Python SDK's `sealstream.challenge` (written from the docs, sharing no code):
/// `decision_salt(bytes(range(32)), 1001, 77, 2)`, `state_hash`, `marks_hash`.
@Suite("Decision commitments")
struct DecisionCommitmentTests {
    static let key = (0..<32).map { UInt8($0) }
    /// `State(1001, -59_000_000_000, (Position(1, 100_000_000, 60_000_000_000, 5), Position(2, -7, -3, 0)), 3)`.
    static let state = fromHex(
        "00000000000003e9fffffffffffffffffffffff24353720000000002000000010000000005f5e10000000000000000000000000df8475800"
            + "0000000000000000000000000000000500000002fffffffffffffff9fffffffffffffffffffffffffffffffd000000000000000000000000"
            + "0000000000000003")

    static var salt: [UInt8] {
        key.withUnsafeBytes { DecisionCommitment.salt(key: $0, account: 1001, sequence: 77, step: 2) }
    }

    @Test func saltStateAndMarksMatchThePythonSDK() {
        #expect(Self.salt == fromHex("bc5bc772817b4d960c72d20f53e220d5f58b6d2c5fe6230a99994cd027906bdd"))
        #expect(DecisionCommitment.stateHash(salt: Self.salt, state: Self.state).bytes
            == fromHex("b1a504b34c8a130660525dce5c4bedb4a58d1ab304f4f3c9469c216127da7695"))
        // A negative mark is sign-extended to its 32-byte word.
        let marks = [DecisionMark(market: 1, mark: 59_500_000_000, maintenanceBps: 300), DecisionMark(market: 2, mark: -1, maintenanceBps: 0)]
        #expect(DecisionCommitment.marksHash(salt: Self.salt, marks: marks).bytes
            == fromHex("9e90e419970485691a35e8805f7e97f06e115819d3c91a1d6b67aff37650b016"))
        #expect(DecisionCommitment.marksHash(salt: Self.salt, marks: []).bytes
            == fromHex("4135fe7bb85a7967e576ca03ce7fba251c67d689719ee052c4cfe503ffd6686a"))
    }

    @Test func eachInputChangesTheSalt() {
        let salts = Self.key.withUnsafeBytes { k in
            [DecisionCommitment.salt(key: k, account: 1002, sequence: 77, step: 2),
             DecisionCommitment.salt(key: k, account: 1001, sequence: 78, step: 2),
             DecisionCommitment.salt(key: k, account: 1001, sequence: 77, step: 3)]
        }
        #expect(Set(salts + [Self.salt]).count == 4)
    }

    /// The 21-field type (eth_utils `keccak(text=...)` of docs/COMMITMENTS.md §3's string).
    @Test func typeHashOfTheExtendedDecision() {
        #expect(DecisionFields.typeHash == fromHex("c7130b7b17006e1706b9567f18c904642fda9fd88f0047f1bd062a6c0327736a"))
    }

    /// `scenarioHash` of two portfolios (an i64 at its maximum, negative values), as the
    /// Python SDK's `eip712.scenario_hash` and contracts/tests/reference.py compute it; zero
    /// without a scenario.
    @Test func scenarioHashMatchesThePythonSDK() {
        let s = DecisionScenario(linearRequirement: 2_000, portfolios: [
            .init(underlying: 1, mark: 58_000_000_000, scanBps: 700, scenario: 31, moveSteps: 2, volShiftBps: 5_000,
                  price: 59_015_000_000, loss: -5, shortOptionContingency: 1_000, confidenceContingency: 0),
            .init(underlying: 7, mark: 3, scanBps: 1, scenario: 0, moveSteps: -8, volShiftBps: -3_000, price: 1,
                  loss: .max, shortOptionContingency: 0, confidenceContingency: 0),
        ])
        #expect(DecisionFields.scenarioHash(s).bytes
            == fromHex("cd6cbc6e217c03faf6a907ca81b8e302c7644eaa8f7f560a708c2fc1e544005a"))
        let none = DecisionFields(venueId: 1, sequence: 1, enclaveTime: 1, account: .zero, market: 1, isBuy: true, size: 1,
                                  markPrice: 1, bankruptcyPrice: 1, worstPrice: 1, equity: 0, maintenanceRequirement: 1,
                                  reason: .maintenanceFull, filledOnBook: 0, toInsuranceFund: 1, autoDeleveraged: 0)
        #expect(none.scenarioHash == .zero)
    }

    /// A batch's struct hashes, computed side by side, are each decision's `structHash`.
    @Test func structHashesOfABatchAreEachDecisionsStructHash() {
        func decision(_ i: Int) -> DecisionFields {
            let n = Int64(i)
            return DecisionFields(
                venueId: 1, sequence: UInt64(i), enclaveTime: 1_000 + UInt64(i), account: .zero, market: 1,
                isBuy: i % 2 == 0, size: n - 6, markPrice: 57_000, bankruptcyPrice: 56_000, worstPrice: 55_000,
                equity: -n, maintenanceRequirement: 10, reason: .maintenanceFull, filledOnBook: n, toInsuranceFund: 1,
                autoDeleveraged: 0)
        }
        let decisions: [DecisionFields] = (0..<13).map(decision)
        #expect(DecisionFields.structHashes(decisions) == decisions.map { $0.structHash })
        #expect(DecisionFields.structHashes([]).isEmpty)
    }
}
