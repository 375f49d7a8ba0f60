import AuditCrypto
import Foundation
import TestSupport
import Testing

@testable import SealCrypto

// P-256 ECDSA and X.509 chain verification (SealCrypto/P256.swift, X509.swift).
//
// Independent vectors:
// - RFC 6979 appendix A.2.5 (P-256, SHA-256, messages "sample" and "test"); also checked
//   with pyca/cryptography 48.0.0 before committing.
// - A real quote: swtpm 0.7.1 (libtpms) with tpm2-tools 5.4, AK from
//   `tpm2_createprimary -C e -G ecc256:ecdsa-sha256:null -a "fixedtpm|fixedparent|
//   sensitivedataorigin|userwithauth|restricted|sign"`, signature from `tpm2_quote`
//   (its s has a leading zero byte).
// - A real EK chain: `swtpm_setup --tpm2 --create-ek-cert` with swtpm_localca 0.7.1
//   (root CA, issuer CA, RSA EK certificate with the TCG extensions).

/// P-256 group order n, big-endian.
private let order = fromHex("ffffffff00000000ffffffffffffffffbce6faada7179e84f3b9cac2fc632551")
/// P-256 base point.
private let gx = fromHex("6b17d1f2e12c4247f8bce6e563a440f277037d812deb33a0f4a13945d898c296")
private let gy = fromHex("4fe342e2fe1a7f9b8ee7eb4a7c0f9e162bce33576b315ececbb6406837bf51f5")

struct ECDSAVector: Sendable, CustomTestStringConvertible {
    let name: String
    let x: String, y: String, digest: String, r: String, s: String
    var testDescription: String { name }
}

private let rfc6979Key = (
    x: "60fed4ba255a9d31c961eb74c6356d68c049b8923b61fa6ce669622e60f29fb6",
    y: "7903fe1008b8bc99a41ae9e95628bc64f2f1b20c2d7e9f5177a3c294d4462299"
)

private let vectors: [ECDSAVector] = [
    ECDSAVector(
        name: "RFC 6979 A.2.5 sample", x: rfc6979Key.x, y: rfc6979Key.y,
        digest: "af2bdbe1aa9b6ec1e2ade1d694f41fc71a831d0268e9891562113d8a62add1bf",
        r: "efd48b2aacb6a8fd1140dd9cd45e81d69d2c877b56aaf991c34d0ea84eaf3716",
        s: "f7cb1c942d657c41d436c7a1b6e29f65f3e900dbb9aff4064dc4ab2f843acda8"),
    ECDSAVector(
        name: "RFC 6979 A.2.5 test", x: rfc6979Key.x, y: rfc6979Key.y,
        digest: "9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0b822cd15d6c15b0f00a08",
        r: "f1abb023518351cd71d881567b1ea663ed3efcf6c5132b354f28d3b0b7d38367",
        s: "019f4113742a2b14bd25926b49c649155f267e60d3814b4c0cc84250e46f0083"),
    ECDSAVector(
        name: "swtpm quote, s with leading zero",
        x: "f3bf8b233ea24e63f5ff5e99965945f2cc79a2db6920445795585c3fed7612be",
        y: "28895c373984bb5bf947ec342856e90797c77814cef7c8e55adec2bd5c6e4f97",
        digest: "058bd1505b046ec03cfdaa156fb65cd26453c843db49956f489a7d8c17a71fe4",
        r: "ce66f8f19dbca53f430643c39f3ae7811543cf05a7d555c2b7013017d18ae261",
        s: "006045b03be7091466b461112263b0ffa1d00abddbd27fdc79032e0d894a6165"),
]

