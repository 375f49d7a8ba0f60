#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging
import NIOCore
import NIOPosix
import Testing
import Wire

@testable import Host

/// The key file the host keeps for the VM worker (docs/DURABILITY.md §4.1).
@Suite("Storage key file kept by the host", .serialized)
struct StorageKeyFileTests {
    static let sealed = Array(
        #"{"version":1,"mode":"tpm","sealedPublic":"00aa","sealedPrivate":"00bb","counterBase":3,"counterBaseTag":"cc"}"#.utf8)

    static func scratch() throws -> String {
        let dir = FileManager.default.temporaryDirectory.appendingPathComponent("sealstream-key-\(UUID().uuidString.prefix(8))").path
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        return dir
    }

    @Test func checkAcceptsOnlySealedFiles() throws {
        try StorageKeyFile.check(Self.sealed)
        try StorageKeyFile.check(Array(String(decoding: Self.sealed, as: UTF8.self).replacingOccurrences(of: "\"tpm\"", with: "\"swtpm\"").utf8))
        let software = Array(#"{"version":1,"mode":"software","key":"00112233"}"#.utf8)
        #expect(throws: StorageKeyFile.Failure.notSealed("a key in the clear")) { try StorageKeyFile.check(software) }
        let sneaky = Array(String(decoding: Self.sealed.dropLast(), as: UTF8.self).utf8) + Array(#","key":"00"}"#.utf8)
        #expect(throws: StorageKeyFile.Failure.notSealed("a key in the clear")) { try StorageKeyFile.check(sneaky) }
        #expect(throws: StorageKeyFile.Failure.notSealed("not a JSON object")) { try StorageKeyFile.check(Array("[1]".utf8)) }
        #expect(throws: StorageKeyFile.Failure.notSealed("not a TPM mode")) {
            try StorageKeyFile.check(Array(#"{"version":1,"mode":"software","sealedPublic":"00"}"#.utf8))
        }
        #expect(throws: StorageKeyFile.Failure.notSealed("sealedPrivate missing")) {
            try StorageKeyFile.check(Array(#"{"version":1,"mode":"tpm","sealedPublic":"00","counterBase":1,"counterBaseTag":"aa"}"#.utf8))
        }
        #expect(throws: StorageKeyFile.Failure.notSealed("counterBase missing")) {
            try StorageKeyFile.check(Array(#"{"version":1,"mode":"tpm","sealedPublic":"00","sealedPrivate":"00","counterBaseTag":"aa"}"#.utf8))
        }
    }

    /// Written whole, 0600, through a temporary file that does not remain; never over an
    /// existing key; a crash's leftover temporary file is replaced, not kept.
    @Test func writesAtomicallyAndNeverReplaces() throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let path = dir + "/enclave-storage.key"
        #expect(try StorageKeyFile.read(path) == nil)
        // A torn temporary file from a crash mid-write is not the key file.
        try Data("{\"torn".utf8).write(to: URL(fileURLWithPath: path + ".tmp"))
        #expect(try StorageKeyFile.read(path) == nil)
        try StorageKeyFile.writeNew(Self.sealed, to: path)
        #expect(try StorageKeyFile.read(path) == Self.sealed)
        #expect(!FileManager.default.fileExists(atPath: path + ".tmp"))
        var st = stat()
        #expect(stat(path, &st) == 0 && st.st_mode & 0o777 == 0o600)
        #expect(throws: StorageKeyFile.Failure.exists) { try StorageKeyFile.writeNew(Array("{}".utf8), to: path) }
        #expect(try StorageKeyFile.read(path) == Self.sealed)
        #expect(throws: StorageKeyFile.Failure.self) { try StorageKeyFile.writeNew(Self.sealed, to: dir + "/missing/key") }
        #expect(!FileManager.default.fileExists(atPath: dir + "/missing"))
    }

    static func make(_ dir: String, image: Bool = true, journal: Bool = true) async throws -> (EnclaveSupervisor, FakeWorker) {
        let loop = MultiThreadedEventLoopGroup.singleton.next()
        let metrics = HostMetrics()
        let worker = FakeWorker()
        var configuration = HostConfiguration(dataDirectory: dir, enclavePath: "/nonexistent", venueConfigPath: "/nonexistent")
        configuration.restartDelayMillis = 60_000
        configuration.enclaveImage = image ? "/nonexistent.efi" : nil
        configuration.journal = journal
        let logger = Logger(label: "test")
        let supervisor = EnclaveSupervisor(
            eventLoop: loop, configuration: configuration, transport: worker, metrics: metrics, logger: logger)
        if journal {
            try await loop.submit {
                let (store, _) = try JournalStore.open(directory: dir + "/journal", preallocate: false, onPreallocationFailure: { _ in })
                supervisor.journal = HostJournal(store: store, eventLoop: loop, metrics: metrics, logger: logger)
            }.get()
        }
        return (supervisor, worker)
    }

    /// No file: offered "absent"; the created file is on disk before the hello that follows
    /// it in the same write is acted on (the journal feed starts). The next worker is
    /// offered the file.
    @Test func createsThenOffersTheFile() async throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (supervisor, worker) = try await Self.make(dir)
        _ = supervisor.start()
        worker.send(.storageKeyRequest, [])
        let (kind, body) = try worker.receive()
        #expect(kind == .storageKeyOffer && body == [1])
        // One write: the created file and the hello right behind it.
        let both = StorageKeyCreated.encode(file: Self.sealed) + encodeLinkMessage(kind: .hello, body: SupervisorJournalTests.hello)
        #expect(both.withUnsafeBytes { write(worker.testEnd, $0.baseAddress!, $0.count) } == both.count)
        var next = try worker.receive().0
        while next == .journalReplay { next = try worker.receive().0 }
        #expect(next == .replayEnd)
        #expect(try StorageKeyFile.read(dir + "/enclave-storage.key") == Self.sealed)

        // The next host (its own journal directory) holding that file offers it.
        let other = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: other) }
        try StorageKeyFile.writeNew(try #require(try StorageKeyFile.read(dir + "/enclave-storage.key")), to: other + "/enclave-storage.key")
        let (again, second) = try await Self.make(other)
        _ = again.start()
        second.send(.storageKeyRequest, [])
        let (offerKind, offer) = try second.receive()
        #expect(offerKind == .storageKeyOffer)
        #expect(try offer.withUnsafeBytes { try StorageKeyOffer.decode(body: $0) } == .file(Self.sealed))
    }

    /// Without a journal the VM worker is told to run without a key.
    @Test func journalOffOffersNone() async throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (supervisor, worker) = try await Self.make(dir, journal: false)
        _ = supervisor.start()
        worker.send(.storageKeyRequest, [])
        let (kind, body) = try worker.receive()
        #expect(kind == .storageKeyOffer && body == [0])
    }

    /// A file in the clear is refused (the worker is killed) and never written; so is a
    /// request from a process worker, and a created file nobody offered "absent" for.
    @Test func refusesWhatTheLinkMustNotCarry() async throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (supervisor, worker) = try await Self.make(dir)
        _ = supervisor.start()
        worker.send(.storageKeyRequest, [])
        _ = try worker.receive()
        worker.send(.storageKeyCreated, Array(#"{"version":1,"mode":"software","key":"00"}"#.utf8))
        #expect(Self.closed(worker), "the worker is killed")
        #expect(try StorageKeyFile.read(dir + "/enclave-storage.key") == nil)

        let processDir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: processDir) }
        let (process, processWorker) = try await Self.make(processDir, image: false)
        _ = process.start()
        processWorker.send(.storageKeyRequest, [])
        #expect(Self.closed(processWorker))

        let unaskedDir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: unaskedDir) }
        let (unasked, unaskedWorker) = try await Self.make(unaskedDir)
        _ = unasked.start()
        unaskedWorker.send(.storageKeyCreated, Self.sealed)
        #expect(Self.closed(unaskedWorker))
        #expect(try StorageKeyFile.read(unaskedDir + "/enclave-storage.key") == nil)
    }

    /// A VM worker that says hello without asking for its key (an old image) stops the
    /// host: it would serve without a journal.
    @Test func helloWithoutTheKeyExchangeStopsTheHost() async throws {
        let dir = try Self.scratch()
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let (supervisor, worker) = try await Self.make(dir)
        let started = supervisor.start()
        worker.send(.hello, SupervisorJournalTests.hello)
        await #expect(throws: (any Error).self) { try await started.get() }
        let fatal = try await supervisor.eventLoop.submit { supervisor.fatal }.get()
        #expect(fatal is StorageKeyLinkError)
        #expect(Self.closed(worker))
    }

    /// True when the host's side of the fake link shut down within 5 s (`terminate`).
    static func closed(_ worker: FakeWorker) -> Bool {
        var p = pollfd(fd: worker.testEnd, events: Int16(POLLIN), revents: 0)
        guard poll(&p, 1, 5_000) == 1 else { return false }
        var byte: UInt8 = 0
        return read(worker.testEnd, &byte, 1) == 0
    }
}
