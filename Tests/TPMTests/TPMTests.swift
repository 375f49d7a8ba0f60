// CTPM against a real swtpm (scripts/swtpm.sh), checked by independent tools: OpenSSL's
// command line for SHA-256 and X.509, tpm2-tools' tpm2_checkquote for quotes and
// tpm2_print for key conversion. Each test starts its own swtpm in a fresh directory (its
// own throwaway CA) and stops it on every path. A missing tool fails the test with an
// install hint; nothing is skipped.
#if canImport(Glibc)
import Glibc
#endif
import CTPM
import Foundation
import TestSupport
import Testing

@Suite("CTPM against swtpm", .serialized)
struct TPMTests {
    static let pcr: UInt32 = 23
    static let bootPCRs: [UInt32] = [0, 1, 2, 3, 4, 5, 6, 7, 23]

    @Test("PCR 23 extended twice equals the software replay of the event log")
    func pcrReplay() throws {
        try withSwtpm { _, tpm, _ in
            try tpm.reset(pcr: Self.pcr)
            #expect(try tpm.read([Self.pcr]) == [zeros32])

            let executable = try sha256(Array("sealstream-enclave executable".utf8))
            let config = try sha256(Array("venue configuration".utf8))
            try tpm.extend(pcr: Self.pcr, with: executable)
            try tpm.extend(pcr: Self.pcr, with: config)

            let replay = try sha256(try sha256(zeros32 + executable) + config)
            #expect(try tpm.read([Self.pcr]) == [replay])
            #expect(replay != zeros32)
            // Reading several PCRs in any order returns them in that order.
            #expect(try tpm.read([Self.pcr, 0]) == [replay, zeros32])

            // The PC Client profile lets locality 0 reset PCR 23 but not the boot PCRs.
            #expect(throws: TPMCallError.self) { try tpm.reset(pcr: 0) }
            #expect(throws: TPMCallError.self) { try tpm.extend(pcr: 24, with: executable) }
        }
    }