@Suite("P-256 ECDSA")
struct P256Tests {
    @Test("Known-answer signatures verify", arguments: vectors)
    func knownAnswer(_ v: ECDSAVector) throws {
        let key = try P256PublicKey(x: fromHex(v.x), y: fromHex(v.y))
        #expect(key.isValidSignature(r: fromHex(v.r), s: fromHex(v.s), digest: fromHex(v.digest)))
        // TPMs may strip leading zeros of r and s: the short form verifies too.
        let stripped = Array(fromHex(v.s).drop { $0 == 0 })
        #expect(key.isValidSignature(r: fromHex(v.r), s: stripped, digest: fromHex(v.digest)))
        // And over-long encodings with leading zeros are the same number.
        #expect(key.isValidSignature(r: [0, 0] + fromHex(v.r), s: fromHex(v.s), digest: fromHex(v.digest)))
    }

    @Test("Every flipped bit of r, s or the digest is refused", arguments: vectors)
    func flippedBits(_ v: ECDSAVector) throws {
        let key = try P256PublicKey(x: fromHex(v.x), y: fromHex(v.y))
        let (r, s, digest) = (fromHex(v.r), fromHex(v.s), fromHex(v.digest))
        for bit in 0..<256 {
            var r2 = r
            var s2 = s
            var d2 = digest
            r2[bit / 8] ^= 1 << (bit % 8)
            s2[bit / 8] ^= 1 << (bit % 8)
            d2[bit / 8] ^= 1 << (bit % 8)
            #expect(!key.isValidSignature(r: r2, s: s, digest: digest), "r bit \(bit)")
            #expect(!key.isValidSignature(r: r, s: s2, digest: digest), "s bit \(bit)")
            #expect(!key.isValidSignature(r: r, s: s, digest: d2), "digest bit \(bit)")
        }
    }

    @Test("Wycheproof-style edge cases: zero, out-of-range and over-long r/s, wrong digest length")
    func edgeCases() throws {
        let v = vectors[0]
        let key = try P256PublicKey(x: fromHex(v.x), y: fromHex(v.y))
        let (r, s, digest) = (fromHex(v.r), fromHex(v.s), fromHex(v.digest))
        let zero = [UInt8](repeating: 0, count: 32)
        #expect(!key.isValidSignature(r: zero, s: s, digest: digest))
        #expect(!key.isValidSignature(r: r, s: zero, digest: digest))
        #expect(!key.isValidSignature(r: [], s: s, digest: digest))
        #expect(!key.isValidSignature(r: order, s: s, digest: digest))
        #expect(!key.isValidSignature(r: r, s: order, digest: digest))
        // r + n has the same value mod n, but is out of range.
        #expect(!key.isValidSignature(r: [1] + uint256Add(r, order), s: s, digest: digest))
        #expect(!key.isValidSignature(r: [1] + r, s: s, digest: digest))
        #expect(!key.isValidSignature(r: r, s: s, digest: digest + [0]))
        #expect(!key.isValidSignature(r: r, s: s, digest: Array(digest.dropLast())))
        // (r, n − s) is the malleable twin: valid ECDSA, and accepted (TPMs do not
        // normalise s; the quote's signature is not used as an identifier).
        #expect(key.isValidSignature(r: r, s: uint256Subtract(order, s), digest: digest))
    }

