import Foundation
import AuditCrypto
import SealCrypto
import TestSupport
import Testing

@testable import Attestation
@testable import AttestationVerifier

// Evidence is generated at test time: `SoftwareQuote` signs the same TPMS_ATTEST a TPM
// returns, and EK chains come from the `openssl` command-line tool. Each negative test
// asserts the exact set of checks that fail, so a check that stopped working, or one that
// fails for the wrong reason, shows up.

private let goodMeasurement = SHA256.hash(Array("sealstream-enclave build 1".utf8))
private let goodConfig = SHA256.hash(Array("venue.json v1".utf8))
private let bootValues: [UInt32: [UInt8]] = Dictionary(
    uniqueKeysWithValues: (0..<8).map {
        (UInt32($0), SHA256.hash(Array("boot pcr \($0)".utf8)))
    })

// MARK: - EK certificates

/// Three CAs made with the openssl CLI, each root → intermediate → EK certificate with
/// the TCG EK extensions: "vendor" (trusted for tpm), "swtpm" (trusted for swtpm) and
/// "rogue" (trusted for nothing).
final class EKPKI: Sendable {
    struct Chain: Sendable {
        let rootPEM: String
        let intermediateDER: [UInt8]
        let ekDER: [UInt8]
    }

    let vendor: Chain
    let swtpm: Chain
    let rogue: Chain

    static let shared = Result { try EKPKI() }

    init() throws {
        let ca = try TestCA(label: "attestation-pki", tpmModel: "testtpm")
        try ca.key("ek")
        try ca.request(key: "ek", subject: "/CN=unknown", out: "ek")
        func chain(_ name: String) throws -> Chain {
            try ca.key("\(name)-root")
            try ca.key("\(name)-int")
            try ca.root("\(name)-root", subject: "/CN=\(name) EK root")
            try ca.request(key: "\(name)-int", subject: "/CN=\(name) EK issuer", out: "\(name)-int")
            try ca.sign(request: "\(name)-int", issuer: "\(name)-root", serial: 2, extensions: "v3_intermediate",
                        out: "\(name)-int")
            try ca.sign(request: "ek", issuer: "\(name)-int", serial: 3, extensions: "v3_ek", out: "\(name)-ek")
            return Chain(
                rootPEM: try ca.read("\(name)-root.pem"),
                intermediateDER: try X509Certificate(pem: ca.read("\(name)-int.pem")).der,
                ekDER: try X509Certificate(pem: ca.read("\(name)-ek.pem")).der)
        }
        vendor = try chain("vendor")
        swtpm = try chain("swtpm")
        rogue = try chain("rogue")
    }
}

// MARK: - Evidence builder

/// Builds evidence the way the enclave does (§1–§4), with knobs for each forgery.
struct EvidenceBuilder {
    var mode: AttestationMode = .software
    var nonce: [UInt8] = Array(repeating: 0x5a, count: 32)
    var enclaveKey: [UInt8] = Array(repeating: 0x11, count: 32)
    var signer: [UInt8] = Array(repeating: 0x22, count: 20)
    var measurement = goodMeasurement
    var configHash = goodConfig
    /// The objects the worker lists; `loggedObjects` is what its event log extends.
    var loadedObjects = goodObjects
    var loggedObjects: [LoadedObject]? = nil
    var pcr: UInt32 = 23
    /// PCRs quoted besides the policy PCR (boot PCRs in tpm mode).
    var otherPCRs: [UInt32: [UInt8]] = [:]
    /// Quote this value for the policy PCR instead of the log's replay.
    var quotedPCROverride: [UInt8]? = nil
    /// The firmware event log carried as `bootEventLog` (measured-boot evidence).
    var bootEventLog: [UInt8]? = nil
    var clockInfo = TPMSClockInfo(clock: 86_400_000, resetCount: 4, restartCount: 2, safe: true)
    var akAttributes = SoftwareQuote.akAttributes
    var ek: EKPKI.Chain? = nil
    let key: P256SigningKey

    init(key: P256SigningKey) { self.key = key }

    var preimage: [UInt8] {
        get throws {
            try ReportPreimage.build(
                mode: mode, nonce: nonce, enclaveKey: enclaveKey, signer: signer, measurement: measurement,
                configHash: configHash)
        }
    }