    @Test("AK quote: TPMS_ATTEST fields, and tpm2_checkquote accepts it with the PCR file")
    func quote() throws {
        try withSwtpm { swtpm, tpm, work in
            // Quoting before an AK exists is a sequence error, not a crash.
            let noAK = #expect(throws: TPMCallError.self) {
                _ = try tpm.quote(qualifying: zeros32, pcrs: [Self.pcr])
            }
            #expect(noAK?.rc == CTPM_RC_BAD_SEQUENCE)

            let akStart = ContinuousClock.now
            let ak = try tpm.createAK()
            let akTime = ContinuousClock.now - akStart
            try expectAKPublic(ak.public)
            #expect(ak.name == [0x00, 0x0b] + (try sha256(ak.public)))

            try tpm.reset(pcr: Self.pcr)
            try tpm.extend(pcr: Self.pcr, with: try sha256(Array("enclave".utf8)))
            try tpm.extend(pcr: Self.pcr, with: try sha256(Array("config".utf8)))
            let qualifying = (0..<32).map { _ in UInt8.random(in: 0...255) }

            let quoteStart = ContinuousClock.now
            let single = try tpm.quote(qualifying: qualifying, pcrs: [Self.pcr])
            let quoteTime = ContinuousClock.now - quoteStart
            let pcr23 = try tpm.read([Self.pcr])[0]

            let attest = try QuoteAttest(single.attest)
            #expect(attest.magic == 0xff54_4347)
            #expect(attest.type == 0x8018)
            #expect(attest.extraData == qualifying)
            #expect(attest.qualifiedSigner.count == 34 && attest.qualifiedSigner.prefix(2) == [0x00, 0x0b])
            #expect(attest.selections.count == 1)
            #expect(attest.selections.first?.hash == 0x000b)
            #expect(attest.selections.first?.select == [0x00, 0x00, 0x80])
            #expect(attest.pcrDigest == (try sha256(pcr23)))
            try expectECDSASignature(single.signature)

            // The AK public area as PEM, converted by tpm2-tools, not by us.
            let akFile = work.appendingPathComponent("ak.tpmt")
            try Data(ak.public).write(to: akFile)
            let pem = try tpm2Print(akFile, format: "pem")
            #expect(String(decoding: pem, as: UTF8.self).contains("-----BEGIN PUBLIC KEY-----"))
            let akPEM = work.appendingPathComponent("ak.pem")
            try pem.write(to: akPEM)

            // One PCR: the values-only PCR file with -l.
            let check = Checkquote(work: work, akPEM: akPEM)
            #expect(try check.values(single, pcrValues: pcr23, list: "sha256:23", qualifying: qualifying) == 0)
            var tampered = pcr23
            tampered[0] ^= 1
            #expect(try check.values(single, pcrValues: tampered, list: "sha256:23", qualifying: qualifying) != 0)
            var otherQualifying = qualifying
            otherQualifying[31] ^= 1
            #expect(try check.values(single, pcrValues: pcr23, list: "sha256:23", qualifying: otherQualifying) != 0)

            // `tpm` mode: PCRs 0–7 and 23. tpm2-tools 5.4 drops the eighth value of a
            // values-only file read with -l, so this one uses its serialized PCR file.
            let boot = try tpm.quote(qualifying: qualifying, pcrs: Self.bootPCRs)
            let bootValues = try tpm.read(Self.bootPCRs)
            let bootAttest = try QuoteAttest(boot.attest)
            #expect(bootAttest.selections.first?.select == [0xff, 0x00, 0x80])
            #expect(bootAttest.pcrDigest == (try sha256(bootValues.flatMap { $0 })))
            #expect(try check.serialized(boot, pcrs: Self.bootPCRs, values: bootValues, qualifying: qualifying) == 0)
            var bootTampered = bootValues
            bootTampered[3][5] ^= 1
            #expect(try check.serialized(boot, pcrs: Self.bootPCRs, values: bootTampered, qualifying: qualifying) != 0)
            // A signature belongs to its own message.
            let swapped = (attest: boot.attest, signature: single.signature)
            #expect(try check.serialized(swapped, pcrs: Self.bootPCRs, values: bootValues, qualifying: qualifying) != 0)

            // PCR lists must be strictly ascending, in range and non-empty.
            for bad: [UInt32] in [[23, 0], [23, 23], [24], []] {
                let error = #expect(throws: TPMCallError.self) { _ = try tpm.quote(qualifying: qualifying, pcrs: bad) }
                #expect(error?.rc == CTPM_RC_BAD_VALUE)
            }
            print("TPM timings: swtpm start \(swtpm.startTime), create AK \(akTime), one quote \(quoteTime)")
        }
    }

    @Test("The AK under a policy-only EK (RSA 2048, template L-1) quotes too")
    func akUnderPolicyEK() throws {
        try withSwtpm { _, tpm, work in
            let ak = try tpm.createAK(parent: CTPM_EK_CERT_RSA2048)
            try expectAKPublic(ak.public)
            let qualifying = try sha256(Array("nonce".utf8))
            let quote = try tpm.quote(qualifying: qualifying, pcrs: [Self.pcr])
            let akFile = work.appendingPathComponent("ak.tpmt")
            try Data(ak.public).write(to: akFile)
            let akPEM = work.appendingPathComponent("ak.pem")
            try tpm2Print(akFile, format: "pem").write(to: akPEM)
            let value = try tpm.read([Self.pcr])[0]
            let check = Checkquote(work: work, akPEM: akPEM)
            #expect(try check.values(quote, pcrValues: value, list: "sha256:23", qualifying: qualifying) == 0)
        }
    }

    @Test("EK certificates chain to the run's throwaway CA and certify the EK the AK lives under")
    func ekCertificate() throws {
        try withSwtpm { swtpm, tpm, work in
            // swtpm 0.7 provisions ECC P-384 (high range) and RSA 2048 EK certificates.
            #expect(try tpm.findEK() == CTPM_EK_CERT_ECC_P384)
            #expect(swtpm.ekRoot.hasPrefix(swtpm.directory.path))
            let signingKey = swtpm.directory.appendingPathComponent("tpm/ca/signkey.pem").path
            #expect(FileManager.default.fileExists(atPath: signingKey))

            for index in [CTPM_EK_CERT_ECC_P384, CTPM_EK_CERT_RSA2048] {
                let derFile = work.appendingPathComponent("ek-\(index).der")
                let pemFile = work.appendingPathComponent("ek-\(index).pem")
                try Data(try tpm.ekCertificate(index)).write(to: derFile)
                try openssl(["x509", "-inform", "DER", "-in", derFile.path, "-out", pemFile.path])
                    .succeed("openssl x509")

                let verify = try openssl(["verify", "-CAfile", swtpm.ekRoot, "-untrusted", swtpm.ekIssuer,
                                          pemFile.path])
                #expect(verify.status == 0, "openssl verify: \(verify.text) \(verify.stderr)")
                #expect(verify.text.contains("OK"))
                // The intermediate alone is not a trust anchor.
                #expect(try openssl(["verify", "-CAfile", swtpm.ekIssuer, pemFile.path]).status != 0)

                // The EK regenerated from the TCG template is the certified key.
                let ekTPMT = work.appendingPathComponent("ek-\(index).tpmt")
                try Data(try tpm.ekPublic(index)).write(to: ekTPMT)
                let fromTPM = try tpm2Print(ekTPMT, format: "der")
                let certKeyFile = work.appendingPathComponent("ek-\(index)-spki.pem")
                let certKey = try openssl(["x509", "-in", pemFile.path, "-pubkey", "-noout"])
                try certKey.succeed("openssl x509 -pubkey")
                try certKey.stdout.write(to: certKeyFile)
                let fromCert = try openssl(["pkey", "-pubin", "-in", certKeyFile.path, "-outform", "DER"])
                try fromCert.succeed("openssl pkey")
                #expect(!fromTPM.isEmpty)
                #expect(fromTPM == fromCert.stdout, "EK 0x\(String(index, radix: 16)) differs from its certificate")
            }

            // A root with the same name but another key does not verify the EK certificate.
            let impostorKey = work.appendingPathComponent("impostor.key")
            let impostor = work.appendingPathComponent("impostor.pem")
            try openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
                         "-subj", "/CN=swtpm-localca-rootca", "-days", "1",
                         "-keyout", impostorKey.path, "-out", impostor.path]).succeed("openssl req")
            let ekPEM = work.appendingPathComponent("ek-\(CTPM_EK_CERT_ECC_P384).pem").path
            #expect(try openssl(["verify", "-CAfile", impostor.path, "-untrusted", swtpm.ekIssuer, ekPEM]).status != 0)

            // Too small a buffer reports the size needed.
            var small = [UInt8](repeating: 0, count: 16)
            var length = small.count
            let rc = ctpm_read_ek_certificate(tpm.handle, 0, &small, &length)
            #expect(rc == CTPM_RC_INSUFFICIENT_BUFFER)
            #expect(length == (try tpm.ekCertificate()).count)
        }
    }

    @Test("A key sealed to PCR 23 unseals only while PCR 23 has the sealed-to value")
    func sealUnseal() throws {
        try withSwtpm { _, tpm, _ in
            try tpm.reset(pcr: Self.pcr)
            try tpm.extend(pcr: Self.pcr, with: try sha256(Array("enclave".utf8)))
            let current = try tpm.read([Self.pcr])[0]

            let key = (0..<32).map { _ in UInt8.random(in: 0...255) }
            let sealed = try tpm.seal(pcr: Self.pcr, expected: nil, secret: key)
            #expect(!occurs(key, in: sealed.public + sealed.private), "the sealed blobs carry the key in the clear")
            #expect(try tpm.unseal(pcr: Self.pcr, sealed) == key)

            // Sealed to a predicted value: refused now, released once the PCR gets there.
            let next = try sha256(Array("config".utf8))
            let predicted = try sha256(current + next)
            let futureKey = (0..<32).map { _ in UInt8.random(in: 0...255) }
            let future = try tpm.seal(pcr: Self.pcr, expected: predicted, secret: futureKey)
            try expectPolicyFailure { try tpm.unseal(pcr: Self.pcr, future) }
            try tpm.extend(pcr: Self.pcr, with: next)
            #expect(try tpm.read([Self.pcr])[0] == predicted)
            #expect(try tpm.unseal(pcr: Self.pcr, future) == futureKey)

            // The first key was bound to the old value; another extend locks out the second.
            try expectPolicyFailure { try tpm.unseal(pcr: Self.pcr, sealed) }
            try tpm.extend(pcr: Self.pcr, with: next)
            try expectPolicyFailure { try tpm.unseal(pcr: Self.pcr, future) }

            // Resetting and replaying the same log restores access.
            try tpm.reset(pcr: Self.pcr)
            try tpm.extend(pcr: Self.pcr, with: try sha256(Array("enclave".utf8)))
            #expect(try tpm.unseal(pcr: Self.pcr, sealed) == key)
        }
    }

    @Test("Credential activation: only this TPM's EK and the primary AK's Name release the secret")
    func activateCredential() throws {
        try withSwtpm { _, tpm, work in
            let secret = (0..<32).map { _ in UInt8.random(in: 0...255) }
            // Before the primary AK exists: a sequence error, not a crash.
            let early = #expect(throws: TPMCallError.self) {
                _ = try tpm.activateCredential(ek: 0, Credential(blob: [0, 0], secret: [0, 0]))
            }
            #expect(early?.rc == CTPM_RC_BAD_SEQUENCE)

            let ak = try tpm.createPrimaryAK()
            try expectAKPublic(ak.public)
            #expect(ak.name == [0x00, 0x0b] + (try sha256(ak.public)))

            // What a verifier has: the RSA 2048 EK certificate's public key, as PEM.
            let certDER = work.appendingPathComponent("ek-rsa.der")
            try Data(try tpm.ekCertificate(CTPM_EK_CERT_RSA2048)).write(to: certDER)
            let certKey = try openssl(["x509", "-inform", "DER", "-in", certDER.path, "-pubkey", "-noout"])
            try certKey.succeed("openssl x509 -pubkey")
            let ekPEM = work.appendingPathComponent("ek-rsa.pub.pem")
            try certKey.stdout.write(to: ekPEM)
            // The same EK as a TPM2B_PUBLIC (tpm2-tools' "tss" format) from the TPM.
            let ekTPMT = try tpm.ekPublic(CTPM_EK_CERT_RSA2048)
            let ekTSS = work.appendingPathComponent("ek-rsa.tss")
            try Data([UInt8(ekTPMT.count >> 8), UInt8(ekTPMT.count & 0xff)] + ekTPMT).write(to: ekTSS)

            let make = MakeCredential(work: work)
            let fromCert = try make(ekPEM, pem: true, name: ak.name, secret: secret)
            #expect(!occurs(secret, in: fromCert.blob + fromCert.secret))
            // 0 selects the RSA 2048 EK.
            #expect(try tpm.activateCredential(ek: 0, fromCert) == secret)
            #expect(try tpm.activateCredential(ek: CTPM_EK_CERT_RSA2048, fromCert) == secret)
            let fromTSS = try make(ekTSS, pem: false, name: ak.name, secret: secret)
            #expect(try tpm.activateCredential(ek: 0, fromTSS) == secret)

            // Made for another Name (another AK): the TPM's integrity check fails.
            var otherName = ak.name
            otherName[otherName.count - 1] ^= 1
            let forOther = try make(ekPEM, pem: true, name: otherName, secret: secret)
            try expectIntegrityFailure { try tpm.activateCredential(ek: 0, forOther) }

            // A flipped byte in the encrypted credential or its HMAC: integrity failure. One
            // in the encrypted seed: OAEP decryption fails (swtpm answers TPM_RC_FAILURE,
            // 0x101, and keeps working), or it decrypts to another seed (integrity).
            var flippedBlob = fromCert
            flippedBlob.blob[flippedBlob.blob.count - 1] ^= 0x01
            try expectIntegrityFailure { try tpm.activateCredential(ek: 0, flippedBlob) }
            var flippedHMAC = fromCert
            flippedHMAC.blob[4] ^= 0x80
            try expectIntegrityFailure { try tpm.activateCredential(ek: 0, flippedHMAC) }
            var flippedSeed = fromCert
            flippedSeed.secret[100] ^= 0x01
            #expect(throws: TPMCallError.self) { try tpm.activateCredential(ek: 0, flippedSeed) }

            // Made for the real AK Name but to another RSA key: this TPM cannot decrypt the
            // seed (TPM_RC_FAILURE from swtpm, as above).
            let otherKey = work.appendingPathComponent("other.key")
            let otherPEM = work.appendingPathComponent("other.pub.pem")
            try openssl(["genpkey", "-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048", "-out", otherKey.path])
                .succeed("openssl genpkey")
            try openssl(["pkey", "-in", otherKey.path, "-pubout", "-out", otherPEM.path]).succeed("openssl pkey")
            let forOtherEK = try make(otherPEM, pem: true, name: ak.name, secret: secret)
            #expect(throws: TPMCallError.self) { try tpm.activateCredential(ek: 0, forOtherEK) }
            // Nor does the P-384 EK open a credential made to the RSA EK (TPM_RC_SIZE: an
            // RSA-encrypted seed is no ECC point).
            #expect(throws: TPMCallError.self) { try tpm.activateCredential(ek: CTPM_EK_CERT_ECC_P384, fromCert) }

            // Inputs are exactly one marshalled structure each.
            for bad in [Credential(blob: fromCert.blob + [0], secret: fromCert.secret),
                        Credential(blob: fromCert.blob, secret: fromCert.secret + [0])] {
                let error = #expect(throws: TPMCallError.self) { try tpm.activateCredential(ek: 0, bad) }
                #expect(error?.rc == CTPM_RC_BAD_VALUE)
            }
            #expect(throws: TPMCallError.self) {
                try tpm.activateCredential(ek: 0, Credential(blob: Array(fromCert.blob.dropLast()),
                                                             secret: fromCert.secret))
            }
            let unknownEK = #expect(throws: TPMCallError.self) { try tpm.activateCredential(ek: 0x01c0_0003, fromCert) }
            #expect(unknownEK?.rc == CTPM_RC_BAD_VALUE)

            // Too small an output buffer reports the size needed.
            var small = [UInt8](repeating: 0, count: 8)
            var length = small.count
            let rc = ctpm_activate_credential(tpm.handle, 0, fromCert.blob, fromCert.blob.count, fromCert.secret,
                                              fromCert.secret.count, &small, &length)
            #expect(rc == CTPM_RC_INSUFFICIENT_BUFFER)
            #expect(length == secret.count)

            // Every failure flushed what it loaded: activation still works (swtpm has
            // three object slots).
            #expect(try tpm.activateCredential(ek: 0, fromCert) == secret)

            // An AK that is not the primary one cannot activate.
            _ = try tpm.createAK()
            let replaced = #expect(throws: TPMCallError.self) { try tpm.activateCredential(ek: 0, fromCert) }
            #expect(replaced?.rc == CTPM_RC_BAD_SEQUENCE)
        }
    }

    @Test("Over a Unix socket swtpm is reachable from a private network namespace; over TCP it is not")
    func unixTransport() throws {
        let unshare = try networkNamespaceRunner()
        let unix = try Swtpm(transport: "unix")
        defer { unix.stopQuietly() }
        #expect(unix.tcti == "swtpm:path=\(unix.directory.path)/tpm/swtpm.sock")
        do {
            let tpm = try TPM(tcti: unix.tcti)
            defer { tpm.close() }
            _ = try tpm.createAK()
            let quote = try tpm.quote(qualifying: zeros32, pcrs: [Self.pcr])
            #expect(try QuoteAttest(quote.attest).type == 0x8018)
            // The swtpm TCTI connects per command: no descriptor to keep across hardening.
            var fds = [Int32](repeating: -1, count: Int(CTPM_DESCRIPTORS_MAX))
            var count = fds.count
            try check(ctpm_descriptors(tpm.handle, &fds, &count), "ctpm_descriptors")
            #expect(count == 0)
        }
        let viaUnix = try command(unshare.tool, package: "util-linux",
                                  unshare.arguments + ["tpm2_getcap", "-T", unix.tcti, "properties-fixed"])
        #expect(viaUnix.status == 0, "\(viaUnix.stderr)")

        let tcp = try Swtpm()
        defer { tcp.stopQuietly() }
        let viaTCP = try command(unshare.tool, package: "util-linux",
                                 unshare.arguments + ["tpm2_getcap", "-T", tcp.tcti, "properties-fixed"])
        #expect(viaTCP.status != 0)
        // The same TCTI works from the host's namespace: the namespace is what fails.
        let hostTCP = try command("tpm2_getcap", package: "tpm2-tools", ["-T", tcp.tcti, "properties-fixed"])
        #expect(hostTCP.status == 0, "\(hostTCP.stderr)")
    }

    @Test("scripts/swtpm.sh: JSON, one instance per directory, idempotent stop")
    func script() throws {
        let swtpm = try Swtpm()
        defer { swtpm.stopQuietly() }
        let port = try #require(swtpm.port)
        #expect(swtpm.tcti == "swtpm:host=127.0.0.1,port=\(port)")
        #expect(swtpm.ctrlPort == port + 1)
        #expect(swtpm.state == swtpm.directory.appendingPathComponent("tpm/state").path)
        #expect(isRunning(swtpm.pid))
        for path in [swtpm.ekRoot, swtpm.ekIssuer] {
            #expect(FileManager.default.fileExists(atPath: path))
        }

        let again = try runScript(["start", swtpm.directory.appendingPathComponent("tpm").path])
        #expect(again.status != 0)
        #expect(again.stderr.contains("already running"))

        try swtpm.stop()
        #expect(!isRunning(swtpm.pid))
        let twice = try runScript(["stop", swtpm.directory.appendingPathComponent("tpm").path])
        #expect(twice.status == 0)

        // Nothing listens any more: opening the TCTI fails with a readable error.
        var handle: OpaquePointer?
        let rc = ctpm_open(swtpm.tcti, &handle)
        #expect(rc != CTPM_RC_SUCCESS)
        #expect(handle == nil)
        #expect(!String(cString: ctpm_error_string(rc)).isEmpty)
    }
}