    @Test("Sign and verify round trip; another key's signature is refused")
    func roundTrip() throws {
        let key = try P256SigningKey()
        let other = try P256SigningKey()
        for i in 0..<16 {
            let digest = SHA256.hash(Array("message \(i)".utf8))
            let (r, s) = try key.sign(digest: digest)
            #expect(r.count == 32 && s.count == 32)
            #expect(key.publicKey.isValidSignature(r: r, s: s, digest: digest))
            #expect(!other.publicKey.isValidSignature(r: r, s: s, digest: digest))
            var flipped = digest
            flipped[i] ^= 0x80
            #expect(!key.publicKey.isValidSignature(r: r, s: s, digest: flipped))
        }
        #expect(throws: SealCryptoError.invalidLength(what: "P-256 digest", expected: 32, actual: 31)) {
            _ = try key.sign(digest: [UInt8](repeating: 1, count: 31))
        }
        #expect(!String(describing: key).contains("private"))
        #expect(String(describing: key).contains("redacted"))
    }

    @Test("Points off the curve or outside the field are refused")
    func offCurve() throws {
        _ = try P256PublicKey(x: gx, y: gy)
        var y1 = gy
        y1[31] ^= 1
        #expect(throws: SealCryptoError.invalidP256Point) { try P256PublicKey(x: gx, y: y1) }
        #expect(throws: SealCryptoError.invalidP256Point) {
            try P256PublicKey(x: [UInt8](repeating: 0, count: 32), y: [UInt8](repeating: 0, count: 32))
        }
        // x + p, y: the same point mod p, but not a canonical coordinate.
        let p = fromHex("ffffffff00000001000000000000000000000000ffffffffffffffffffffffff")
        #expect(throws: SealCryptoError.invalidP256Point) { try P256PublicKey(x: p, y: gy) }
        #expect(throws: SealCryptoError.invalidP256Point) { try P256PublicKey(x: [1] + gx, y: gy) }
        // Leading zeros are not significant.
        #expect(try P256PublicKey(x: [0] + gx, y: gy) == P256PublicKey(x: gx, y: gy))
    }

    @Test("SubjectPublicKeyInfo is the RFC 5480 encoding, and PEM wraps it")
    func subjectPublicKeyInfo() throws {
        let key = try P256PublicKey(x: gx, y: gy)
        let prefix = fromHex("3059301306072a8648ce3d020106082a8648ce3d030107034200")
        #expect(key.derRepresentation == prefix + [0x04] + gx + gy)
        let pem = key.pem
        #expect(pem.hasPrefix("-----BEGIN PUBLIC KEY-----\n") && pem.hasSuffix("-----END PUBLIC KEY-----\n"))
        #expect(pem.split(separator: "\n").dropFirst().dropLast().allSatisfy { $0.count <= 64 })
        #expect(try PEM.decode(pem, label: "PUBLIC KEY") == [key.derRepresentation])
        // A PEM block of another label, or one that does not decode, is refused.
        #expect(throws: SealCryptoError.self) { try PEM.decode(pem, label: "CERTIFICATE") }
        let broken = pem.replacingOccurrences(of: "-----END PUBLIC KEY-----\n", with: "")
        #expect(throws: SealCryptoError.self) { try PEM.decode(broken, label: "PUBLIC KEY") }
    }
}

// MARK: - X.509

/// Test certificates made with the `openssl` command-line tool in a temporary directory:
/// root → intermediate → EK leaf with the TCG EK extensions (as swtpm_cert writes them),
/// plus an expired leaf, a leaf with an unknown critical extension, and an unrelated root.
final class TestPKI: Sendable {
    let ca: TestCA

    static let shared = Result { try TestPKI() }

    init() throws {
        ca = try TestCA(label: "sealcrypto-pki", tpmModel: "swtpm")
        for name in ["root", "int", "ek", "other"] { try ca.key(name) }
        try ca.root("root", subject: "/CN=Test EK Root")
        try ca.root("other", subject: "/CN=Test EK Root")
        try ca.request(key: "int", subject: "/CN=Test EK Intermediate", out: "int")
        try ca.sign(request: "int", issuer: "root", serial: 2, extensions: "v3_intermediate", out: "int")
        try ca.request(key: "ek", subject: "/CN=unknown", out: "ek")
        try ca.sign(request: "ek", issuer: "int", serial: 3, extensions: "v3_ek", out: "ek")
        try ca.sign(request: "ek", issuer: "int", serial: 4, extensions: "v3_unknown_critical", out: "critical")
        try ca.openssl([
            "ca", "-batch", "-config", "ca.cnf", "-cert", "int.pem", "-keyfile", "int.key", "-in", "ek.csr",
            "-startdate", "20000101000000Z", "-enddate", "20010101000000Z",
            "-extfile", "ca.cnf", "-extensions", "v3_ek", "-out", "expired.pem",
        ])
    }

    func pem(_ name: String) throws -> String { try ca.read("\(name).pem") }

    func certificate(_ name: String) throws -> X509Certificate { try X509Certificate(pem: pem(name)) }
}

