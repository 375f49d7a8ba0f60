#if canImport(Glibc)
import Glibc
#endif
#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import Attestation
import EnclaveCore
import SealCrypto
import Wire

/// The worker's long-lived storage key (docs/ATTESTATION.md §7): created on the first
/// start, kept across restarts. In TPM modes it is sealed to the measurement PCR, so only
/// the same measured worker on the same TPM gets it back; the file holds only the sealed
/// blobs. In `software` mode there is nothing to seal to: the key itself is in a 0600
/// file, and the evidence says so.
enum StorageKey {
    struct File: Codable {
        var version = 1
        var mode: String
        /// Hex of the sealed TPM2B_PUBLIC / TPM2B_PRIVATE (TPM modes).
        var sealedPublic: String?
        var sealedPrivate: String?
        /// Hex of the key (software mode only).
        var key: String?
    }

    enum Failure: Error, CustomStringConvertible {
        case unreadable(String)
        case wrongMode(file: String, running: String)

        var description: String {
            switch self {
            case .unreadable(let why): "storage key file: \(why)"
            case .wrongMode(let file, let running): "storage key file was made in \(file) mode; this worker runs in \(running) mode"
            }
        }
    }

    /// The key, and how it is protected (for the evidence).
    static func load(path: String, mode: AttestationMode, tpm: TPMQuoteSource?, pcr: Int) throws -> (SecretBytes, String) {
        let protection = tpm == nil ? "file-0600" : "sealed-pcr-\(pcr)"
        if let data = FileManager.default.contents(atPath: path) {
            guard let file = try? JSONDecoder().decode(File.self, from: data), file.version == 1 else {
                throw Failure.unreadable("not a storage key file")
            }
            guard file.mode == mode.rawValue else { throw Failure.wrongMode(file: file.mode, running: mode.rawValue) }
            if let tpm {
                guard let pub = file.sealedPublic.flatMap(Hex.decode), let priv = file.sealedPrivate.flatMap(Hex.decode) else {
                    throw Failure.unreadable("sealed blobs missing")
                }
                return (try tpm.unseal(public: pub, private: priv), protection)
            }
            guard var raw = file.key.flatMap(Hex.decode), raw.count == 32 else { throw Failure.unreadable("key missing") }
            return (SecretBytes(consuming: &raw), protection)
        }
        var fresh = Sodium.randomBytes(32)
        let key = SecretBytes(consuming: &fresh)
        var file = File(mode: mode.rawValue)
        if let tpm {
            let sealed = try tpm.seal(key)
            file.sealedPublic = Hex.encode(sealed.public)
            file.sealedPrivate = Hex.encode(sealed.private)
        } else {
            // Software mode keeps the key in the clear on disk by definition; this hex
            // copy cannot be wiped, and is no worse than the file.
            file.key = key.withUnsafeBytes { Hex.encode(Array($0)) }
        }
        var bytes = Array(try JSONEncoder().encode(file))
        defer { Sodium.wipe(&bytes) }
        // Created 0600 and written once; a crash mid-write leaves no file, not a torn one.
        let tmp = path + ".tmp"
        let fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure.unreadable("cannot create \(tmp) (errno \(errno))") }
        let written = bytes.withUnsafeBytes { FileIO.writeAll(fd, $0) }
        fsync(fd)
        close(fd)
        guard written, rename(tmp, path) == 0 else { throw Failure.unreadable("cannot write \(path) (errno \(errno))") }
        return (key, protection)
    }
}
