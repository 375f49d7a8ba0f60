import COpenSSL
import SealCrypto

// X.509 certificates for TPM endorsement-key (EK) chains, through libcrypto. Parsing is
// strict (one DER certificate, no trailing bytes); chain verification is
// `X509_verify_cert` with a store holding the trusted roots only.

/// The public key a certificate certifies.
public enum X509PublicKey: Equatable, Sendable {
    /// An elliptic-curve key: OpenSSL's group name (`prime256v1`, `secp384r1`, …) and the
    /// SEC 1 encoded point (uncompressed: 0x04 ‖ x ‖ y).
    case ec(curve: String, point: [UInt8])
    /// An RSA key: modulus and public exponent, big-endian without leading zeros.
    case rsa(modulus: [UInt8], exponent: [UInt8])
    /// Any other algorithm, by OpenSSL's type name.
    case other(algorithm: String)
}

/// A parsed X.509 certificate.
public final class X509Certificate: @unchecked Sendable, CustomStringConvertible {
    // @unchecked: the X509 object is parsed in init and only read afterwards (the store
    // used by `verifyChain` takes its own references).

    /// Largest DER certificate accepted, in bytes (EK certificates are 0.8–1.5 KiB).
    public static let maxEncodedLength = 16 * 1024

    /// X509 *, owned.
    let pointer: OpaquePointer
    /// The DER encoding, exactly as given.
    public let der: [UInt8]

    /// Parses one DER certificate; throws `invalidCertificate` on malformed DER or bytes
    /// after the certificate.
    public init(der: [UInt8]) throws(SealCryptoError) {
        guard !der.isEmpty, der.count <= Self.maxEncodedLength else {
            throw .invalidCertificate(reason: "DER length \(der.count) not in 1...\(Self.maxEncodedLength)")
        }
        var consumed = 0
        let parsed = der.withUnsafeBufferPointer { buffer -> OpaquePointer? in
            var cursor = buffer.baseAddress
            let certificate = d2i_X509(nil, &cursor, buffer.count)
            if let cursor, let base = buffer.baseAddress { consumed = cursor - base }
            return certificate
        }
        guard let parsed else { throw .invalidCertificate(reason: "DER: " + OpenSSL.drainErrors()) }
        guard consumed == der.count else {
            X509_free(parsed)
            throw .invalidCertificate(reason: "\(der.count - consumed) bytes after the certificate")
        }
        pointer = parsed
        self.der = der
    }

    /// Parses text holding exactly one `CERTIFICATE` PEM block (text outside the block,
    /// such as `openssl x509 -text` output, is ignored).
    public convenience init(pem: String) throws(SealCryptoError) {
        let blocks = try Self.pemBlocks(pem)
        guard blocks.count == 1 else {
            throw .invalidCertificate(reason: "expected one CERTIFICATE PEM block, found \(blocks.count)")
        }
        try self.init(der: blocks[0])
    }

    /// Every certificate in a PEM bundle, in order; throws when there is none, or on any
    /// PEM block that is not a well-formed `CERTIFICATE`.
    public static func certificates(pem: String) throws(SealCryptoError) -> [X509Certificate] {
        let blocks = try pemBlocks(pem)
        guard !blocks.isEmpty else { throw .invalidCertificate(reason: "no CERTIFICATE PEM block") }
        var out: [X509Certificate] = []
        for block in blocks { out.append(try X509Certificate(der: block)) }
        return out
    }

    deinit { X509_free(pointer) }

    /// The subject distinguished name, RFC 2253 form (`CN=swtpm-localca,O=…`); empty for
    /// the empty subject TCG EK certificates may have.
    public var subject: String { Self.text(of: X509_get_subject_name(pointer)) }

    /// The issuer distinguished name, RFC 2253 form.
    public var issuer: String { Self.text(of: X509_get_issuer_name(pointer)) }

    /// PEM `CERTIFICATE` text of the DER encoding.
    public var pem: String { PEM.encode(label: "CERTIFICATE", der: der) }

    /// SHA-256 of the DER encoding.
    public var sha256Fingerprint: [UInt8] { SHA256.hash(der) }

    /// The certificate's DER SubjectPublicKeyInfo.
    public var publicKeyDER: [UInt8] {
        get throws(SealCryptoError) {
            guard let key = X509_get0_pubkey(pointer) else { throw OpenSSL.failure("X509_get0_pubkey") }
            return try OpenSSL.publicKeyDER(key)
        }
    }

    /// The certified public key, decoded for EC and RSA keys.
    public var publicKey: X509PublicKey {
        get throws(SealCryptoError) {
            guard let key = X509_get0_pubkey(pointer) else { throw OpenSSL.failure("X509_get0_pubkey") }
            if EVP_PKEY_is_a(key, "EC") == 1 {
                var group = [CChar](repeating: 0, count: 80)
                var groupLength = 0
                var point = [UInt8](repeating: 0, count: 256)
                var pointLength = 0
                guard EVP_PKEY_get_utf8_string_param(key, "group", &group, group.count, &groupLength) == 1,
                    EVP_PKEY_get_octet_string_param(key, "pub", &point, point.count, &pointLength) == 1
                else { throw OpenSSL.failure("EC public key export") }
                let curve = String(decoding: group.prefix(groupLength).map { UInt8(bitPattern: $0) }, as: UTF8.self)
                return .ec(curve: curve, point: Array(point.prefix(pointLength)))
            }
            if EVP_PKEY_is_a(key, "RSA") == 1 {
                return .rsa(modulus: try Self.bigNumber(key, "n"), exponent: try Self.bigNumber(key, "e"))
            }
            let name = EVP_PKEY_get0_type_name(key).map { String(cString: $0) } ?? "unknown"
            return .other(algorithm: name)
        }
    }

