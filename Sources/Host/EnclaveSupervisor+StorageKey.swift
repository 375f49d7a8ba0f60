import Logging
import NIOCore
import Wire

/// Where a worker that keeps its key file on the host stands (docs/DURABILITY.md §4.1).
enum StorageKeyLinkStep: Equatable {
    /// The host answered `storageKeyRequest`; `absent`: with "none yet", so one
    /// `storageKeyCreated` may follow.
    case offered(absent: Bool)
    /// The new file is written.
    case created
}

/// Why the host stops: its VM worker said hello without the key exchange before it.
public enum StorageKeyLinkError: Error, CustomStringConvertible {
    /// No `storageKeyRequest` (an image built before `--storage-key-link`), or no
    /// `storageKeyCreated` after an offer of "none yet".
    case helloWithoutKeyExchange

    public var description: String {
        "the VM worker said hello without asking for its storage key file (docs/DURABILITY.md §4.1): "
            + "an image built before --storage-key-link? rebuild it (scripts/build-image.sh)"
    }
}

extension EnclaveSupervisor {
    /// A VM worker's hello comes after the key exchange: a request answered, and the new
    /// file stored when the answer was "none yet". Otherwise the host stops (a worker that
    /// never asks would serve without its key, so without a journal, on every restart).
    func checkKeyExchangeBeforeHello(worker: WorkerHandle) -> Bool {
        guard configuration.enclaveImage != nil, case .starting = machine.phase else { return true }
        if let link = storageKeyLink, link.worker == worker.label, link.step != .offered(absent: true) { return true }
        stopFatally(StorageKeyLinkError.helloWithoutKeyExchange, worker: worker)
        return false
    }

    var storageKeyPath: String { configuration.dataDirectory + "/enclave-storage.key" }

    /// `storageKeyRequest`: only from the VM worker (`--enclave-image`), once, before its
    /// hello. Answered with the key file, "none yet", or "no key" when the host keeps no
    /// journal.
    func receivedStorageKeyRequest(_ body: ByteBuffer, worker: WorkerHandle) throws {
        guard configuration.enclaveImage != nil, case .starting = machine.phase, body.readableBytes == 0,
              storageKeyLink?.worker != worker.label, let channel
        else { throw WireError.unknownMessageType(LinkKind.storageKeyRequest.rawValue) }
        let offer: StorageKeyOffer
        if !configuration.journal {
            offer = .none
        } else {
            do throws(StorageKeyFile.Failure) {
                offer = try StorageKeyFile.read(storageKeyPath).map { .file($0) } ?? .absent
            } catch {
                stopFatally(error, worker: worker)
                return
            }
        }
        storageKeyLink = (worker.label, .offered(absent: offer == .absent))
        logger.info("storage_key_offered", metadata: [
            "worker": "\(worker.label)",
            "offer": "\(offer == .none ? "none" : offer == .absent ? "absent" : "file")",
        ])
        channel.writeAndFlush(channel.allocator.buffer(bytes: offer.encode()), promise: nil)
    }

    /// `storageKeyCreated`: only after an offer of "none yet" to this worker. The file is
    /// written durably here, on the loop, before the worker's next message (its hello) is
    /// read: no journal record under a key exists before its file does.
    func receivedStorageKeyCreated(_ body: ByteBuffer, worker: WorkerHandle) throws {
        guard let link = storageKeyLink, link.worker == worker.label, link.step == .offered(absent: true),
              case .starting = machine.phase
        else { throw WireError.unknownMessageType(LinkKind.storageKeyCreated.rawValue) }
        let file = try body.withUnsafeReadableBytes { raw throws(WireError) in try StorageKeyCreated.decode(body: raw) }
        do throws(StorageKeyFile.Failure) {
            try StorageKeyFile.check(file)
            try StorageKeyFile.writeNew(file, to: storageKeyPath)
        } catch {
            switch error {
            case .notSealed: throw WireError.invalidField("\(error)")
            case .exists, .io: stopFatally(error, worker: worker)
            }
            return
        }
        storageKeyLink = (worker.label, .created)
        logger.info("storage_key_stored", metadata: ["worker": "\(worker.label)", "bytes": "\(file.count)"])
    }
}
