import Attestation
import SealCrypto
import Testing
import VenueTools
import Wire
@testable import EnclaveCore

/// A quote source standing in for the TPM of a worker booted in the appliance image: it
/// quotes PCRs 4 and 23 in software and hands out a firmware event log.
private struct ImageQuoteSource: QuoteSource {
    let key: P256SigningKey
    let log: [UInt8]?
    var pcrs: [Int] { [4, 23] }
    var bootEventLog: [UInt8]? { log }

    func quote(qualifying: [UInt8]) throws -> TPMAttestation {
        let values: [UInt32: [UInt8]] = [4: Array(repeating: 4, count: 32), 23: Array(repeating: 23, count: 32)]
        let quote = try SoftwareQuote.make(
            qualifying: qualifying, pcrs: values, key: key,
            clockInfo: TPMSClockInfo(clock: 1, resetCount: 0, restartCount: 0, safe: true))
        return TPMAttestation(
            akPublic: Hex.encode(quote.akPublic), quote: Hex.encode(quote.attest), signature: Hex.encode(quote.signature),
            pcrs: [4, 23], pcrValues: ["4": Hex.encode(values[4]!), "23": Hex.encode(values[23]!)])
    }

    func activateCredential(credentialBlob: [UInt8], encryptedSecret: [UInt8]) throws -> [UInt8] { [] }
}

@Suite("Evidence of a worker booted in the appliance image")
struct BootEventLogEvidenceTests {
    func identity(log: [UInt8]?) throws -> EnclaveIdentity {
        EnclaveIdentity(
            sessionKey: try KXKeyPair(), signer: try Secp256k1PrivateKey(), instanceID: 1,
            measurement: Array(repeating: 1, count: 32), configHash: Array(repeating: 2, count: 32),
            config: DemoKeys.venue(), mode: .tpm, isolation: .process,
            isolationReport: IsolationReport(
                dumpable: false, noNewPrivileges: true, privateNetworkNamespace: true, listeningSockets: 0,
                openFileDescriptors: 3),
            quoteSource: ImageQuoteSource(key: try P256SigningKey(), log: log))
    }

    @Test("The quote source's firmware event log is the evidence's bootEventLog, and the evidence parses")
    func carried() throws {
        let log: [UInt8] = Array("a firmware event log".utf8)
        let evidence = try identity(log: log).evidence(nonce: [1, 2, 3], enclaveTime: 5)
        #expect(evidence.bootEventLog == Hex.encode(log))
        #expect(try Evidence.parse(try evidence.encoded()).bootEventLog == Hex.encode(log))
        let without = try identity(log: nil).evidence(nonce: [1, 2, 3], enclaveTime: 5)
        #expect(without.bootEventLog == nil)
    }
}
