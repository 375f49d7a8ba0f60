#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Wire

/// Key enrollment from the standby host's side (docs/REPLICATION.md §11.4): starts the
/// local worker with `--enroll`, relays its messages to the primary host's client listener
/// and back, and leaves `DATA/enclave-storage.key` sealed to the local TPM (a 0600 file in
/// `software` mode). The host only relays: the storage key travels wrapped to the
/// standby's attested ephemeral key and is never in this process.
public enum StandbyEnrollment {
    /// What to start and where the primary is.
    public struct Request: Sendable {
        /// The standby's data directory (created 0700 if absent); it must hold no key file.
        public var dataDirectory: String
        /// The venue configuration: the same bytes as the primary's (its hash is checked).
        public var venueConfigPath: String
        public var attestation: HostConfiguration.AttestationMode
        /// `swtpm:path=…` or `device:/dev/tpmrm0` in TPM modes.
        public var tcti: String?
        public var measurementPCR: Int
        /// The sealstream-enclave executable.
        public var enclavePath: String
        /// The primary host's client listener, HOST:PORT (from the leadership lease).
        public var primary: String
        /// The whole exchange must finish within this many seconds.
        public var timeoutSeconds: Double

        public init(
            dataDirectory: String, venueConfigPath: String, attestation: HostConfiguration.AttestationMode,
            tcti: String? = nil, measurementPCR: Int = 23, enclavePath: String, primary: String,
            timeoutSeconds: Double = 60
        ) {
            self.dataDirectory = dataDirectory
            self.venueConfigPath = venueConfigPath
            self.attestation = attestation
            self.tcti = tcti
            self.measurementPCR = measurementPCR
            self.enclavePath = enclavePath
            self.primary = primary
            self.timeoutSeconds = timeoutSeconds
        }
    }

    /// The identity the standby now shares with the primary (public values).
    public struct Enrolled: Sendable, Equatable {
        /// The batch signer's address, 20 bytes.
        public var signer: [UInt8]
        /// The X25519 order-flow key, 32 bytes.
        public var enclaveKey: [UInt8]
    }

    public enum Failure: Error, CustomStringConvertible, Equatable {
        /// The primary enclave refused (its code, docs/REPLICATION.md §11.6).
        case refusedByPrimary(EnrollmentRefusal)
        /// The local worker refused what it was sent, or could not store the key.
        case refusedByStandby(EnrollmentRefusal, detail: String)
        /// The primary host answered something else (`Refusal` with another reason, an
        /// error frame, a closed connection).
        case primaryUnavailable(String)
        case workerFailed(String)
        case timedOut

        public var description: String {
            switch self {
            case .refusedByPrimary(let why): "the primary enclave refused the enrollment: \(why.label) (code \(why.rawValue))"
            case .refusedByStandby(let why, let detail):
                "the standby enclave refused: \(why.label) (code \(why.rawValue))" + (detail.isEmpty ? "" : ": \(detail)")
            case .primaryUnavailable(let why): "primary host: \(why)"
            case .workerFailed(let why): "standby worker: \(why)"
            case .timedOut: "the enrollment did not finish in time"
            }
        }
    }

    /// A hostile host's powers, for tests only: see the frame the standby host sends the
    /// primary (`enrollRequest`), and change the grant before the worker gets it.
    public struct Tap: Sendable {
        public var sawRequest: (@Sendable ([UInt8]) -> Void)?
        public var alterGrant: (@Sendable ([UInt8]) -> [UInt8])?
        public init(sawRequest: (@Sendable ([UInt8]) -> Void)? = nil, alterGrant: (@Sendable ([UInt8]) -> [UInt8])? = nil) {
            self.sawRequest = sawRequest
            self.alterGrant = alterGrant
        }
    }

    /// The storage key file the worker writes.
    public static func keyPath(dataDirectory: String) -> String { dataDirectory + "/enclave-storage.key" }

