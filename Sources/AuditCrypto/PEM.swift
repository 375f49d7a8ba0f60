import COpenSSL
import SealCrypto

/// RFC 7468 text through libcrypto's PEM codec (`PEM_write_bio`, `PEM_read_bio`): one
/// implementation of base64 and line handling, OpenSSL's.
public enum PEM {
    /// `-----BEGIN label-----`, the base64 of `der` in 64-column lines, `-----END label-----`.
    public static func encode(label: String, der: [UInt8]) -> String {
        guard let bio = BIO_new(BIO_s_mem()) else { return "" }
        defer { BIO_free(bio) }
        let written = der.withUnsafeBufferPointer { PEM_write_bio(bio, label, "", $0.baseAddress, Int($0.count)) }
        guard written > 0 else {
            OpenSSL.clearErrors()
            return ""
        }
        var pointer: UnsafeMutableRawPointer?
        let length = BIO_ctrl(bio, BIO_CTRL_INFO, 0, &pointer)
        guard length > 0, let pointer else { return "" }
        return String(decoding: UnsafeRawBufferPointer(start: pointer, count: length), as: UTF8.self)
    }

    /// The DER bodies of every PEM block in `text`, each of which must be labelled `label`
    /// and carry no headers. Text outside blocks is ignored (as OpenSSL does); a block
    /// OpenSSL cannot read (bad base64, no END line) is an error.
    public static func decode(_ text: String, label: String) throws(SealCryptoError) -> [[UInt8]] {
        let bytes = Array(text.utf8)
        guard let bio = bytes.withUnsafeBytes({ BIO_new_mem_buf($0.baseAddress, Int32($0.count)) }) else {
            throw OpenSSL.failure("BIO_new_mem_buf")
        }
        defer { BIO_free(bio) }
        var blocks: [[UInt8]] = []
        while true {
            var name: UnsafeMutablePointer<CChar>?
            var header: UnsafeMutablePointer<CChar>?
            var data: UnsafeMutablePointer<UInt8>?
            var length = 0
            guard PEM_read_bio(bio, &name, &header, &data, &length) == 1 else { break }
            defer {
                CRYPTO_free(name, nil, 0)
                CRYPTO_free(header, nil, 0)
                CRYPTO_free(data, nil, 0)
            }
            let blockName = name.map { String(cString: $0) } ?? ""
            guard blockName == label else {
                throw .invalidCertificate(reason: "PEM block that is not a \(label)")
            }
            guard header.map({ $0.pointee == 0 }) ?? true else {
                throw .invalidCertificate(reason: "PEM block with headers")
            }
            blocks.append(data.map { Array(UnsafeBufferPointer(start: $0, count: length)) } ?? [])
        }
        OpenSSL.clearErrors()
        // Every block that begins must have been read: PEM_read_bio stops at the first it
        // cannot decode, which would otherwise silently drop the rest.
        let marker = Array("-----BEGIN ".utf8)
        var begins = 0
        var i = 0
        while i + marker.count <= bytes.count {
            if bytes[i..<(i + marker.count)].elementsEqual(marker) {
                begins += 1
                i += marker.count
            } else {
                i += 1
            }
        }
        guard begins == blocks.count else {
            throw .invalidCertificate(reason: "PEM block \(blocks.count + 1) does not decode (bad base64 or no END line)")
        }
        return blocks
    }
}

extension P256PublicKey {
    /// PEM `PUBLIC KEY` (SubjectPublicKeyInfo), for `tpm2_checkquote -u`.
    public var pem: String { PEM.encode(label: "PUBLIC KEY", der: derRepresentation) }
}
