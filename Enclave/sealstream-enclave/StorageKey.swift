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
        /// TPM modes: the TPM NV counter's value when the key was created (the epoch's
        /// base, docs/DURABILITY.md §5.1), and hex of its tag `EpochCounter.baseTag`.
        var counterBase: UInt64?
        var counterBaseTag: String?
        /// An enrolled key (docs/REPLICATION.md §11.7): the primary's journal head when it
        /// wrapped the key. `counterOffset` is its counter value (the relative counter
        /// continues from it; TPM modes), `enrolledRecordSequence` its last record, below
        /// which recovery refuses a journal. In TPM modes `counterBaseTag` is then
        /// `EpochCounter.enrolledTag` over base, offset and record sequence.
        var counterOffset: UInt64?
        var enrolledRecordSequence: UInt64?
    }

    /// A key read (or created) and what the file says about its epoch.
    struct Loaded {
        var key: SecretBytes
        /// `sealed-pcr-N` or `file-0600`, for the evidence.
        var protection: String
        /// TPM modes: the epoch's counter base and offset.
        var counterBase: UInt64?
        var counterOffset: UInt64
        /// 0 unless the key was enrolled.
        var minimumRecordSequence: UInt64
    }

    enum Failure: Error, CustomStringConvertible {
        case unreadable(String)
        case wrongMode(file: String, running: String)
        /// A TPM-mode file without the counter base (made before the rollback counter).
        case counterBaseMissing
        /// The counter base's tag does not match the key: the file was edited.
        case counterBaseForged
        /// `--enroll` with a key file already present: enrollment never replaces a key.
        case exists

        var description: String {
            switch self {
            case .unreadable(let why): "storage key file: \(why)"
            case .wrongMode(let file, let running): "storage key file was made in \(file) mode; this worker runs in \(running) mode"
            case .counterBaseMissing:
                "storage key file has no rollback counter base (made before docs/DURABILITY.md §5.1); "
                    + "remove it to start a new epoch"
            case .counterBaseForged: "storage key file: the rollback counter base does not match the key (edited)"
            case .exists: "storage key file already exists; enrollment never replaces a key"
            }
        }
    }

    /// The key, how it is protected (for the evidence), and in TPM modes the epoch's
    /// counter base (docs/DURABILITY.md §5.1): the TPM NV counter's value when the key was
    /// created, read (the counter defined if absent) before the key file is written, so
    /// that `EpochCounter(tpm, base:)` starts the epoch at 0.
    static func load(path: String, mode: AttestationMode, tpm: TPMQuoteSource?, pcr: Int) throws -> Loaded {
        if let data = FileManager.default.contents(atPath: path) {
            return try open(Array(data), mode: mode, tpm: tpm, pcr: pcr)
        }
        let (loaded, file) = try create(mode: mode, tpm: tpm, pcr: pcr)
        var bytes = file
        defer { Sodium.wipe(&bytes) }
        try write(bytes, to: path)
        return loaded
    }

    /// Opens a key file's bytes: unseals in TPM modes and checks the counter base's tag.
    static func open(_ data: [UInt8], mode: AttestationMode, tpm: TPMQuoteSource?, pcr: Int) throws -> Loaded {
        let protection = tpm == nil ? "file-0600" : "sealed-pcr-\(pcr)"
        guard let file = try? JSONDecoder().decode(File.self, from: Data(data)), file.version == 1 else {
            throw Failure.unreadable("not a storage key file")
        }
        guard file.mode == mode.rawValue else { throw Failure.wrongMode(file: file.mode, running: mode.rawValue) }
        if let tpm {
            guard let pub = file.sealedPublic.flatMap(Hex.decode), let priv = file.sealedPrivate.flatMap(Hex.decode) else {
                throw Failure.unreadable("sealed blobs missing")
            }
            let key = try tpm.unseal(public: pub, private: priv)
            guard let base = file.counterBase, let tag = file.counterBaseTag.flatMap(Hex.decode) else {
                throw Failure.counterBaseMissing
            }
            let offset = file.counterOffset ?? 0
            let record = file.enrolledRecordSequence ?? 0
            let expected = file.counterOffset == nil && file.enrolledRecordSequence == nil
                ? EpochCounter.baseTag(storageKey: key, base: base)
                : EpochCounter.enrolledTag(storageKey: key, base: base, offset: offset, recordSequence: record)
            guard Sodium.constantTimeEqual(tag, expected) else { throw Failure.counterBaseForged }
            return Loaded(key: key, protection: protection, counterBase: base, counterOffset: offset, minimumRecordSequence: record)
        }
        guard var raw = file.key.flatMap(Hex.decode), raw.count == 32 else { throw Failure.unreadable("key missing") }
        return Loaded(
            key: SecretBytes(consuming: &raw), protection: protection, counterBase: nil, counterOffset: 0,
            minimumRecordSequence: file.enrolledRecordSequence ?? 0)
    }

    /// Draws a new key and returns it with its file's bytes (not written anywhere yet).
    static func create(mode: AttestationMode, tpm: TPMQuoteSource?, pcr: Int) throws -> (Loaded, [UInt8]) {
        var fresh = Sodium.randomBytes(32)
        let key = SecretBytes(consuming: &fresh)
        let (file, bytes) = try encode(key: key, mode: mode, tpm: tpm, enrolledHead: nil)
        let loaded = Loaded(
            key: key, protection: tpm == nil ? "file-0600" : "sealed-pcr-\(pcr)", counterBase: file.counterBase,
            counterOffset: 0, minimumRecordSequence: 0)
        return (loaded, bytes)
    }

    /// Writes the key file for `key`: sealed to the PCR policy with the epoch's counter
    /// base in TPM modes, in the clear in `software` mode. With `enrolledHead` (a key
    /// enrolled from a primary, docs/REPLICATION.md §11.7) the file also records the
    /// primary's head: its counter becomes the offset, its record the minimum. Refuses to
    /// replace an existing file only when enrolling.
    @discardableResult
    static func store(
        path: String, key: SecretBytes, mode: AttestationMode, tpm: TPMQuoteSource?,
        enrolledHead: (recordSequence: UInt64, counter: UInt64)?
    ) throws -> File {
        if enrolledHead != nil, FileManager.default.fileExists(atPath: path) { throw Failure.exists }
        var (file, bytes) = try encode(key: key, mode: mode, tpm: tpm, enrolledHead: enrolledHead)
        defer { Sodium.wipe(&bytes) }
        try write(bytes, to: path)
        return file
    }

    /// The key file for `key` and its JSON bytes (the caller wipes them: in `software` mode
    /// they hold the key).
    static func encode(
        key: SecretBytes, mode: AttestationMode, tpm: TPMQuoteSource?, enrolledHead: (recordSequence: UInt64, counter: UInt64)?
    ) throws -> (File, [UInt8]) {
        var file = File(mode: mode.rawValue)
        if let head = enrolledHead {
            file.enrolledRecordSequence = head.recordSequence
            if tpm != nil { file.counterOffset = head.counter }
        }
        if let tpm {
            let sealed = try tpm.seal(key)
            file.sealedPublic = Hex.encode(sealed.public)
            file.sealedPrivate = Hex.encode(sealed.private)
            let base = try tpm.read()
            file.counterBase = base
            file.counterBaseTag = Hex.encode(
                enrolledHead.map {
                    EpochCounter.enrolledTag(storageKey: key, base: base, offset: $0.counter, recordSequence: $0.recordSequence)
                } ?? EpochCounter.baseTag(storageKey: key, base: base))
        } else {
            // Software mode keeps the key in the clear on disk by definition; this hex
            // copy cannot be wiped, and is no worse than the file.
            file.key = key.withUnsafeBytes { Hex.encode(Array($0)) }
        }
        return (file, Array(try JSONEncoder().encode(file)))
    }

    /// Created 0600 and written once; a crash mid-write leaves no file, not a torn one.
    static func write(_ bytes: [UInt8], to path: String) throws {
        let tmp = path + ".tmp"
        let fd = Glibc.open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw Failure.unreadable("cannot create \(tmp) (errno \(errno))") }
        let written = bytes.withUnsafeBytes { FileIO.writeAll(fd, $0) }
        fsync(fd)
        close(fd)
        guard written, rename(tmp, path) == 0 else { throw Failure.unreadable("cannot write \(path) (errno \(errno))") }
    }
}