@Suite("X.509 chains")
struct X509Tests {
    @Test("An EK certificate with the TCG extensions chains through its intermediate to the root")
    func validChain() throws {
        let pki = try TestPKI.shared.get()
        let ek = try pki.certificate("ek")
        try X509Certificate.verifyChain(
            leaf: ek, intermediates: [pki.certificate("int")], roots: [pki.certificate("root")])
        #expect(ek.subject == "CN=unknown")
        #expect(ek.issuer == "CN=Test EK Intermediate")
        guard case .ec(let curve, let point) = try ek.publicKey else {
            Issue.record("EK key is not EC")
            return
        }
        #expect(curve == "prime256v1" && point.count == 65 && point[0] == 4)
        let spki = try ek.publicKeyDER
        #expect(spki.suffix(65) == point[...])
    }

    @Test("A root that did not issue the chain is refused")
    func wrongRoot() throws {
        let pki = try TestPKI.shared.get()
        // Same subject name, different key: name matching alone must not be enough.
        #expect(throws: SealCryptoError.self) {
            try X509Certificate.verifyChain(
                leaf: pki.certificate("ek"), intermediates: [pki.certificate("int")], roots: [pki.certificate("other")])
        }
        do {
            try X509Certificate.verifyChain(
                leaf: pki.certificate("ek"), intermediates: [pki.certificate("int")], roots: [pki.certificate("other")])
        } catch let SealCryptoError.certificateChainRejected(reason, depth) {
            #expect(depth == 1, "\(reason)")
        }
    }

    @Test("An expired certificate is refused")
    func expired() throws {
        let pki = try TestPKI.shared.get()
        #expect(throws: SealCryptoError.certificateChainRejected(reason: "certificate has expired", depth: 0)) {
            try X509Certificate.verifyChain(
                leaf: pki.certificate("expired"), intermediates: [pki.certificate("int")],
                roots: [pki.certificate("root")])
        }
    }

    @Test("No partial chains: trusting the intermediate alone, or omitting it, is refused")
    func noPartialChain() throws {
        let pki = try TestPKI.shared.get()
        #expect(throws: SealCryptoError.self) {
            try X509Certificate.verifyChain(
                leaf: pki.certificate("ek"), intermediates: [], roots: [pki.certificate("int")])
        }
        #expect(throws: SealCryptoError.self) {
            try X509Certificate.verifyChain(
                leaf: pki.certificate("ek"), intermediates: [], roots: [pki.certificate("root")])
        }
        #expect(throws: SealCryptoError.self) {
            try X509Certificate.verifyChain(
                leaf: pki.certificate("ek"), intermediates: [pki.certificate("int")], roots: [])
        }
    }

    @Test("An unknown critical extension is refused")
    func unknownCriticalExtension() throws {
        let pki = try TestPKI.shared.get()
        #expect(throws: SealCryptoError.certificateChainRejected(reason: "unhandled critical extension", depth: 0)) {
            try X509Certificate.verifyChain(
                leaf: pki.certificate("critical"), intermediates: [pki.certificate("int")],
                roots: [pki.certificate("root")])
        }
    }

    @Test("Parsing is strict: trailing bytes, truncation, garbage and multiple PEM blocks are refused")
    func strictParsing() throws {
        let pki = try TestPKI.shared.get()
        let der = try pki.certificate("ek").der
        _ = try X509Certificate(der: der)
        #expect(throws: SealCryptoError.self) { try X509Certificate(der: der + [0]) }
        for cut in stride(from: 0, to: der.count, by: 7) {
            #expect(throws: SealCryptoError.self) { try X509Certificate(der: Array(der.prefix(cut))) }
        }
        #expect(throws: SealCryptoError.self) { try X509Certificate(der: [UInt8](repeating: 0x30, count: 100)) }
        let two = try pki.pem("ek") + pki.pem("int")
        #expect(throws: SealCryptoError.self) { try X509Certificate(pem: two) }
        #expect(try X509Certificate.certificates(pem: two).map(\.subject) == ["CN=unknown", "CN=Test EK Intermediate"])
        #expect(throws: SealCryptoError.self) {
            try X509Certificate(pem: "-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n")
        }
        #expect(throws: SealCryptoError.self) { try X509Certificate(pem: "no PEM here") }
        let ek = try pki.certificate("ek")
        #expect(try X509Certificate(pem: ek.pem).der == ek.der)
    }

    @Test("swtpm_localca's real EK chain verifies with the default flags")
    func swtpmChain() throws {
        let ek = try X509Certificate(pem: SwtpmChain.ek)
        try X509Certificate.verifyChain(
            leaf: ek, intermediates: [X509Certificate(pem: SwtpmChain.issuer)],
            roots: [X509Certificate(pem: SwtpmChain.root)])
        #expect(ek.issuer == "CN=swtpm-localca")
        guard case .rsa(let modulus, let exponent) = try ek.publicKey else {
            Issue.record("swtpm RSA EK is not RSA")
            return
        }
        #expect(modulus.count == 256 && exponent == [0x01, 0x00, 0x01])
        #expect(throws: SealCryptoError.self) {
            try X509Certificate.verifyChain(
                leaf: ek, intermediates: [], roots: [X509Certificate(pem: SwtpmChain.issuer)])
        }
    }
}