// MARK: - Checks

let zeros32 = [UInt8](repeating: 0, count: 32)

/// ATTESTATION.md §3: type ECC, nameAlg SHA-256, fixedTPM | fixedParent |
/// sensitiveDataOrigin | userWithAuth | restricted | sign, no policy, no symmetric, ECDSA
/// with SHA-256, NIST P-256, no KDF, a 32-byte point.
func expectAKPublic(_ bytes: [UInt8]) throws {
    var r = Reader(bytes)
    #expect(try r.u16() == 0x0023)
    #expect(try r.u16() == 0x000b)
    #expect(try r.u32() == 0x0005_0072)
    #expect(try r.sized().isEmpty)
    #expect(try r.u16() == 0x0010)
    #expect(try r.u16() == 0x0018)
    #expect(try r.u16() == 0x000b)
    #expect(try r.u16() == 0x0003)
    #expect(try r.u16() == 0x0010)
    #expect(try r.sized().count == 32)
    #expect(try r.sized().count == 32)
    #expect(r.atEnd)
}

/// TPMT_SIGNATURE: ECDSA, SHA-256, r and s of at most 32 bytes.
func expectECDSASignature(_ bytes: [UInt8]) throws {
    var r = Reader(bytes)
    #expect(try r.u16() == 0x0018)
    #expect(try r.u16() == 0x000b)
    #expect((1...32).contains(try r.sized().count))
    #expect((1...32).contains(try r.sized().count))
    #expect(r.atEnd)
}