    /// Runs the whole exchange (blocking the calling thread; at most `timeoutSeconds`).
    public static func enroll(_ request: Request, tap: Tap = Tap()) throws(Failure) -> Enrolled {
        let deadline = Date().addingTimeInterval(request.timeoutSeconds)
        let keyPath = keyPath(dataDirectory: request.dataDirectory)
        if !FileManager.default.fileExists(atPath: request.dataDirectory) {
            do {
                try FileManager.default.createDirectory(
                    atPath: request.dataDirectory, withIntermediateDirectories: true, attributes: [.posixPermissions: 0o700])
            } catch { throw .workerFailed("cannot create \(request.dataDirectory): \(error)") }
        }
        guard !FileManager.default.fileExists(atPath: keyPath) else {
            throw .refusedByStandby(.storageKeyExists, detail: keyPath)
        }
        let tcti = request.attestation == .tpm ? (request.tcti ?? "device:/dev/tpmrm0") : request.tcti
        let arguments = [
            "--config", request.venueConfigPath, "--attestation", request.attestation.rawValue,
            "--measurement-pcr", String(request.measurementPCR), "--storage-key", keyPath, "--enroll",
        ] + (tcti.map { ["--tcti", $0] } ?? [])
        let worker: SpawnedEnclave
        do { worker = try EnclaveProcess.spawn(path: request.enclavePath, arguments: arguments) } catch {
            throw .workerFailed("\(error)")
        }
        let link = BlockingFD(worker.readFD, deadline: deadline)
        var finished = false
        defer {
            close(worker.writeFD)
            close(worker.readFD)
            // After `enrolled` the worker exits by itself; otherwise it is stopped.
            if !finished { kill(worker.pid, SIGKILL) }
            _ = EnclaveProcess.wait(pid: worker.pid)
        }
        func fromWorker(_ expected: LinkKind) throws(Failure) -> [UInt8] {
            guard let (kind, body) = link.readLinkMessage() else {
                throw link.timedOut ? .timedOut : .workerFailed("the worker's link closed (see its log)")
            }
            if kind == .enrollFailed {
                let code = body.count >= 2 ? UInt16(body[0]) << 8 | UInt16(body[1]) : 0
                throw .refusedByStandby(
                    EnrollmentRefusal(rawValue: code) ?? .malformedMessage,
                    detail: String(decoding: body.dropFirst(2), as: UTF8.self))
            }
            guard kind == expected else { throw .workerFailed("unexpected link message 0x\(String(kind.rawValue, radix: 16))") }
            return body
        }
        func toWorker(_ kind: LinkKind, _ body: [UInt8]) throws(Failure) {
            guard BlockingFD.writeAll(worker.writeFD, encodeLinkMessage(kind: kind, body: body)) else {
                throw .workerFailed("cannot write to the worker")
            }
        }

        let standbyNonce = try fromWorker(.enrollStart)
        guard standbyNonce.count == EnrollChallengeRequest.bodyLength else { throw .workerFailed("bad enrollStart") }
        let primary = try PrimaryConnection(address: request.primary, deadline: deadline)
        let challenge = try primary.ask(EnrollChallengeRequest(standbyNonce: standbyNonce).encode(), expecting: .enrollChallenge)
        try toWorker(.enrollChallenge, challenge)
        let evidence = try fromWorker(.enrollEvidence)
        guard challenge.count > EnrollChallenge.challengeLength else { throw .primaryUnavailable("short challenge") }
        let requestFrame = EnrollChallenge(
            challenge: Array(challenge[0..<EnrollChallenge.challengeLength]), evidence: evidence
        ).encode(as: .enrollRequest)
        tap.sawRequest?(requestFrame)
        var grant = try primary.ask(requestFrame, expecting: .enrollGrant)
        if let alter = tap.alterGrant { grant = alter(grant) }
        try toWorker(.enrollGrant, grant)
        let identity = try fromWorker(.enrolled)
        guard identity.count == 52 else { throw .workerFailed("bad enrolled message") }
        finished = true
        return Enrolled(signer: Array(identity[0..<20]), enclaveKey: Array(identity[20...]))
    }
}

/// The standby host's connection to the primary host's client listener: one request
/// frame, one answer.
private struct PrimaryConnection {
    let io: BlockingFD

    init(address: String, deadline: Date) throws(StandbyEnrollment.Failure) {
        guard let colon = address.lastIndex(of: ":"), let port = UInt16(address[address.index(after: colon)...]) else {
            throw .primaryUnavailable("bad address \(address)")
        }
        var hints = addrinfo()
        hints.ai_family = AF_UNSPEC
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var result: UnsafeMutablePointer<addrinfo>?
        let host = String(address[..<colon]).trimmingCharacters(in: CharacterSet(charactersIn: "[]"))
        guard getaddrinfo(host, String(port), &hints, &result) == 0, let first = result else {
            throw .primaryUnavailable("cannot resolve \(address)")
        }
        defer { freeaddrinfo(result) }
        var node: UnsafeMutablePointer<addrinfo>? = first
        while let ai = node {
            let s = socket(ai.pointee.ai_family, ai.pointee.ai_socktype | Int32(SOCK_CLOEXEC.rawValue), ai.pointee.ai_protocol)
            if s >= 0 {
                if connect(s, ai.pointee.ai_addr, ai.pointee.ai_addrlen) == 0 {
                    io = BlockingFD(s, deadline: deadline, owned: true)
                    return
                }
                close(s)
            }
            node = ai.pointee.ai_next
        }
        throw .primaryUnavailable("cannot connect to \(address) (errno \(errno))")
    }