    /// The evidence; `modify` may change the TPMS_ATTEST before it is signed.
    func make(_ modify: (inout TPMSAttest) -> Void = { _ in }) throws -> Evidence {
        let preimage = try self.preimage
        var pcrs = otherPCRs
        let log = EventLogEntry.measuredStart(
            measurement: measurement, configHash: configHash,
            loadedObjects: LoadedObjects.digest(loggedObjects ?? loadedObjects), pcr: Int(pcr))
        pcrs[pcr] = quotedPCROverride ?? EventLogEntry.replay(log.map { fromHex($0.digest) })
        var akArea = SoftwareQuote.akPublic(for: key.publicKey)
        akArea.objectAttributes = akAttributes
        let akPublic = try akArea.marshal()
        let (_, attestBytes, _) = try SoftwareQuote.make(
            qualifying: SHA256.hash(preimage), pcrs: pcrs, key: key, clockInfo: clockInfo,
            firmwareVersion: 0x2019_1023_0016_3636)
        var attest = try TPMSAttest.parse(attestBytes)
        attest.qualifiedSigner = try TPMTPublic.endorsementPrimaryQualifiedName(publicArea: akPublic)
        modify(&attest)
        let (quote, signature) = try SoftwareQuote.sign(attest, key: key)
        let indices = pcrs.keys.sorted()
        let attestation = TPMAttestation(
            akPublic: toHex(akPublic), quote: toHex(quote), signature: toHex(signature), pcrs: indices.map(Int.init),
            pcrValues: Dictionary(uniqueKeysWithValues: indices.map { (String($0), toHex(pcrs[$0]!)) }),
            ekCertificate: ek.map { toHex($0.ekDER) }, ekChain: ek.map { [toHex($0.intermediateDER)] })
        return Evidence(
            mode: mode, isolation: .process, instanceID: "0102030405060708", enclaveKey: toHex(enclaveKey),
            signer: "0x" + toHex(signer), chainId: 31_337, verifyingContract: "0x" + String(repeating: "ab", count: 20),
            measurement: toHex(measurement), configHash: toHex(configHash), venueID: 7, nonce: toHex(nonce),
            enclaveTime: 1_700_000_000_000_000_000,
            isolationReport: IsolationReport(
                dumpable: false, noNewPrivileges: true, privateNetworkNamespace: true, listeningSockets: 0,
                openFileDescriptors: 3),
            attestation: attestation,
            eventLog: log, reportPreimage: toHex(preimage), loadedObjects: loadedObjects, bootEventLog: bootEventLog)
    }
}

private func policy(
    modes: [AttestationMode] = [.software, .swtpm, .tpm], akNames: [[UInt8]] = [], boot: [Int: [UInt8]]? = nil
) throws -> AttestationPolicy {
    let pki = try EKPKI.shared.get()
    return AttestationPolicy(
        measurement: goodMeasurement, configHash: goodConfig, allowedModes: modes, bootPCRs: boot,
        ekRoots: [pki.vendor.rootPEM], swtpmEKRoots: [pki.swtpm.rootPEM], akNames: akNames, loadedObjects: goodObjects)
}

/// The libraries of a reviewed worker image (made-up digests).
private let goodObjects = [
    LoadedObject(path: "/usr/lib/x86_64-linux-gnu/ld-linux-x86-64.so.2", sha256: String(repeating: "1a", count: 32)),
    LoadedObject(path: "/usr/lib/x86_64-linux-gnu/libc.so.6", sha256: String(repeating: "2b", count: 32)),
    LoadedObject(path: "/usr/lib/x86_64-linux-gnu/libsodium.so.23.3.0", sha256: String(repeating: "3c", count: 32)),
]

private func verify(
    _ evidence: Evidence, policy: AttestationPolicy? = nil, nonce: [UInt8]? = Array(repeating: 0x5a, count: 32),
    allowSimulated: Bool = true, state: VerifierState? = nil
) throws -> AttestationReport {
    let verifier = try QuoteVerifier(policy: policy ?? verifierPolicy())
    return verifier.verify(evidence: try evidence.encoded(), nonce: nonce, allowSimulated: allowSimulated, state: state)
}

private func verifierPolicy() throws -> AttestationPolicy { try policy() }

private func failed(_ report: AttestationReport) -> Set<String> { Set(report.failedChecks) }

private func akName(_ key: P256SigningKey) throws -> [UInt8] {
    try TPMTPublic.name(publicArea: SoftwareQuote.akPublic(for: key.publicKey).marshal())
}

private func flipBit(_ hex: String, bit: Int) -> String {
    var bytes = fromHex(hex)
    bytes[bit / 8] ^= 1 << (7 - bit % 8)
    return toHex(bytes)
}

// MARK: - Happy paths

@Suite("Quote verifier: accepted evidence")
struct QuoteVerifierAcceptTests {
    @Test("Software evidence passes every check, reported simulated, and yields the next state")
    func software() throws {
        let key = try P256SigningKey()
        let report = try verify(EvidenceBuilder(key: key).make(), state: VerifierState())
        #expect(report.ok, "\(report.failedChecks)")
        #expect(report.simulated && report.mode == .software)
        #expect(report.checks.map(\.check) == AttestationCheckName.allCases.map(\.rawValue))
        #expect(report[.ekChain]?.actual == "skipped")
        let next = try #require(report.nextState)
        #expect(next.clocks[toHex(try akName(key))]?.resetCount == 4)
        #expect(next.usedNonces == [toHex(SHA256.hash([UInt8](repeating: 0x5a, count: 32)))])
    }

    @Test("swtpm evidence with an EK chain to the swtpm root passes")
    func swtpm() throws {
        var builder = EvidenceBuilder(key: try P256SigningKey())
        builder.mode = .swtpm
        builder.ek = try EKPKI.shared.get().swtpm
        let report = try verify(builder.make())
        #expect(report.ok, "\(report.failedChecks)")
        #expect(report.simulated)
        #expect(report[.ekChain]?.actual == "issuer CN=swtpm EK issuer")
    }

    @Test("tpm evidence: vendor EK chain, enrolled AK, boot PCRs 0–7 as expected; not simulated")
    func tpm() throws {
        let key = try P256SigningKey()
        var builder = EvidenceBuilder(key: key)
        builder.mode = .tpm
        builder.ek = try EKPKI.shared.get().vendor
        builder.otherPCRs = bootValues
        let boot = Dictionary(uniqueKeysWithValues: bootValues.map { (Int($0.key), $0.value) })
        let report = try verify(
            builder.make(), policy: policy(modes: [.tpm], akNames: [akName(key)], boot: boot), allowSimulated: false)
        #expect(report.ok, "\(report.failedChecks)")
        #expect(!report.simulated)
        #expect(report[.bootPCRs]?.actual == "as expected")
    }

