#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import Testing
import Wire

/// The real worker with `--storage-key-link` (docs/DURABILITY.md §4.1) on a real swtpm,
/// the test playing the host: the appliance image's worker path, without booting a VM
/// (scripts/image-demo.sh does that).
@Suite("Worker: the storage key file kept by the host", .serialized)
struct StorageKeyLinkWorkerTests {
    /// The worker as the host starts it, its link on two pipes.
    final class LinkedWorker {
        let process = Process()
        let toWorker = Pipe()
        let fromWorker = Pipe()
        let errors = Pipe()

        /// `fd3`: a path opened read-write as the worker's fd 3 (for `--snapshot-fd 3`).
        init(tcti: String?, extra: [String] = [], fd3: String? = nil) throws {
            var arguments = ["-i", "TSS2_LOG=all+none", try Binaries.path("sealstream-enclave"), "--config", Binaries.venueConfig]
            arguments += tcti.map { ["--attestation", "swtpm", "--tcti", $0] } ?? []
            arguments += ["--storage-key-link"] + extra
            if let fd3 {
                process.executableURL = URL(fileURLWithPath: "/bin/sh")
                process.arguments = ["-c", "exec 3<>\"$0\" && exec /usr/bin/env \"$@\"", fd3] + arguments
            } else {
                process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
                process.arguments = arguments
            }
            process.standardInput = toWorker
            process.standardOutput = fromWorker
            process.standardError = errors
            try process.run()
        }

        func send(_ message: [UInt8]) { toWorker.fileHandleForWriting.write(Data(message)) }

        /// The next link message, waiting up to 60 s.
        func receive() throws -> (kind: UInt8, body: [UInt8]) {
            let header = try read(5)
            let length = Int(header[0]) << 24 | Int(header[1]) << 16 | Int(header[2]) << 8 | Int(header[3])
            return (header[4], try read(length - 1))
        }

        private func read(_ count: Int) throws -> [UInt8] {
            let fd = fromWorker.fileHandleForReading.fileDescriptor
            var out: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: max(count, 1))
            while out.count < count {
                var p = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                try #require(poll(&p, 1, 60_000) == 1, "the worker sent nothing for 60 s")
                let n = chunk.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress!, count - out.count) }
                try #require(n > 0, "the link closed: \(stderr())")
                out += chunk[0..<n]
            }
            return out
        }

        /// Closes the link and waits for the exit; the status.
        func finish() -> Int32 {
            try? toWorker.fileHandleForWriting.close()
            process.waitUntilExit()
            return process.terminationStatus
        }

        func stderr() -> String {
            String(decoding: errors.fileHandleForReading.availableData, as: UTF8.self)
        }
    }

    static func hello(_ message: (kind: UInt8, body: [UInt8])) throws -> [String: Any] {
        try #require(message.kind == LinkKind.hello.rawValue, "expected hello, got kind \(message.kind)")
        return try #require(try JSONSerialization.jsonObject(with: Data(message.body)) as? [String: Any])
    }

    @Test func createsReopensAndRefuses() throws {
        let dir = try makeScratchDirectory("key-link")
        defer { try? FileManager.default.removeItem(at: dir) }
        let swtpm = try SwtpmInstance(under: dir)
        defer { swtpm.stop() }

        // First start: asked, told "none yet": the worker sends the new sealed file, then hello.
        let first = try LinkedWorker(tcti: swtpm.tcti)
        #expect(try first.receive() == (LinkKind.storageKeyRequest.rawValue, []))
        first.send(StorageKeyOffer.absent.encode())
        let created = try first.receive()
        try #require(created.kind == LinkKind.storageKeyCreated.rawValue)
        let file = try #require(try JSONSerialization.jsonObject(with: Data(created.body)) as? [String: Any])
        #expect(file["mode"] as? String == "swtpm" && file["key"] == nil && file["sealedPrivate"] is String)
        #expect(file["counterBase"] is Int)
        let hello1 = try Self.hello(try first.receive())
        #expect(hello1["storageKey"] as? String == "sealed-pcr-23")
        #expect(first.finish() == 0)

        // Restart with that file: the same signer and enclave key, another instance.
        let second = try LinkedWorker(tcti: swtpm.tcti)
        #expect(try second.receive().kind == LinkKind.storageKeyRequest.rawValue)
        second.send(StorageKeyOffer.file(created.body).encode())
        let hello2 = try Self.hello(try second.receive())
        #expect(hello2["signer"] as? String == hello1["signer"] as? String)
        #expect(hello2["enclaveKey"] as? String == hello1["enclaveKey"] as? String)
        #expect(hello2["instanceID"] as? String != hello1["instanceID"] as? String)
        #expect(second.finish() == 0)

        // "No key" (the host runs without a journal): hello without a storage key.
        let none = try LinkedWorker(tcti: swtpm.tcti)
        _ = try none.receive()
        none.send(StorageKeyOffer.none.encode())
        let hello3 = try Self.hello(try none.receive())
        #expect(hello3["storageKey"] == nil && hello3["signer"] as? String != hello1["signer"] as? String)
        #expect(none.finish() == 0)

        // A malformed offer, and a file whose sealed blob was changed: start-up failures.
        let malformed = try LinkedWorker(tcti: swtpm.tcti)
        _ = try malformed.receive()
        malformed.send(encodeLinkMessage(kind: .storageKeyOffer, body: [7]))
        #expect(malformed.finish() == 70)
        #expect(malformed.stderr().contains("storageKeyOffer"))
        var forged = file
        let blob = try #require(forged["sealedPrivate"] as? String)
        forged["sealedPrivate"] = String(blob.dropLast(2)) + (blob.hasSuffix("00") ? "01" : "00")
        let tampered = try LinkedWorker(tcti: swtpm.tcti)
        _ = try tampered.receive()
        tampered.send(StorageKeyOffer.file(Array(try JSONSerialization.data(withJSONObject: forged))).encode())
        #expect(tampered.finish() == 70)
    }

    /// The appliance image's worker writes snapshots to a character device (its virtio
    /// port, docs/IMAGE.md §3) while the host keeps its key file: accepted; a regular file
    /// as the snapshot descriptor is refused (docs/DURABILITY.md §6.6).
    @Test func snapshotDescriptorWithTheLink() throws {
        let dir = try makeScratchDirectory("key-link-snap")
        defer { try? FileManager.default.removeItem(at: dir) }
        let swtpm = try SwtpmInstance(under: dir)
        defer { swtpm.stop() }

        let file = dir.appendingPathComponent("not-a-pipe").path
        let refused = try LinkedWorker(tcti: swtpm.tcti, extra: ["--snapshot-fd", "3"], fd3: file)
        #expect(refused.finish() == 64)
        #expect(refused.stderr().contains("--snapshot-fd is not an open pipe or character device"))

        let accepted = try LinkedWorker(tcti: swtpm.tcti, extra: ["--snapshot-fd", "3"], fd3: "/dev/null")
        #expect(try accepted.receive() == (LinkKind.storageKeyRequest.rawValue, []))
        accepted.send(StorageKeyOffer.absent.encode())
        #expect(try accepted.receive().kind == LinkKind.storageKeyCreated.rawValue)
        _ = try Self.hello(try accepted.receive())
        #expect(accepted.finish() == 0)
    }

    /// Software mode's key file holds the key in the clear: never over the link.
    @Test func softwareModeRefusesTheLink() throws {
        let worker = try LinkedWorker(tcti: nil)
        #expect(worker.finish() == 64)
        #expect(worker.stderr().contains("--storage-key-link needs a TPM mode"))
    }
}