    public var description: String { "X509Certificate(subject: \(subject), issuer: \(issuer))" }

    /// Verifies that `leaf` chains to one of `roots` through `intermediates`, with
    /// `X509_verify_cert` at the current time. Throws `certificateChainRejected` with
    /// OpenSSL's reason and the depth of the offending certificate.
    ///
    /// What is and is not relaxed, precisely:
    /// - The store holds `roots` only; `intermediates` are untrusted and must chain up to a
    ///   root. `X509_V_FLAG_PARTIAL_CHAIN` is explicitly cleared, so trusting an
    ///   intermediate or the leaf itself does not end the chain early.
    /// - Validity periods are checked for every certificate (no `NO_CHECK_TIME`).
    /// - No purpose is set: OpenSSL's purposes (TLS client/server, S/MIME, …) each want an
    ///   extended key usage EK certificates do not have; they carry only the TCG EKU
    ///   tcg-kp-EKCertificate (2.23.133.8.1). Intermediates must still be CAs
    ///   (basicConstraints cA, keyUsage keyCertSign when present).
    /// - Unknown critical extensions are refused (no `IGNORE_CRITICAL`). TCG EK certificates
    ///   need no exception: their critical extensions are subjectAltName (a directoryName
    ///   with TCG attribute OIDs), basicConstraints and keyUsage, all of which OpenSSL
    ///   handles; the TCG Subject Directory Attributes extension is non-critical.
    /// - `X509_V_FLAG_X509_STRICT` is not set: it refuses certificates that real EK
    ///   certificates commonly are (no subjectKeyIdentifier, empty subject), without
    ///   adding anything to the signature chain.
    public static func verifyChain(
        leaf: X509Certificate, intermediates: [X509Certificate], roots: [X509Certificate]
    ) throws(SealCryptoError) {
        guard !roots.isEmpty else { throw .certificateChainRejected(reason: "no trusted roots given", depth: 0) }
        guard let store = X509_STORE_new() else { throw OpenSSL.failure("X509_STORE_new") }
        defer { X509_STORE_free(store) }
        for root in roots where X509_STORE_add_cert(store, root.pointer) != 1 {
            throw OpenSSL.failure("X509_STORE_add_cert")
        }
        guard let untrusted = OPENSSL_sk_new_null() else { throw OpenSSL.failure("OPENSSL_sk_new_null") }
        // The stack borrows the certificates: free the stack only, not its elements.
        defer { OPENSSL_sk_free(untrusted) }
        for certificate in intermediates where OPENSSL_sk_push(untrusted, UnsafeRawPointer(certificate.pointer)) <= 0 {
            throw OpenSSL.failure("OPENSSL_sk_push")
        }
        guard let context = X509_STORE_CTX_new() else { throw OpenSSL.failure("X509_STORE_CTX_new") }
        defer { X509_STORE_CTX_free(context) }
        guard X509_STORE_CTX_init(context, store, leaf.pointer, untrusted) == 1,
            let parameters = X509_STORE_CTX_get0_param(context),
            X509_VERIFY_PARAM_clear_flags(parameters, UInt(X509_V_FLAG_PARTIAL_CHAIN)) == 1
        else { throw OpenSSL.failure("X509_STORE_CTX_init") }
        let verified = X509_verify_cert(context)
        guard verified == 1 else {
            let code = X509_STORE_CTX_get_error(context)
            let depth = Int(X509_STORE_CTX_get_error_depth(context))
            OpenSSL.clearErrors()
            let reason = X509_verify_cert_error_string(Int(code)).map { String(cString: $0) } ?? "error \(code)"
            throw .certificateChainRejected(reason: reason, depth: depth)
        }
    }

    // MARK: Helpers

    /// RFC 2253 text of an X509_NAME (borrowed pointer).
    private static func text(of name: OpaquePointer?) -> String {
        guard let name, let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        // XN_FLAG_RFC2253 = ASN1_STRFLGS_RFC2253 | XN_FLAG_SEP_COMMA_PLUS | XN_FLAG_DN_REV
        // | XN_FLAG_FN_SN | XN_FLAG_DUMP_UNKNOWN_FIELDS (x509.h; the macro does not import).
        let rfc2253: UInt = 0x317 | (1 << 16) | (1 << 20) | (1 << 24)
        guard X509_NAME_print_ex(bio, name, 0, rfc2253) >= 0 else {
            OpenSSL.clearErrors()
            return ""
        }
        let pending = Int(BIO_ctrl_pending(bio))
        var bytes = [UInt8](repeating: 0, count: pending)
        let read = pending == 0 ? 0 : Int(BIO_read(bio, &bytes, Int32(pending)))
        return String(decoding: bytes.prefix(max(read, 0)), as: UTF8.self)
    }

    private static func bigNumber(_ key: OpaquePointer, _ name: String) throws(SealCryptoError) -> [UInt8] {
        var number: OpaquePointer?
        guard EVP_PKEY_get_bn_param(key, name, &number) == 1, let number else {
            throw OpenSSL.failure("EVP_PKEY_get_bn_param(\(name))")
        }
        defer { BN_free(number) }
        var bytes = [UInt8](repeating: 0, count: (Int(BN_num_bits(number)) + 7) / 8)
        _ = BN_bn2bin(number, &bytes)
        return bytes
    }

    /// The DER bodies of the PEM blocks in `text`; every block must be a `CERTIFICATE`.
    private static func pemBlocks(_ text: String) throws(SealCryptoError) -> [[UInt8]] {
        try PEM.decode(text, label: "CERTIFICATE")
    }
}
