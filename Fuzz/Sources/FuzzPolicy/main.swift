import Attestation
import AttestationVerifier
import FuzzSupport

// The auditor's policy file and the verifier's state file. Invariants: a parsed policy
// re-encodes to JSON that parses to the same value, and builds a verifier (its roots
// parse as certificates) that runs every check on the swtpm fixture evidence; a parsed
// state round-trips too.
let fixtureEvidence = repositoryFile("Tests/AttestationTests/Fixtures/swtpm-evidence.json")

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzPolicy(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let bytes = Array(fuzzInput(start, count))
    if let policy = try? AttestationPolicy.parse(bytes) {
        let again = try? AttestationPolicy.parse(try! policy.encoded())
        invariant(again == policy, "AttestationPolicy: parse, encode, parse changed the value")
        let verifier = try? QuoteVerifier(policy: policy)
        invariant(verifier != nil, "a policy that parsed does not make a verifier")
        let report = verifier!.verify(evidence: fixtureEvidence, nonce: nil, allowSimulated: true, state: nil)
        invariant(report.checks.count == AttestationCheckName.allCases.count, "report lacks a check")
    }
    if let state = try? VerifierState.parse(bytes) {
        let again = try? VerifierState.parse(try! state.encoded())
        invariant(again == state, "VerifierState: parse, encode, parse changed the value")
    }
    return 0
}

// SwiftPM links executables with `main` = `FuzzPolicy_main`; libFuzzer's driver runs from here.
@_cdecl("FuzzPolicy_main")
public func fuzzPolicyMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runLibFuzzer(argc, argv)
}