/// swtpm 0.7.1 `swtpm_setup --tpm2 --create-ek-cert` (swtpm_localca): root CA, issuer CA, RSA 2048 EK.
private enum SwtpmChain {
    static let root = """
        -----BEGIN CERTIFICATE-----
        MIIEEDCCAnigAwIBAgIUaVOjsrTSGndJe5xrwnA0NtqF98swDQYJKoZIhvcNAQEL
        BQAwHzEdMBsGA1UEAxMUc3d0cG0tbG9jYWxjYS1yb290Y2EwIBcNMjYxMTI2MTgx
        NjM3WhgPOTk5OTEyMzEyMzU5NTlaMB8xHTAbBgNVBAMTFHN3dHBtLWxvY2FsY2Et
        cm9vdGNhMIIBojANBgkqhkiG9w0BAQEFAAOCAY8AMIIBigKCAYEAzPzPeVF3OlWl
        G7+hGWzZClhG4uONzXtKc/GpgPRYmOIGsxwi8Nd+E9MFa5cfB570PgoBbawpoohu
        BZcElAo3wUROP7+S5VJE5v0sDyMoeNGDjh4Jy8BrR2U+5oI0r7nT4uc9cpOdHiqx
        nKd94zQPM/v0DPE0zmBOtNvcarJwWmzzl/hYJ5h5zCGlVDkDkbmkleB6WbRtc/w9
        8J/9eUffsgBks7ELO12F8wvY+rVbfsao6R5kuQm3NdYnFgso24ZTcOXZ4/MHHKez
        u39d8BOIvTQZvKhZfTzwQQgR8AGjfhs3eezItp1ucpyRWAz59vpHjmwx64L1ymR/
        esLxC/gGuwnsXFwLPBeDfZuLor7Pog6UwTM+TrZDvPYNni6EzbKJlHMbN34zEmd4
        Ke6thf2Lf3YktJBYzgSnubb6LBVNP69FTGA92BCWPGvWpfoBF361T/oZGPoll+uI
        L4v1n99eSFC3B9pP2eDboKzK9WzDedZ4F+6qSFwT6FIDZWI6uRePAgMBAAGjQjBA
        MA8GA1UdEwEB/wQFMAMBAf8wDgYDVR0PAQH/BAQDAgIEMB0GA1UdDgQWBBQTz3wZ
        HD8qXO4r5e72vNQswUE20jANBgkqhkiG9w0BAQsFAAOCAYEALqoSCWbyQgfB+des
        epUDGfGEUsEhOWfjjitqs3joRAfIzfxOURr8XDri2B/EDVdAVLZnWs1UrJGYtbqY
        F5RAeYZ2kE1M3dsnX0c+UgsLeCeTYPheEJ48KV88wLebVG1CWws8c7OskU9HHiGp
        5I9eYnpnDmlElWDVeVj4Jlv/qD1jI0dPPu7nAMAYOUX9j5+vhcj6mUhjijEir375
        4lww5JhF1P+QX29FiaE1VFUIpRmRhUiZqC+EE1EJXFsR7RcKPGNIwIDrTpOh65/a
        iHZxlCL0rhNftFgmkFW+zdmNkwziRvzsmFp+j0dPJ8sbzwl8CZ8uybZO8IE2BztX
        FqnIuq1MZN2XpAv6V/LUs5brwhU9ChwewFHhkTypGSa7C+SMR3qNXKWwyTZAdplw
        EREmDnyBbRMKgDDvfnyn3+kGWSXjYdKQj1BGd5NKACpQ1rigUesgtUZnEUDqCU+Y
        DBCqFoZ6d+wsogsg87TJ4UoUkC8K58Y95OrkTmIFGK4ffUm9
        -----END CERTIFICATE-----
        """
    static let issuer = """
        -----BEGIN CERTIFICATE-----
        MIIEKjCCApKgAwIBAgIUe7CA+UgCTQwDJQ9KTDq4OK66WDowDQYJKoZIhvcNAQEL
        BQAwHzEdMBsGA1UEAxMUc3d0cG0tbG9jYWxjYS1yb290Y2EwIBcNMjYxMTI2MTgx
        NjM3WhgPOTk5OTEyMzEyMzU5NTlaMBgxFjAUBgNVBAMTDXN3dHBtLWxvY2FsY2Ew
        ggGiMA0GCSqGSIb3DQEBAQUAA4IBjwAwggGKAoIBgQDRqvOTsnNh5Ep59F9n4OJ1
        JNozgztoQZ+QcNHG/A/CSdTJnYozeu9bfGYK3tGxugcwo2JRgdS1Q1yX1V6H7J6w
        1S+bS9szw5CyFhMvNtWDXQyRTSo2DJFYCktdz462UDiQxmZKshsOZDTEgpoDX7A3
        sgt0/OadPqlRypHFKINUBD05NKUFZ5eh+dBHQyW+l169zI/8WYwzJfjTAO0yM2Rk
        iFn92X2S7sXuVtoVIH1wjzC5U9m22kb9kc1ovvq1FJD+qkhcM68zeoEXjZg+niI+
        9/OmjdajQZGWeTJvh3V0qFIwtNAANtW+OEz5zZbv6U5FNqSRy90kT5Ajg39qIrdE
        eyA87PtvygHmV4AAlSA2DIR+S0TrfTuVUshTL8KQEC4cz7I5Nt8tI+FUOLyAe0nv
        YpSswxQzxrzlr2WCWc4QEChuS7azTvL4biL39oq6N2PRdL+ogoB1wbZwboGkQNs6
        6bLJmJ69OPu+SWoavGuxCcN63HFwKWKX/e63jFH0ii8CAwEAAaNjMGEwDwYDVR0T
        AQH/BAUwAwEB/zAOBgNVHQ8BAf8EBAMCAgQwHQYDVR0OBBYEFOTQsxGpYkJ6yid9
        9F9LBOCMgEeAMB8GA1UdIwQYMBaAFBPPfBkcPypc7ivl7va81CzBQTbSMA0GCSqG
        SIb3DQEBCwUAA4IBgQBnVYpPyw6LLgSieDyY0kePlN2I2KEzbrBt1s0NhyKwC8jT
        umNCD8Kp53NYx+bZgHZ7Kv9maKL2nLWh4Zfr2xjbHZp2P/ExIYgQtgZXhTmhFNN+
        P8W60mYTFaeMDzIcGpsUF/y7iAIDkH8seblYTvJVztf8zNvNz4JVT45CX3TDxKNP
        ONMw9eJHXBrRCcZbFyZHDGOIDSWo22M2K40MVu081UiHszL/3sOTxo5aB7psuh/X
        37mFo/WwcvPWkUWG4VjlObGaN7bcWEBdRF1yQUjfX8/PKzvKBxB0lr6IqYkd9uPa
        Z4A+Wv3B99tfx5gkPSG11KfMDICqOmdFfbIUMUgLh4j4cwcCCSmqRIzkopcyu6sv
        bzIs7CTbhmrCBoD+2r4BcMxTiN7OdjcErAQYeYD3IKWZzaztdzoKkm5aukkWFfiq
        3tmM7rvta1PozLFsiJtvejCqiZMncwQdkpSlFUzyKZzGKqhGruVDiCTqK2uFEDoV
        nuCM6r5SzDDIT+N62Ys=
        -----END CERTIFICATE-----
        """
    static let ek = """
        -----BEGIN CERTIFICATE-----
        MIID9DCCAlygAwIBAgIBAjANBgkqhkiG9w0BAQsFADAYMRYwFAYDVQQDEw1zd3Rw
        bS1sb2NhbGNhMCAXDTI2MTEyNjE4MTYzN1oYDzk5OTkxMjMxMjM1OTU5WjASMRAw
        DgYDVQQDEwd1bmtub3duMIIBIjANBgkqhkiG9w0BAQEFAAOCAQ8AMIIBCgKCAQEA
        lbPAqk/NVFCCjV8J2HU8qGrJLqdf6f1AT4JrmRP+misSxxdjQYrOPlu3+S/bsmDP
        Dq0cQWgF0VwL+run9EjjD3V8Nap5sKo0DzEMOmhhzaMttsb5krnttnzMJZlcLXLf
        mOsNPz4t9yrV3u7yxIzxTpAwBiQN1+BgvsipoPoLs1vTyLwMqqknSkdDUcOVyVTv
        DWMmmVcZPH1e2NSCx1Hjqr0DYuCis4Zg1MNFlWiyUPlr5xfjcMXZUPDjltf4J20f
        8nCg/Zl8ggoP2ouWKQQS+7P90Qsx4AMK8BMHQvQAZw/vy9UuJ6mZtPmaCRAG9f5Y
        FPImZ34WDJI4roThCrEOxQIDAQABo4HMMIHJMBAGA1UdJQQJMAcGBWeBBQgBMFIG
        A1UdEQEB/wRIMEakRDBCMRYwFAYFZ4EFAgEMC2lkOjAwMDAxMDE0MRAwDgYFZ4EF
        AgIMBXN3dHBtMRYwFAYFZ4EFAgMMC2lkOjIwMTkxMDIzMAwGA1UdEwEB/wQCMAAw
        IgYDVR0JBBswGTAXBgVngQUCEDEOMAwMAzIuMAIBAAICAKQwHwYDVR0jBBgwFoAU
        5NCzEaliQnrKJ330X0sE4IyAR4AwDgYDVR0PAQH/BAQDAgUgMA0GCSqGSIb3DQEB
        CwUAA4IBgQDGcHWPZ7bkJd9DgaJPm8grXe9na6GayBtQkVIDIorxk2gi0sHAiycR
        UBB6lmZMNg3s6Dy+Oe5v3Ns2Ucp9lmQxmERYSPh3/GPGoEXwJr4Ae9RU5Ty0a0yZ
        zIt13NnFkI4XvOFBSG8alNLXarufmbIqEEpnNJQ+qX1p7hQIFAPJL7SoFs31JeJN
        F/qIhvN4zmGV9CKvvGhz17ErS38H3h0i5s8zL3SNVhYXdpyxPgMxVhMUKadDObde
        e+YjLBetJvgaWR4OKCmF4PPhuW7OKPZ5UKjV6dx1eX6XW6XfM3qlFVkkSDZdTLWA
        g2sSd01xCmT6Ct1l73/LNe7V9FbQ3E9UC4gW5RSnHoDTKN6E2Qq+um/+NByJR/Xd
        a51R6N+8X33JMQ5Q85eQd2mr0oGdWzEmU0FwaDeXnoO3mzoM/IEynXOPSyvuWGMV
        O8QjY5GJDrhcBFfo92KD9aYGXdhxVYHX5ZU+0d4wVsDk9l95lfPyK7pxqYdf622Y
        rAXJ0KZBGwc=
        -----END CERTIFICATE-----
        """
}