    @Test("The JSON report is {ok, simulated, mode, checks[{check, pass, expected, actual, detail}]}")
    func reportShape() throws {
        let report = try verify(EvidenceBuilder(key: try P256SigningKey()).make(), state: VerifierState())
        let object = try JSONSerialization.jsonObject(with: JSONEncoder().encode(report)) as? [String: Any]
        #expect(Set(object?.keys ?? [:].keys) == ["ok", "simulated", "mode", "checks"])
        let first = (object?["checks"] as? [[String: Any]])?.first
        #expect(Set(first?.keys ?? [:].keys) == ["check", "pass", "expected", "actual", "detail"])
    }
}

// MARK: - Each forgery fails at its check

@Suite("Quote verifier: refused evidence fails at the named check")
struct QuoteVerifierRefuseTests {
    let key: P256SigningKey
    let builder: EvidenceBuilder

    init() throws {
        key = try P256SigningKey()
        builder = EvidenceBuilder(key: key)
    }

    @Test("Simulated evidence without allowSimulated, or a mode the policy does not allow")
    func mode() throws {
        #expect(failed(try verify(builder.make(), allowSimulated: false)) == ["mode"])
        #expect(failed(try verify(builder.make(), policy: policy(modes: [.tpm]))) == ["mode"])
    }

    @Test("A flipped bit in the quote fails quote.signature")
    func flippedQuoteBit() throws {
        var evidence = try builder.make()
        let quote = evidence.attestation!.quote
        // firmwareVersion's last byte: nothing else looks at it.
        let firmwareBit = (4 + 2 + 2 + 34 + 2 + 32 + 17 + 7) * 8 + 7
        evidence.attestation!.quote = flipBit(quote, bit: firmwareBit)
        #expect(failed(try verify(evidence)) == ["quote.signature"])
        // Every bit: never accepted, never a trap, and the signature always fails.
        let verifier = try QuoteVerifier(policy: verifierPolicy())
        for bit in 0..<fromHex(quote).count * 8 {
            evidence.attestation!.quote = flipBit(quote, bit: bit)
            let report = verifier.verify(evidence: try evidence.encoded(), nonce: builder.nonce, allowSimulated: true)
            #expect(!report.ok && report.failedChecks.contains("quote.signature"), "bit \(bit)")
        }
    }

    @Test("A flipped bit in the signature fails quote.signature")
    func flippedSignatureBit() throws {
        var evidence = try builder.make()
        let signature = evidence.attestation!.signature
        evidence.attestation!.signature = flipBit(signature, bit: 6 * 8 + 3)  // inside r
        #expect(failed(try verify(evidence)) == ["quote.signature"])
        let verifier = try QuoteVerifier(policy: verifierPolicy())
        for bit in 0..<fromHex(signature).count * 8 {
            evidence.attestation!.signature = flipBit(signature, bit: bit)
            let report = verifier.verify(evidence: try evidence.encoded(), nonce: builder.nonce, allowSimulated: true)
            #expect(!report.ok && report.failedChecks.contains("quote.signature"), "bit \(bit)")
        }
    }

    @Test("A flipped bit in the AK public area, or a truncated evidence document, is never accepted")
    func hostileInputs() throws {
        var evidence = try builder.make()
        let akPublic = evidence.attestation!.akPublic
        let verifier = try QuoteVerifier(policy: verifierPolicy())
        for bit in 0..<fromHex(akPublic).count * 8 {
            evidence.attestation!.akPublic = flipBit(akPublic, bit: bit)
            let report = verifier.verify(evidence: try evidence.encoded(), nonce: builder.nonce, allowSimulated: true)
            // Any change alters the AK's Name, which the quote's qualifiedSigner commits to.
            #expect(!report.ok && !Set(report.failedChecks).isDisjoint(with: ["parse", "quote.signer"]), "bit \(bit)")
        }
        let bytes = try builder.make().encoded()
        for cut in 0..<bytes.count {
            let report = verifier.verify(evidence: Array(bytes.prefix(cut)), nonce: builder.nonce, allowSimulated: true)
            #expect(!report.ok && report.failedChecks.first == "parse", "cut \(cut)")
        }
    }

    @Test("Evidence for another nonce fails nonce")
    func wrongNonce() throws {
        let report = try verify(builder.make(), nonce: Array(repeating: 0x5b, count: 32))
        #expect(failed(report) == ["nonce"])
        #expect(failed(try verify(builder.make(), nonce: [])) == ["nonce"])
    }

    @Test("A nonce accepted once fails nonce the second time (state)")
    func reusedNonce() throws {
        let evidence = try builder.make()
        let first = try verify(evidence, state: VerifierState())
        #expect(first.ok)
        let state = try #require(first.nextState)
        let again = try verify(evidence, state: state)
        #expect(failed(again) == ["nonce"])
        #expect(again.nextState == nil)
        // A fresh nonce from the same AK is fine (same counters are not a rollback).
        var fresh = builder
        fresh.nonce = Array(repeating: 0x77, count: 32)
        #expect(try verify(fresh.make(), nonce: fresh.nonce, state: state).ok)
    }

