#if canImport(Glibc)
import Glibc
#endif
import Attestation
import EnclaveCore
import SealCrypto
import Wire

/// `--storage-key-link`: the sealed storage key file kept by the host, for a worker
/// without a disk (the appliance image, docs/DURABILITY.md §4.1). Before `hello` the
/// worker sends `storageKeyRequest` and reads the host's `storageKeyOffer`: no key (the
/// host keeps no journal), none yet (a key is drawn and sealed, and the new file goes back
/// in `storageKeyCreated`, which the host makes durable before it reads on), or the file,
/// opened as `StorageKey.open` opens one read from disk. TPM modes only: the file holds
/// nothing but blobs sealed to the measurement PCR, and the tagged counter base.
enum StorageKeyLink {
    enum Failure: Error, CustomStringConvertible {
        /// The link ended, or its first message was not a well-formed `storageKeyOffer`.
        case noOffer

        var description: String { "storage key link: the host sent no well-formed storageKeyOffer" }
    }

    static func obtain(mode: AttestationMode, tpm: TPMQuoteSource, pcr: Int) throws -> StorageKey.Loaded? {
        try send(encodeLinkMessage(kind: .storageKeyRequest, body: []))
        guard let message = StandbyEnrollment.readMessage(), message.kind == .storageKeyOffer,
              let offer = try? message.body.withUnsafeBytes({ try StorageKeyOffer.decode(body: $0) })
        else { throw Failure.noOffer }
        switch offer {
        case .none:
            return nil
        case .absent:
            let (loaded, file) = try StorageKey.create(mode: mode, tpm: tpm, pcr: pcr)
            try send(StorageKeyCreated.encode(file: file))
            Log.info("storage_key_created", [("bytes", String(file.count))])
            return loaded
        case .file(let bytes):
            return try StorageKey.open(bytes, mode: mode, tpm: tpm, pcr: pcr)
        }
    }

    private static func send(_ message: [UInt8]) throws {
        guard message.withUnsafeBytes({ FileIO.writeAll(1, $0) }) else {
            throw StorageKey.Failure.unreadable("cannot write to the link (errno \(errno))")
        }
    }
}