func expectPolicyFailure(_ body: () throws -> [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let error = #expect(throws: TPMCallError.self, sourceLocation: sourceLocation) { _ = try body() }
    if let error {
        #expect(ctpm_rc_is_policy_failure(error.rc) == 1, "\(error)", sourceLocation: sourceLocation)
    }
}

/// TPM2_RC_INTEGRITY (format 1, 0x09f, with whatever handle/parameter number) from the TPM.
func expectIntegrityFailure(_ body: () throws -> [UInt8], sourceLocation: SourceLocation = #_sourceLocation) throws {
    let error = #expect(throws: TPMCallError.self, sourceLocation: sourceLocation) { _ = try body() }
    if let error {
        let tpmLayer = error.rc & 0xffff_0000 == 0
        #expect(tpmLayer && error.rc & 0x80 != 0 && error.rc & 0x3f == 0x1f, "\(error)", sourceLocation: sourceLocation)
    }
}

/// TPM2_ActivateCredential's inputs: a marshalled TPM2B_ID_OBJECT and TPM2B_ENCRYPTED_SECRET.
struct Credential {
    var blob: [UInt8]
    var secret: [UInt8]

    /// tpm2-tools' credential file (tpm2_makecredential -o): magic 0xBADCC0DE and version 1
    /// (both big-endian UINT32), then the marshalled TPM2B_ID_OBJECT and
    /// TPM2B_ENCRYPTED_SECRET, nothing else.
    init(file bytes: [UInt8]) throws {
        var r = Reader(bytes)
        guard try r.u32() == 0xbadc_c0de, try r.u32() == 1 else {
            throw TPMTestFailure("not a version-1 tpm2-tools credential file")
        }
        let idObject = try r.sized()
        let encrypted = try r.sized()
        guard r.atEnd else { throw TPMTestFailure("trailing bytes in the credential file") }
        blob = [UInt8(idObject.count >> 8), UInt8(idObject.count & 0xff)] + idObject
        secret = [UInt8(encrypted.count >> 8), UInt8(encrypted.count & 0xff)] + encrypted
    }

    init(blob: [UInt8], secret: [UInt8]) {
        (self.blob, self.secret) = (blob, secret)
    }
}

/// TPM2_MakeCredential in software: tpm2_makecredential --tcti none, as a verifier runs it.
struct MakeCredential {
    let work: URL

    /// `key`: the EK public as PEM (`pem`, read with -G rsa) or a TPM2B_PUBLIC file.
    func callAsFunction(_ key: URL, pem: Bool, name: [UInt8], secret: [UInt8]) throws -> Credential {
        let secretFile = work.appendingPathComponent("credential.secret")
        let out = work.appendingPathComponent("credential.out")
        try Data(secret).write(to: secretFile)
        defer {
            try? FileManager.default.removeItem(at: secretFile)
            try? FileManager.default.removeItem(at: out)
        }
        let made = try command("tpm2_makecredential", package: "tpm2-tools",
                               ["--tcti", "none", "-u", key.path] + (pem ? ["-G", "rsa"] : []) +
                               ["-s", secretFile.path, "-n", toHex(name), "-o", out.path])
        try made.succeed("tpm2_makecredential")
        return try Credential(file: Array(try Data(contentsOf: out)))
    }
}

/// The fields of a TPMS_ATTEST of type TPM_ST_ATTEST_QUOTE.
struct QuoteAttest {
    struct Selection: Equatable {
        var hash: UInt16
        var select: [UInt8]
    }
    var magic: UInt32
    var type: UInt16
    var qualifiedSigner: [UInt8]
    var extraData: [UInt8]
    var selections: [Selection] = []
    var pcrDigest: [UInt8]

    init(_ bytes: [UInt8]) throws {
        var r = Reader(bytes)
        magic = try r.u32()
        type = try r.u16()
        qualifiedSigner = try r.sized()
        extraData = try r.sized()
        _ = try r.take(8 + 4 + 4 + 1)  // clockInfo
        _ = try r.take(8)  // firmwareVersion
        let count = try r.u32()
        for _ in 0..<count {
            let hash = try r.u16()
            let size = try r.u8()
            selections.append(Selection(hash: hash, select: try r.take(Int(size))))
        }
        pcrDigest = try r.sized()
        guard r.atEnd else { throw TPMTestFailure("trailing bytes after TPMS_ATTEST") }
    }
}

/// Big-endian reader for TPM structures.
struct Reader {
    let bytes: [UInt8]
    var offset = 0
    init(_ bytes: [UInt8]) { self.bytes = bytes }
    var atEnd: Bool { offset == bytes.count }

    mutating func take(_ n: Int) throws -> [UInt8] {
        guard n >= 0, offset + n <= bytes.count else { throw TPMTestFailure("truncated structure at \(offset)") }
        defer { offset += n }
        return Array(bytes[offset..<(offset + n)])
    }
    mutating func u8() throws -> UInt8 { try take(1)[0] }
    mutating func u16() throws -> UInt16 { try take(2).reduce(0) { $0 << 8 | UInt16($1) } }
    mutating func u32() throws -> UInt32 { try take(4).reduce(0) { $0 << 8 | UInt32($1) } }
    /// A TPM2B: 16-bit size, then that many bytes.
    mutating func sized() throws -> [UInt8] { try take(Int(try u16())) }
}

/// tpm2_checkquote over files in `work`; returns its exit status.
struct Checkquote {
    let work: URL
    let akPEM: URL

    /// With a values-only PCR file (the values, ascending) and a -l selection.
    func values(_ quote: (attest: [UInt8], signature: [UInt8]), pcrValues: [UInt8], list: String,
                qualifying: [UInt8]) throws -> Int32 {
        let pcrFile = work.appendingPathComponent("pcrs.values")
        try Data(pcrValues).write(to: pcrFile)
        return try verify(quote, ["-f", pcrFile.path, "-l", list], qualifying)
    }

    /// With tpm2-tools' serialized PCR file: its in-memory TPML_PCR_SELECTION (132 bytes),
    /// a UINT32 count, then that many TPML_DIGEST (532 bytes each, up to eight digests),
    /// little-endian as tpm2_quote writes it on x86_64 and arm64.
    func serialized(_ quote: (attest: [UInt8], signature: [UInt8]), pcrs: [UInt32], values: [[UInt8]],
                    qualifying: [UInt8]) throws -> Int32 {
        var selection = [UInt8](repeating: 0, count: 132)
        selection[0] = 1  // count
        selection[4] = 0x0b  // hash: sha256 (little-endian)
        selection[6] = 3  // sizeofSelect
        for p in pcrs { selection[7 + Int(p) / 8] |= UInt8(1) << (p % 8) }
        var file = selection
        let lists = stride(from: 0, to: values.count, by: 8).map { Array(values[$0..<min($0 + 8, values.count)]) }
        file += le32(UInt32(lists.count))
        for list in lists {
            var digests = [UInt8](repeating: 0, count: 532)
            digests.replaceSubrange(0..<4, with: le32(UInt32(list.count)))
            for (i, value) in list.enumerated() {
                let at = 4 + i * 66
                digests[at] = UInt8(value.count)
                digests.replaceSubrange((at + 2)..<(at + 2 + value.count), with: value)
            }
            file += digests
        }
        let pcrFile = work.appendingPathComponent("pcrs.serialized")
        try Data(file).write(to: pcrFile)
        return try verify(quote, ["-f", pcrFile.path], qualifying)
    }

    private func le32(_ v: UInt32) -> [UInt8] { (0..<4).map { UInt8(truncatingIfNeeded: v >> (8 * $0)) } }

    private func verify(_ quote: (attest: [UInt8], signature: [UInt8]), _ pcrArguments: [String],
                     _ qualifying: [UInt8]) throws -> Int32 {
        let message = work.appendingPathComponent("quote.msg")
        let signature = work.appendingPathComponent("quote.sig")
        try Data(quote.attest).write(to: message)
        try Data(quote.signature).write(to: signature)
        let out = try command("tpm2_checkquote", package: "tpm2-tools",
                                   ["-u", akPEM.path, "-m", message.path, "-s", signature.path, "-g", "sha256",
                                    "-q", toHex(qualifying)] + pcrArguments)
        return out.status
    }
}

// MARK: - The TPM through CTPM

struct TPMCallError: Error, CustomStringConvertible {
    let call: String
    let rc: UInt32
    var description: String {
        "\(call) failed: 0x\(String(rc, radix: 16)) \(String(cString: ctpm_error_string(rc)))"
    }
}

func check(_ rc: UInt32, _ call: String) throws {
    guard rc == CTPM_RC_SUCCESS else { throw TPMCallError(call: call, rc: rc) }
}

/// A test-side owner of one ctpm_t (the enclave has its own wrapper).
final class TPM {
    private(set) var handle: OpaquePointer?

    /// tpm2-tss logs errors to stderr unless TSS2_LOG says otherwise; the negative tests
    /// provoke some. Set once, before the first TSS call, and only if the runner has not.
    private static let quiet: Void = {
        if getenv("TSS2_LOG") == nil { ctpm_silence_tss_logging() }
    }()

    init(tcti: String) throws {
        _ = Self.quiet
        var h: OpaquePointer?
        try check(ctpm_open(tcti, &h), "ctpm_open(\(tcti))")
        handle = h
    }

    func close() {
        if let handle { ctpm_close(handle) }
        handle = nil
    }

    deinit { close() }

    func reset(pcr: UInt32) throws { try check(ctpm_pcr_reset(handle, pcr), "ctpm_pcr_reset(\(pcr))") }

    func extend(pcr: UInt32, with digest: [UInt8]) throws {
        precondition(digest.count == 32)
        try check(ctpm_pcr_extend(handle, pcr, digest), "ctpm_pcr_extend(\(pcr))")
    }

    func read(_ pcrs: [UInt32]) throws -> [[UInt8]] {
        var out = [UInt8](repeating: 0, count: pcrs.count * 32)
        try check(ctpm_pcr_read(handle, pcrs, pcrs.count, &out), "ctpm_pcr_read")
        return stride(from: 0, to: out.count, by: 32).map { Array(out[$0..<($0 + 32)]) }
    }

    func findEK() throws -> UInt32 {
        var index: UInt32 = 0
        try check(ctpm_ek_find(handle, &index), "ctpm_ek_find")
        return index
    }

    func ekCertificate(_ index: UInt32 = 0) throws -> [UInt8] {
        try output(CTPM_EK_CERT_MAX, "ctpm_read_ek_certificate") { ctpm_read_ek_certificate(handle, index, $0, $1) }
    }

    func ekPublic(_ index: UInt32 = 0) throws -> [UInt8] {
        try output(CTPM_PUBLIC_MAX, "ctpm_ek_public") { ctpm_ek_public(handle, index, $0, $1) }
    }

    func createAK(parent index: UInt32 = 0) throws -> (public: [UInt8], name: [UInt8]) {
        var pub = [UInt8](repeating: 0, count: Int(CTPM_PUBLIC_MAX))
        var pubLength = pub.count
        var name = [UInt8](repeating: 0, count: Int(CTPM_NAME_MAX))
        var nameLength = name.count
        try check(ctpm_create_ak(handle, index, &pub, &pubLength, &name, &nameLength), "ctpm_create_ak")
        return (Array(pub[..<pubLength]), Array(name[..<nameLength]))
    }

    func createPrimaryAK() throws -> (public: [UInt8], name: [UInt8]) {
        var pub = [UInt8](repeating: 0, count: Int(CTPM_PUBLIC_MAX))
        var pubLength = pub.count
        var name = [UInt8](repeating: 0, count: Int(CTPM_NAME_MAX))
        var nameLength = name.count
        try check(ctpm_create_primary_ak(handle, &pub, &pubLength, &name, &nameLength), "ctpm_create_primary_ak")
        return (Array(pub[..<pubLength]), Array(name[..<nameLength]))
    }

    func activateCredential(ek index: UInt32, _ credential: Credential) throws -> [UInt8] {
        try output(CTPM_CREDENTIAL_MAX, "ctpm_activate_credential") {
            ctpm_activate_credential(handle, index, credential.blob, credential.blob.count, credential.secret,
                                     credential.secret.count, $0, $1)
        }
    }

    func quote(qualifying: [UInt8], pcrs: [UInt32]) throws -> (attest: [UInt8], signature: [UInt8]) {
        precondition(qualifying.count == 32)
        var attest = [UInt8](repeating: 0, count: Int(CTPM_ATTEST_MAX))
        var attestLength = attest.count
        var signature = [UInt8](repeating: 0, count: Int(CTPM_SIGNATURE_MAX))
        var signatureLength = signature.count
        let rc = ctpm_quote(handle, qualifying, pcrs, pcrs.count, &attest, &attestLength, &signature,
                            &signatureLength)
        try check(rc, "ctpm_quote")
        return (Array(attest[..<attestLength]), Array(signature[..<signatureLength]))
    }

    func seal(pcr: UInt32, expected: [UInt8]?, secret: [UInt8]) throws -> (public: [UInt8], private: [UInt8]) {
        precondition(secret.count == 32 && (expected?.count ?? 32) == 32)
        var pub = [UInt8](repeating: 0, count: Int(CTPM_PUBLIC_MAX))
        var pubLength = pub.count
        var priv = [UInt8](repeating: 0, count: Int(CTPM_PRIVATE_MAX))
        var privLength = priv.count
        let rc: UInt32
        if let expected {
            rc = ctpm_seal(handle, pcr, expected, secret, &pub, &pubLength, &priv, &privLength)
        } else {
            rc = ctpm_seal(handle, pcr, nil, secret, &pub, &pubLength, &priv, &privLength)
        }
        try check(rc, "ctpm_seal")
        return (Array(pub[..<pubLength]), Array(priv[..<privLength]))
    }

    func unseal(pcr: UInt32, _ sealed: (public: [UInt8], private: [UInt8])) throws -> [UInt8] {
        var secret = [UInt8](repeating: 0, count: 32)
        let rc = ctpm_unseal(handle, pcr, sealed.public, sealed.public.count, sealed.private, sealed.private.count,
                             &secret)
        try check(rc, "ctpm_unseal")
        return secret
    }

    private func output(_ capacity: UInt32, _ call: String,
                        _ body: (UnsafeMutablePointer<UInt8>, UnsafeMutablePointer<Int>) -> UInt32) throws -> [UInt8] {
        var buffer = [UInt8](repeating: 0, count: Int(capacity))
        var length = buffer.count
        let rc = buffer.withUnsafeMutableBufferPointer { body($0.baseAddress!, &length) }
        try check(rc, call)
        return Array(buffer[..<length])
    }
}

// MARK: - swtpm through scripts/swtpm.sh

struct TPMTestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// The repository root (this file is Tests/TPMTests/TPMTests.swift; symlinks resolved so a
/// scratch package that links the directory finds the real scripts).
let repositoryRoot = URL(fileURLWithPath: #filePath).resolvingSymlinksInPath()
    .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()

func runScript(_ arguments: [String], environment: [String: String] = [:]) throws -> ToolOutput {
    let script = repositoryRoot.appendingPathComponent("scripts/swtpm.sh").path
    guard FileManager.default.fileExists(atPath: script) else { throw TPMTestFailure("\(script) is missing") }
    return try command("bash", package: "bash", [script] + arguments, environment: environment)
}

/// `unshare` arguments that run a command in a new network namespace: as root `--net`,
/// otherwise `--map-root-user --net` (unprivileged user namespaces).
func networkNamespaceRunner() throws -> (tool: String, arguments: [String]) {
    let tool = try executable("unshare", package: "util-linux")
    for arguments in [["--net"], ["--map-root-user", "--net"]] {
        if try command(tool, package: "util-linux", arguments + ["true"]).status == 0 {
            return (tool, arguments)
        }
    }
    throw TPMTestFailure("""
        this test needs a kernel that lets it create a network namespace (root, or unprivileged user \
        namespaces); a default Docker seccomp profile forbids it
        """)
}

/// A swtpm started by `scripts/swtpm.sh start` in a fresh temporary directory.
final class Swtpm {
    let directory: URL
    let tcti: String
    /// TCP transport: the data and control ports.
    let port: Int?
    let ctrlPort: Int?
    let pid: pid_t
    let state: String
    let ekRoot: String
    let ekIssuer: String
    let startTime: Duration
    private var stopped = false

    /// `transport`: "tcp" or "unix" (SWTPM_TRANSPORT of scripts/swtpm.sh).
    init(transport: String = "tcp") throws {
        directory = try makeScratchDirectory("tpm")
        let started = ContinuousClock.now
        let out = try runScript(["start", directory.appendingPathComponent("tpm").path],
                                environment: ["SWTPM_TRANSPORT": transport])
        startTime = ContinuousClock.now - started
        guard out.status == 0 else {
            try? FileManager.default.removeItem(at: directory)
            throw TPMTestFailure("scripts/swtpm.sh start failed (status \(out.status)):\n\(out.stderr)")
        }
        guard let json = try JSONSerialization.jsonObject(with: out.stdout) as? [String: Any],
              let tcti = json["tcti"] as? String, let pid = json["pid"] as? Int,
              let state = json["state"] as? String, let ekRoot = json["ekRoot"] as? String,
              let ekIssuer = json["ekIssuer"] as? String
        else {
            _ = try? runScript(["stop", directory.appendingPathComponent("tpm").path])
            throw TPMTestFailure("scripts/swtpm.sh start printed unexpected JSON: \(out.text)")
        }
        (self.tcti, self.pid) = (tcti, pid_t(pid))
        (port, ctrlPort) = (json["port"] as? Int, json["ctrlPort"] as? Int)
        guard (transport == "tcp") == (port != nil && ctrlPort != nil) else {
            _ = try? runScript(["stop", directory.appendingPathComponent("tpm").path])
            throw TPMTestFailure("scripts/swtpm.sh start (\(transport)) printed unexpected JSON: \(out.text)")
        }
        (self.state, self.ekRoot, self.ekIssuer) = (state, ekRoot, ekIssuer)
    }

    func stop() throws {
        guard !stopped else { return }
        let out = try runScript(["stop", directory.appendingPathComponent("tpm").path])
        guard out.status == 0 else { throw TPMTestFailure("scripts/swtpm.sh stop failed: \(out.stderr)") }
        stopped = true
    }

    func stopQuietly() {
        do { try stop() } catch { Issue.record(error) }
    }

    deinit {
        if !stopped { _ = try? runScript(["stop", directory.appendingPathComponent("tpm").path]) }
        try? FileManager.default.removeItem(at: directory)
    }
}

/// Starts a swtpm, opens it through CTPM, runs `body` with a scratch directory, then closes
/// the connection and stops the swtpm whatever happened.
func withSwtpm(_ body: (Swtpm, TPM, URL) throws -> Void) throws {
    let swtpm = try Swtpm()
    defer { swtpm.stopQuietly() }
    let work = swtpm.directory.appendingPathComponent("work")
    try FileManager.default.createDirectory(at: work, withIntermediateDirectories: true)
    let tpm = try TPM(tcti: swtpm.tcti)
    defer { tpm.close() }
    try body(swtpm, tpm, work)
}

func isRunning(_ pid: pid_t) -> Bool {
    // A zombie (exited, not yet reaped by init) does not count.
    guard let status = try? String(contentsOfFile: "/proc/\(pid)/status", encoding: .utf8) else { return false }
    let state = status.split(separator: "\n").first { $0.hasPrefix("State:") } ?? ""
    return !state.contains("Z") && !state.contains("X")
}

// MARK: - Processes and small helpers

/// Runs tool `name` (or the path `name`) to completion with stdin from `input`.
@discardableResult
func command(_ name: String, package: String, _ arguments: [String], input: [UInt8] = [],
             environment: [String: String] = [:]) throws -> ToolOutput {
    try runTool(
        name.hasPrefix("/") ? name : try executable(name, package: package), arguments, input: input,
        environment: environment)
}

func openssl(_ arguments: [String]) throws -> ToolOutput {
    try command("openssl", package: "openssl", arguments)
}

/// A marshalled TPMT_PUBLIC file converted by tpm2-tools to a PEM or DER public key.
func tpm2Print(_ file: URL, format: String) throws -> Data {
    let out = try command("tpm2_print", package: "tpm2-tools", ["-t", "TPMT_PUBLIC", "-f", format, file.path])
    try out.succeed("tpm2_print")
    return out.stdout
}

/// SHA-256 by OpenSSL's command line: independent of the TPM and of our code.
func sha256(_ bytes: [UInt8]) throws -> [UInt8] {
    let out = try command("openssl", package: "openssl", ["dgst", "-sha256", "-binary"], input: bytes)
    try out.succeed("openssl dgst")
    guard out.stdout.count == 32 else { throw TPMTestFailure("openssl dgst printed \(out.stdout.count) bytes") }
    return Array(out.stdout)
}