    @Test("A certify structure (0x8017) offered as a quote fails quote.type")
    func certifyAsQuote() throws {
        let evidence = try builder.make { attest in
            attest.type = .certify
            attest.attested = .certify(name: attest.qualifiedSigner, qualifiedName: attest.qualifiedSigner)
        }
        let report = try verify(evidence)
        #expect(failed(report) == ["quote.type", "pcr.selection", "pcr.sha1", "pcr.digest"])
        #expect(report[.quoteType]?.actual == "TPM_ST_ATTEST_CERTIFY (0x8017)")
        #expect(report[.pcrDigest]?.actual == "not evaluated")
    }

    @Test("Wrong magic fails quote.magic")
    func wrongMagic() throws {
        #expect(failed(try verify(builder.make { $0.magic = 0xff54_4348 })) == ["quote.magic"])
    }

    @Test("Reported PCR values that are not the quoted ones fail pcr.digest")
    func pcrValueTampered() throws {
        var evidence = try builder.make()
        // The attacker reports the value the policy's log would give, but the quote says otherwise.
        evidence.attestation!.pcrValues["23"] = toHex(SHA256.hash(Array("other".utf8)))
        #expect(failed(try verify(evidence)) == ["pcr.digest", "eventlog"])
    }

    @Test("A quoted PCR value the event log does not explain fails eventlog")
    func pcrValueUnexplained() throws {
        var b = builder
        b.quotedPCROverride = SHA256.hash(Array("extended by someone else".utf8))
        #expect(failed(try verify(b.make())) == ["eventlog"])
    }

    @Test("A library the policy does not name (a preloaded or planted shim) fails loadedObjects")
    func unmeasuredLibrary() throws {
        // A shim beside the enclave, found through its RUNPATH before the system's copy.
        var planted = builder
        planted.loadedObjects = LoadedObjects.sorted(
            goodObjects.filter { !$0.path.hasSuffix("libsodium.so.23.3.0") }
                + [LoadedObject(path: "/srv/venue/libsodium.so.23", sha256: String(repeating: "66", count: 32))])
        let report = try verify(planted.make())
        #expect(failed(report) == ["loadedObjects"])
        let detail = report.checks.first { $0.check == "loadedObjects" }!.detail
        #expect(detail.contains("not in the policy: /srv/venue/libsodium.so.23"))
        #expect(detail.contains("missing: /usr/lib/x86_64-linux-gnu/libsodium.so.23.3.0"))
        // A preloaded extra object, same path set otherwise.
        var preloaded = builder
        preloaded.loadedObjects = LoadedObjects.sorted(
            goodObjects + [LoadedObject(path: "/tmp/shim.so", sha256: String(repeating: "77", count: 32))])
        #expect(failed(try verify(preloaded.make())) == ["loadedObjects"])
        // The right library, other bytes.
        var patched = builder
        patched.loadedObjects[2].sha256 = String(repeating: "3d", count: 32)
        #expect(failed(try verify(patched.make())) == ["loadedObjects"])
    }

    @Test("A list that is not the one the event log extended fails eventlog")
    func objectsNotLogged() throws {
        // The worker hides the shim from its list but the PCR holds the real digest.
        var hidden = builder
        hidden.loggedObjects = goodObjects + [LoadedObject(path: "/tmp/shim.so", sha256: String(repeating: "77", count: 32))]
        #expect(failed(try verify(hidden.make())) == ["eventlog"])
        // No list at all: neither check can be evaluated.
        var bare = try builder.make()
        bare.loadedObjects = nil
        #expect(failed(try verify(bare)) == ["eventlog", "loadedObjects"])
    }