    /// Sends `frame` and returns the body of the answer of type `expected`; a refusal
    /// with reason `enrollmentRefused` becomes `refusedByPrimary`.
    func ask(_ frame: [UInt8], expecting expected: MessageType) throws(StandbyEnrollment.Failure) -> [UInt8] {
        guard BlockingFD.writeAll(io.fd, frame) else { throw .primaryUnavailable("cannot send") }
        guard let head = io.readExactly(4) else { throw io.timedOut ? .timedOut : .primaryUnavailable("connection closed") }
        let length = Int(UInt32(head[0]) << 24 | UInt32(head[1]) << 16 | UInt32(head[2]) << 8 | UInt32(head[3]))
        guard length >= 2, length <= WireProtocol.maxFrameLength, let rest = io.readExactly(length) else {
            throw io.timedOut ? .timedOut : .primaryUnavailable("malformed answer")
        }
        guard rest[0] == WireProtocol.version, let type = MessageType(rawValue: rest[1]) else {
            throw .primaryUnavailable("malformed answer")
        }
        let body = Array(rest[2...])
        if type == expected { return body }
        if type == .refusal, let refusal = try? body.withUnsafeBytes({ try Refusal.decode(body: $0) }) {
            if refusal.reason == .enrollmentRefused, let code = UInt16(exactly: refusal.reference),
               let why = EnrollmentRefusal(rawValue: code) {
                throw .refusedByPrimary(why)
            }
            throw .primaryUnavailable("refused: \(refusal.reason.label)")
        }
        throw .primaryUnavailable("unexpected answer type 0x\(String(type.rawValue, radix: 16))")
    }
}

/// Blocking reads with one overall deadline (poll), and whole writes.
private final class BlockingFD {
    let fd: Int32
    let deadline: Date
    let owned: Bool
    private(set) var timedOut = false

    init(_ fd: Int32, deadline: Date, owned: Bool = false) {
        self.fd = fd
        self.deadline = deadline
        self.owned = owned
    }

    deinit { if owned { close(fd) } }

    func readExactly(_ n: Int) -> [UInt8]? {
        var out = [UInt8](repeating: 0, count: n)
        var got = 0
        while got < n {
            let left = deadline.timeIntervalSinceNow
            guard left > 0 else { timedOut = true; return nil }
            var pfd = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            let ready = poll(&pfd, 1, Int32(min(left * 1000 + 1, 60_000)))
            if ready < 0 && errno == EINTR { continue }
            if ready == 0 { continue }
            let r = out.withUnsafeMutableBytes { read(fd, $0.baseAddress! + got, n - got) }
            if r < 0 && errno == EINTR { continue }
            if r <= 0 { return nil }
            got += r
        }
        return out
    }

    func readLinkMessage() -> (LinkKind, [UInt8])? {
        guard let head = readExactly(5) else { return nil }
        let length = Int(UInt32(head[0]) << 24 | UInt32(head[1]) << 16 | UInt32(head[2]) << 8 | UInt32(head[3]))
        guard length >= 1, length <= 1 << 20, let kind = LinkKind(rawValue: head[4]) else { return nil }
        guard let body = length == 1 ? [] : readExactly(length - 1) else { return nil }
        return (kind, body)
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        var offset = 0
        while offset < bytes.count {
            let n = bytes.withUnsafeBytes { send(fd, $0.baseAddress! + offset, bytes.count - offset, Int32(MSG_NOSIGNAL)) }
            if n < 0 && errno == ENOTSOCK {
                let w = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + offset, bytes.count - offset) }
                if w < 0 { if errno == EINTR { continue }; return false }
                offset += w
                continue
            }
            if n < 0 { if errno == EINTR { continue }; return false }
            offset += n
        }
        return true
    }
}
