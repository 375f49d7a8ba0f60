#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// The worker's sealed storage key file as the host keeps it for a worker without a disk
/// (the appliance image, docs/DURABILITY.md §4.1): `DATA/enclave-storage.key`. The host
/// reads it for `storageKeyOffer` and writes the file a worker sends in
/// `storageKeyCreated`, durably, before it reads that worker's next message.
enum StorageKeyFile {
    enum Failure: Error, Equatable, CustomStringConvertible {
        /// The bytes are not a TPM-mode key file (not JSON, another mode, blobs missing, or
        /// a key in the clear): never written.
        case notSealed(String)
        /// A key file is already there: a key is never replaced.
        case exists
        /// A system call failed; `errno`.
        case io(String, Int32)

        var description: String {
            switch self {
            case .notSealed(let why): "storage key file from the worker refused: \(why)"
            case .exists: "storage key file already exists; a key is never replaced"
            case .io(let what, let errno): "storage key file: \(what) failed (errno \(errno))"
            }
        }
    }

    /// Checks that `bytes` are a key file the host may hold: a JSON object of version 1 in
    /// `tpm` or `swtpm` mode with both sealed blobs, the counter base and its tag, and no
    /// `key` member (software mode's clear key never crosses the link).
    static func check(_ bytes: [UInt8]) throws(Failure) {
        guard let object = try? JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any] else {
            throw .notSealed("not a JSON object")
        }
        guard object["key"] == nil else { throw .notSealed("a key in the clear") }
        guard object["version"] as? Int == 1 else { throw .notSealed("not version 1") }
        guard let mode = object["mode"] as? String, mode == "tpm" || mode == "swtpm" else {
            throw .notSealed("not a TPM mode")
        }
        for field in ["sealedPublic", "sealedPrivate", "counterBaseTag"] where !(object[field] is String) {
            throw .notSealed("\(field) missing")
        }
        guard object["counterBase"] is NSNumber else { throw .notSealed("counterBase missing") }
    }

    /// The file's bytes, or nil when there is none.
    static func read(_ path: String) throws(Failure) -> [UInt8]? {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            if errno == ENOENT { return nil }
            throw .io("open \(path)", errno)
        }
        defer { close(fd) }
        var out: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n < 0 { throw .io("read \(path)", errno) }
            if n == 0 { return out }
            out += chunk[0..<n]
        }
    }

    /// Writes `bytes` as a new key file at `path`, durably: `path.tmp` created 0600, written,
    /// fsynced, renamed over `path`, and the directory fsynced, so that after a return the
    /// file survives a crash, and a crash before leaves no file (never a torn one).
    static func writeNew(_ bytes: [UInt8], to path: String) throws(Failure) {
        if access(path, F_OK) == 0 { throw .exists }
        let tmp = path + ".tmp"
        // A leftover from a crash is removed, not reused: its mode may not be 0600.
        unlink(tmp)
        let fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw .io("create \(tmp)", errno) }
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 {
                let e = errno
                close(fd)
                unlink(tmp)
                throw .io("write \(tmp)", e)
            }
            offset += n
        }
        guard fsync(fd) == 0 else {
            let e = errno
            close(fd)
            unlink(tmp)
            throw .io("fsync \(tmp)", e)
        }
        close(fd)
        guard rename(tmp, path) == 0 else { throw .io("rename \(tmp)", errno) }
        let directory = (path as NSString).deletingLastPathComponent
        let dfd = open(directory.isEmpty ? "." : directory, O_RDONLY | O_DIRECTORY | O_CLOEXEC)
        guard dfd >= 0 else { throw .io("open \(directory)", errno) }
        defer { close(dfd) }
        guard fsync(dfd) == 0 else { throw .io("fsync \(directory)", errno) }
    }
}