    @Test("Loaded-object lists are canonical: sorted, unique, absolute, lower-case hex")
    func canonicalObjects() throws {
        #expect(throws: Never.self) { try LoadedObjects.validate(goodObjects) }
        let unsorted = [goodObjects[1], goodObjects[0]]
        #expect(throws: LoadedObjects.Problem.notSorted(path: goodObjects[0].path)) { try LoadedObjects.validate(unsorted) }
        #expect(throws: LoadedObjects.Problem.notSorted(path: goodObjects[0].path)) {
            try LoadedObjects.validate([goodObjects[0], goodObjects[0]])
        }
        let relative = [LoadedObject(path: "lib/libc.so.6", sha256: String(repeating: "2b", count: 32))]
        #expect(throws: LoadedObjects.Problem.badPath("lib/libc.so.6")) { try LoadedObjects.validate(relative) }
        let upper = [LoadedObject(path: "/lib/libc.so.6", sha256: String(repeating: "2B", count: 32))]
        #expect(throws: LoadedObjects.Problem.badDigest(path: "/lib/libc.so.6")) { try LoadedObjects.validate(upper) }
        let newline = [LoadedObject(path: "/lib/a\nb", sha256: String(repeating: "2b", count: 32))]
        #expect(throws: LoadedObjects.Problem.badPath("/lib/a\nb")) { try LoadedObjects.validate(newline) }
        // The manifest is sha256sum's format and parses back to the same list.
        let manifest = LoadedObjects.manifest(goodObjects)
        #expect(String(decoding: manifest, as: UTF8.self).hasPrefix(String(repeating: "1a", count: 32) + "  /usr/lib/"))
        #expect(try LoadedObjects.parse(manifest: manifest) == goodObjects)
        #expect(throws: LoadedObjects.Problem.self) { try LoadedObjects.parse(manifest: Array(manifest.dropLast())) }
        #expect(LoadedObjects.digest(goodObjects) == SHA256.hash(manifest))
    }

    @Test("Another enclave binary fails measurement; another configuration fails configHash")
    func wrongMeasurement() throws {
        var b = builder
        b.measurement = SHA256.hash(Array("patched enclave".utf8))
        #expect(failed(try verify(b.make())) == ["measurement"])
        var c = builder
        c.configHash = SHA256.hash(Array("other venue config".utf8))
        #expect(failed(try verify(c.make())) == ["configHash"])
    }

    @Test("swtpm evidence relabelled tpm fails preimage, ek.chain and pcr.selection")
    func relabelled() throws {
        var b = builder
        b.mode = .swtpm
        b.ek = try EKPKI.shared.get().swtpm
        var evidence = try b.make()
        evidence.mode = .tpm
        evidence.simulated = false
        let pinned = try policy(akNames: [akName(key)])
        #expect(
            failed(try verify(evidence, policy: pinned, allowSimulated: false)) == [
                "preimage", "ek.chain", "pcr.selection",
            ])
        // An enclave that lies in its own preimage still meets the EK roots and PCR 0–7.
        var lying = b
        lying.mode = .tpm
        #expect(
            failed(try verify(lying.make(), policy: pinned, allowSimulated: false)) == ["ek.chain", "pcr.selection"])
    }

    @Test("A swapped enclave key fails preimage; a re-made preimage fails quote.extraData")
    func swappedEnclaveKey() throws {
        let attackerKey = [UInt8](repeating: 0x66, count: 32)
        var evidence = try builder.make()
        evidence.enclaveKey = toHex(attackerKey)
        let report = try verify(evidence)
        #expect(failed(report) == ["preimage"])
        #expect(report[.preimage]?.actual == "differs in enclaveKey")
        var b = builder
        b.enclaveKey = attackerKey
        evidence.reportPreimage = toHex(try b.preimage)
        #expect(failed(try verify(evidence)) == ["quote.extraData"])
    }

    @Test("An EK certificate from an untrusted CA fails ek.chain")
    func untrustedEK() throws {
        var b = builder
        b.mode = .swtpm
        b.ek = try EKPKI.shared.get().rogue
        #expect(failed(try verify(b.make())) == ["ek.chain"])
        // The vendor chain is trusted for tpm, not for swtpm evidence.
        b.ek = try EKPKI.shared.get().vendor
        #expect(failed(try verify(b.make())) == ["ek.chain"])
        // And swtpm evidence must carry its EK certificate.
        b.ek = nil
        #expect(failed(try verify(b.make())) == ["ek.chain"])
    }

    @Test("A SHA-1-only selection fails pcr.sha1 and pcr.selection")
    func sha1Only() throws {
        let sha1Value = [UInt8](repeating: 0xa1, count: 20)
        var evidence = try builder.make { attest in
            attest.attested = .quote(
                TPMSQuoteInfo(
                    pcrSelect: [TPMSPCRSelection(hash: .sha1, indices: [23])], pcrDigest: SHA256.hash(sha1Value)))
        }
        evidence.attestation!.pcrBank = "sha1"
        evidence.attestation!.pcrValues = ["23": toHex(sha1Value)]
        #expect(failed(try verify(evidence)) == ["pcr.selection", "pcr.sha1", "eventlog"])
    }

    @Test("A truncated or reordered event log fails eventlog")
    func eventLog() throws {
        var truncated = try builder.make()
        truncated.eventLog!.removeLast()
        #expect(failed(try verify(truncated)) == ["eventlog"])
        var reordered = try builder.make()
        reordered.eventLog!.reverse()
        #expect(failed(try verify(reordered)) == ["eventlog"])
        var moved = try builder.make()
        moved.eventLog![1].pcr = 16
        #expect(failed(try verify(moved)) == ["eventlog"])
    }

    @Test("Clock not safe, or counters or clock going backwards against the state, fail clock")
    func clock() throws {
        var unsafe = builder
        unsafe.clockInfo.safe = false
        #expect(failed(try verify(unsafe.make())) == ["clock"])

        let name = toHex(try akName(key))
        let base = builder.clockInfo
        for (reset, restart, clock) in [
            (base.resetCount + 1, 0, base.clock), (base.resetCount, base.restartCount + 1, base.clock),
            (base.resetCount, base.restartCount, base.clock + 1),
        ] {
            var state = VerifierState()
            state.clocks[name] = TPMSClockInfo(
                clock: clock, resetCount: reset, restartCount: UInt32(restart), safe: true)
            #expect(failed(try verify(builder.make(), state: state)) == ["clock"])
        }
        var older = VerifierState()
        older.clocks[name] = TPMSClockInfo(
            clock: base.clock - 1, resetCount: base.resetCount - 1, restartCount: 9, safe: true)
        #expect(try verify(builder.make(), state: older).ok)
    }

    @Test("An AK that is not a restricted signing key fails ak.attributes")
    func akAttributes() throws {
        var b = builder
        b.akAttributes.remove(.restricted)
        #expect(failed(try verify(b.make())) == ["ak.attributes"])
        b.akAttributes = SoftwareQuote.akAttributes.union(.decrypt)
        #expect(failed(try verify(b.make())) == ["ak.attributes"])
    }

    @Test("A quote naming another signer fails quote.signer")
    func otherSigner() throws {
        #expect(failed(try verify(builder.make { $0.qualifiedSigner[5] ^= 1 })) == ["quote.signer"])
    }

    @Test("tpm evidence needs an enrolled AK; boot PCRs must match the policy")
    func tpmPolicy() throws {
        var b = builder
        b.mode = .tpm
        b.ek = try EKPKI.shared.get().vendor
        b.otherPCRs = bootValues
        #expect(failed(try verify(b.make(), policy: policy(modes: [.tpm]), allowSimulated: false)) == ["ak.enrolled"])
        var boot = Dictionary(uniqueKeysWithValues: bootValues.map { (Int($0.key), $0.value) })
        boot[4] = SHA256.hash(Array("other bootloader".utf8))
        let report = try verify(
            b.make(), policy: policy(modes: [.tpm], akNames: [akName(key)], boot: boot), allowSimulated: false)
        #expect(failed(report) == ["boot.pcrs"])
        #expect(report[.bootPCRs]?.actual == "PCRs 4")
    }

    @Test("Unparsable or unattested evidence fails parse, and every check depending on it")
    func unparsable() throws {
        let verifier = try QuoteVerifier(policy: verifierPolicy())
        let garbage = verifier.verify(evidence: Array("{".utf8))
        #expect(Set(garbage.failedChecks) == Set(AttestationCheckName.allCases.map(\.rawValue)))
        var unattested = try builder.make()
        unattested.attestation = nil
        let report = try verify(unattested)
        #expect(report.failedChecks.first == "parse" && !report.ok)
        #expect(report[.parse]?.actual == "no attestation: the evidence is not attested")
        var truncated = try builder.make()
        truncated.attestation!.quote.removeLast(2)
        #expect(failed(try verify(truncated)).isSuperset(of: ["parse", "quote.signature", "quote.type"]))
    }
}

// MARK: - Structures

@Suite("TPM structures")
struct TPMStructureTests {
    // swtpm 0.7.1 + tpm2-tools 5.4, see Tests/SealCryptoTests/P256Tests.swift for the
    // commands. akPublic is `tpm2_readpublic -o` without its TPM2B size; akName is
    // `tpm2_readpublic -n`; quote/signature are `tpm2_quote -m/-s` over
    // sha256:0,1,2,3,4,5,6,7,23 with qualifying data 00112233…eeff ×2, PCR 23 extended
    // once with SHA-256("abc") after a reset.
    static let akPublic = fromHex(
        "0023000b00050072000000100018000b000300100020f3bf8b233ea24e63f5ff5e99965945f2cc79a2db6920445795585c3fed7612be"
            + "002028895c373984bb5bf947ec342856e90797c77814cef7c8e55adec2bd5c6e4f97")
    static let akName = fromHex("000b2a3c321883c7ee4f8ee8e7f41affa0901555bcc3ac61fdd205b0a814163b03c7")
    static let quote = fromHex(
        "ff54434780180022000b60462cbc495af265cd9f134a9ad5a3a52dd8caa4e61ef59854b9bbf17cdfe01d0020001122334455667788"
            + "99aabbccddeeff00112233445566778899aabbccddeeff00000000000042a8000000020000000001201910230016363600000001"
            + "000b03ff0080002093426f00eef9f60643740f138bf917f46eff94b715fe9cee2aec1b44b086f240")
    static let signature = fromHex(
        "0018000b0020ce66f8f19dbca53f430643c39f3ae7811543cf05a7d555c2b7013017d18ae2610020006045b03be7091466b46111"
            + "2263b0ffa1d00abddbd27fdc79032e0d894a6165")
    static let pcr23 = fromHex("589f9ffed4c477966bfb8d41f37895b08c69047df8f911d6f3b57fbe08faee8d")

    @Test("A real swtpm quote parses, its Name, qualified signer, digest and signature check out")
    func swtpmQuote() throws {
        let ak = try TPMTPublic.parse(Self.akPublic)
        #expect(ak.objectAttributes == SoftwareQuote.akAttributes)
        #expect(ak.scheme == TPMTPublic.Scheme(scheme: .ecdsa, hashAlg: .sha256) && ak.curveID == TPMECCCurve.nistP256)
        #expect(try TPMTPublic.name(publicArea: Self.akPublic) == Self.akName)
        #expect(try ak.marshal() == Self.akPublic)
        // What SoftwareQuote builds for the same key is byte for byte the TPM's public area.
        let key = try P256PublicKey(x: ak.x, y: ak.y)
        #expect(try SoftwareQuote.akPublic(for: key).marshal() == Self.akPublic)

        let attest = try TPMSAttest.parse(Self.quote)
        #expect(attest.magic == TPMSAttest.generatedValue && attest.type == .quote)
        #expect(attest.qualifiedSigner == (try TPMTPublic.endorsementPrimaryQualifiedName(publicArea: Self.akPublic)))
        #expect(attest.extraData == fromHex("00112233445566778899aabbccddeeff00112233445566778899aabbccddeeff"))
        #expect(attest.clockInfo == TPMSClockInfo(clock: 0x42a8, resetCount: 2, restartCount: 0, safe: true))
        #expect(attest.firmwareVersion == 0x2019_1023_0016_3636)
        let info = try #require(attest.quoteInfo)
        #expect(info.pcrSelect == [TPMSPCRSelection(hash: .sha256, indices: [0, 1, 2, 3, 4, 5, 6, 7, 23])])
        #expect(info.pcrDigest == SHA256.hash([UInt8](repeating: 0, count: 8 * 32) + Self.pcr23))
        #expect(Self.pcr23 == EventLogEntry.replay([SHA256.hash(Array("abc".utf8))]))
        #expect(try attest.marshal() == Self.quote)

        let signature = try TPMTSignature.parse(Self.signature)
        #expect(try signature.marshal() == Self.signature)
        guard case .ecc(let r, let s) = signature.body else {
            Issue.record("not an ECC signature")
            return
        }
        #expect(signature.sigAlg == .ecdsa && signature.hash == .sha256)
        #expect(key.isValidSignature(r: r, s: s, digest: SHA256.hash(Self.quote)))
    }

    @Test("Every truncation and every trailing byte is refused, without trapping")
    func truncations() throws {
        for cut in 0..<Self.akPublic.count {
            #expect(throws: TPMStructureError.self) { try TPMTPublic.parse(Array(Self.akPublic.prefix(cut))) }
        }
        for cut in 0..<Self.quote.count {
            #expect(throws: TPMStructureError.self) { try TPMSAttest.parse(Array(Self.quote.prefix(cut))) }
        }
        for cut in 0..<Self.signature.count {
            #expect(throws: TPMStructureError.self) { try TPMTSignature.parse(Array(Self.signature.prefix(cut))) }
        }
        #expect(throws: TPMStructureError.trailingBytes(structure: "TPMT_PUBLIC", count: 1)) {
            try TPMTPublic.parse(Self.akPublic + [0])
        }
        #expect(throws: TPMStructureError.trailingBytes(structure: "TPMS_ATTEST", count: 1)) {
            try TPMSAttest.parse(Self.quote + [0])
        }
        #expect(throws: TPMStructureError.trailingBytes(structure: "TPMT_SIGNATURE", count: 1)) {
            try TPMTSignature.parse(Self.signature + [0])
        }
    }

    @Test("Hostile sizes and values are refused with typed errors")
    func hostile() throws {
        // qualifiedSigner claiming 0xffff bytes.
        var big = Self.quote
        big[6] = 0xff
        big[7] = 0xff
        #expect(throws: TPMStructureError.sizeTooLarge(field: "TPMS_ATTEST.qualifiedSigner", limit: 66, actual: 0xffff))
        {
            try TPMSAttest.parse(big)
        }
        // safe = 2 is not a TPMI_YES_NO.
        var safe = Self.quote
        safe[4 + 2 + 36 + 34 + 16] = 2
        #expect(throws: TPMStructureError.invalidValue(field: "TPMS_CLOCK_INFO.safe", detail: "TPMI_YES_NO 2")) {
            try TPMSAttest.parse(safe)
        }
        // A PCR selection count of 2^32 − 1.
        var banks = Self.quote
        let countOffset = Self.quote.count - (4 + 2 + 1 + 3 + 2 + 32)
        banks.replaceSubrange(countOffset..<countOffset + 4, with: [0xff, 0xff, 0xff, 0xff])
        #expect(
            throws: TPMStructureError.sizeTooLarge(field: "TPML_PCR_SELECTION.count", limit: 16, actual: 0xffff_ffff)
        ) {
            try TPMSAttest.parse(banks)
        }
        // An RSA public area is not an ECC AK; an unknown signature scheme has no layout.
        #expect(throws: TPMStructureError.unsupported(field: "TPMT_PUBLIC.type", value: 1)) {
            try TPMTPublic.parse([0x00, 0x01] + Self.akPublic.dropFirst(2))
        }
        #expect(throws: TPMStructureError.unsupported(field: "TPMT_SIGNATURE.sigAlg", value: 0x0099)) {
            try TPMTSignature.parse([0x00, 0x99] + Self.signature.dropFirst(2))
        }
        #expect(throws: TPMStructureError.self) {
            try TPMSAttest.parse([UInt8](repeating: 0, count: TPMSAttest.maxEncodedLength + 1))
        }
        // Other attestation types parse (so the verifier can name them) and round-trip.
        var time = try TPMSAttest.parse(Self.quote)
        time.type = .time
        time.attested = .other([1, 2, 3])
        #expect(try TPMSAttest.parse(time.marshal()) == time)
    }

    @Test("The report preimage has the §1 layout and parses strictly")
    func preimage() throws {
        let nonce: [UInt8] = [9, 8, 7]
        let bytes = try ReportPreimage.build(
            mode: .swtpm, nonce: nonce, enclaveKey: Array(repeating: 1, count: 32),
            signer: Array(repeating: 2, count: 20),
            measurement: Array(repeating: 3, count: 32), configHash: Array(repeating: 4, count: 32))
        #expect(bytes.count == 142 + 3)
        #expect(Array(bytes[0..<24]) == Array("sealstream/attest/v1".utf8) + [0, 0, 0, 0])
        #expect(bytes[24] == 2 && bytes[25] == 3 && Array(bytes[26..<29]) == nonce)
        #expect(bytes[29] == 1 && bytes[29 + 32] == 2 && bytes[29 + 52] == 3 && bytes[29 + 84] == 4)
        let parsed = try ReportPreimage.parse(bytes)
        #expect(try parsed.bytes() == bytes && parsed.mode == .swtpm && parsed.nonce == nonce)
        for cut in 0..<bytes.count {
            #expect(throws: EvidenceError.self) { try ReportPreimage.parse(Array(bytes.prefix(cut))) }
        }
        #expect(throws: EvidenceError.self) { try ReportPreimage.parse(bytes + [0]) }
        var mode = bytes
        mode[24] = 4
        #expect(throws: EvidenceError.self) { try ReportPreimage.parse(mode) }
        #expect(throws: EvidenceError.self) {
            try ReportPreimage.build(
                mode: .tpm, nonce: Array(repeating: 0, count: 65), enclaveKey: Array(repeating: 1, count: 32),
                signer: Array(repeating: 2, count: 20), measurement: Array(repeating: 3, count: 32),
                configHash: Array(repeating: 4, count: 32))
        }
    }

    @Test("tpm2_checkquote (tpm2-tools) accepts a SoftwareQuote")
    func tpm2CheckQuote() throws {
        let key = try P256SigningKey()
        let qualifying = SHA256.hash(Array("qualifying".utf8))
        let (_, attest, signature) = try SoftwareQuote.make(
            qualifying: qualifying, pcrs: [23: SHA256.hash(Array("pcr".utf8))], key: key)
        let directory = try makeScratchDirectory("checkquote")
        defer { try? FileManager.default.removeItem(at: directory) }
        let checkquote = try executable("tpm2_checkquote", package: "tpm2-tools")
        try key.publicKey.pem.write(to: directory.appendingPathComponent("ak.pem"), atomically: true, encoding: .utf8)
        try Data(attest).write(to: directory.appendingPathComponent("quote.msg"))
        try Data(signature).write(to: directory.appendingPathComponent("quote.sig"))
        func check(_ q: [UInt8]) throws -> Int32 {
            try runTool(
                checkquote, ["-u", "ak.pem", "-m", "quote.msg", "-s", "quote.sig", "-g", "sha256", "-q", toHex(q)],
                in: directory
            ).status
        }
        #expect(try check(qualifying) == 0)
        var other = qualifying
        other[0] ^= 1
        #expect(try check(other) != 0)
    }

    @Test("Evidence v2 round-trips through JSON; version 1 is refused")
    func evidenceVersion() throws {
        let evidence = try EvidenceBuilder(key: try P256SigningKey()).make()
        let bytes = try evidence.encoded()
        #expect(try Evidence.parse(bytes) == evidence)
        #expect(evidence.quote == evidence.attestation?.quote)
        var v1 = try JSONSerialization.jsonObject(with: Data(bytes)) as! [String: Any]
        v1["version"] = 1
        #expect(throws: EvidenceError.unsupportedVersion(1)) {
            try Evidence.parse(Array(try JSONSerialization.data(withJSONObject: v1)))
        }
        #expect(Evidence.hexBytes("0A0b") == [0x0a, 0x0b])
        #expect(Evidence.hexBytes("+f+f") == nil && Evidence.hexBytes("0x00") == nil && Evidence.hexBytes("abc") == nil)
        var inconsistent = evidence
        inconsistent.attestation!.pcrs = [22]
        #expect(throws: EvidenceError.self) { try Evidence.parse(inconsistent.encoded()) }
    }

    /// docs/EVIDENCE.md, Parsing rule 1: Foundation's decoder alone took the first of two
    /// `version` members, read `31337.0` as the integer 31337 and skipped a byte order
    /// mark, where the Python SDK refuses all three.
    @Test("Evidence with a repeated member, a non-canonical integer or a byte order mark does not parse")
    func evidenceIsReadStrictly() throws {
        let evidence = try EvidenceBuilder(key: try P256SigningKey()).make()
        let text = String(decoding: try evidence.encoded(), as: UTF8.self)
        #expect(try Evidence.parse(Array(text.utf8)) == evidence)
        let chainId = "\"chainId\" : \(evidence.chainId)"
        #expect(text.contains(chainId))
        for bad in [
            "{\"version\":2," + text.dropFirst(),  // a repeated member, both values valid
            "{\"version\":3," + text.dropFirst(),  // Foundation read the first: unsupportedVersion(3)
            text.replacingOccurrences(of: chainId, with: chainId + ".0"),
            text.replacingOccurrences(of: chainId, with: "\"chainId\" : 3.1337e4"),
            "\u{FEFF}" + text,
        ] {
            #expect {
                try Evidence.parse(Array(bad.utf8))
            } throws: { error in
                if case EvidenceError.malformed = error { true } else { false }
            }
        }
    }

    /// docs/EVIDENCE.md: `verifyingContract` is an address like `signer`. It was not checked,
    /// so `inspect` accepted evidence `verify-outputs --evidence` then refused as a usage
    /// error (exit 64), and the Python SDK refused it at parse.
    @Test("Evidence whose verifyingContract is not 0x + 40 hex digits does not parse", arguments: [
        "", "0x", "00" + String(repeating: "ab", count: 19), "0x" + String(repeating: "ab", count: 19),
        "0x" + String(repeating: "ab", count: 21), "0x" + String(repeating: "zz", count: 20),
        "0X" + String(repeating: "ab", count: 20),
    ])
    func verifyingContractIsAnAddress(contract: String) throws {
        var evidence = try EvidenceBuilder(key: try P256SigningKey()).make()
        evidence.verifyingContract = "0x" + String(repeating: "Ab", count: 20)
        #expect(try Evidence.parse(evidence.encoded()) == evidence)
        evidence.verifyingContract = contract
        #expect(throws: EvidenceError.inconsistent("verifyingContract is not a 0x-prefixed 20-byte address")) {
            try Evidence.parse(evidence.encoded())
        }
    }
}
