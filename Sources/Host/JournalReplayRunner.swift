#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Journal
import Synchronization
import Wire

/// `sealstream-host replay`: runs a worker with `--replay` in a separate process, feeds it
/// the journal from genesis with `replayEnd` (P = 0), and compares every header it
/// publishes with `outputs/batches.jsonl` (docs/DURABILITY.md §4). Changes nothing on disk.
public enum JournalReplayRunner {
    /// `arguments`: the worker's arguments (without `--replay`). `progress(fed, total)` is
    /// called with journal bytes written to the worker.
    /// `fromSnapshot`: start from `DATA/snapshots/<n>.snap` (docs/DURABILITY.md §6.7)
    /// instead of genesis: the snapshot goes first, then the journal from its record `n`,
    /// and `replayEnd` names the last header the snapshot includes (P = its batch index).
    /// `environment`: the worker's (empty by default, as `run` starts it: the worker refuses
    /// variables its measurement does not cover); nil passes this process's on (a test's
    /// stand-in worker).
    public static func run(
        dataDirectory: String, enclave: String, arguments: [String], fromSnapshot: UInt64? = nil,
        environment: [String: String]? = [:], progress: ((Int, Int) -> Void)? = nil
    ) throws -> ReplayVerdict {
        signal(SIGPIPE, SIG_IGN)
        let directory = dataDirectory + "/journal"
        let report = try JournalStore.scan(directory: directory, repair: false)
        let published = ReplayComparison.lines(
            of: [UInt8](FileManager.default.contents(atPath: dataDirectory + "/outputs/batches.jsonl") ?? Data()))
        var snapshot: (header: SnapshotHeader, file: [UInt8], segment: String, offset: Int)?
        if let n = fromSnapshot {
            let path = dataDirectory + "/snapshots/" + SnapshotStore.fileName(n)
            guard let file = FileManager.default.contents(atPath: path).map([UInt8].init) else {
                throw ReplayError.worker("no snapshot \(path)")
            }
            let header = try SnapshotHeader.parse(file)
            guard header.recordSequence == n, UInt64(file.count) == header.sealedLength else {
                throw ReplayError.worker("\(path): its header names record \(header.recordSequence) and \(header.sealedLength) bytes")
            }
            guard header.batchIndex <= UInt64(published.count) else {
                throw ReplayError.worker("\(path) includes batch \(header.batchIndex - 1), which is not published")
            }
            guard let at = try JournalStore.locate(directory: directory, sequence: n) else {
                throw ReplayError.worker("the journal has no record \(n) (the snapshot's own)")
            }
            snapshot = (header, file, at.segment, at.offset)
        }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: enclave)
        process.arguments = arguments + ["--replay"]
        if let environment { process.environment = environment }
        let input = Pipe()
        let output = Pipe()
        process.standardInput = input
        process.standardOutput = output
        try process.run()
        let reader = LinkReader(fd: output.fileHandleForReading.fileDescriptor, comparison: ReplayComparison(published: published, first: Int(snapshot?.header.batchIndex ?? 0)))
        startThread(named: "replay-reader") { reader.run() }
        let fd = input.fileHandleForWriting.fileDescriptor
        defer { process.waitUntilExit() }
        guard reader.hello.wait(timeout: .now() + 120) == .success, reader.state.withLock({ $0.saidHello }) else {
            process.terminate()
            throw ReplayError.worker("no hello (see its log lines above)")
        }
        if let snapshot {
            for message in HostLinkMessage.snapshotMessages(snapshot.file) {
                guard writeAll(fd, message.encode()) else { break }
            }
        }
        let segments = snapshot.map { s in Array(report.segments.drop { $0.fileName != s.segment }) } ?? report.segments
        // Record bytes only: a preallocated segment's free space is not fed (DURABILITY §3.2).
        let total = report.segmentBytes.reduce(0, +)
        var fed = 0
        for name in segments {
            let i = report.segments.firstIndex(of: name)!
            guard var data = FileManager.default.contents(atPath: directory + "/" + name.fileName).map([UInt8].init) else {
                throw JournalStoreError.io(path: directory + "/" + name.fileName, errno: EIO)
            }
            if i == report.segments.count - 1 { data = Array(data.prefix(report.lastSegmentBytes)) }
            if let snapshot, name.fileName == snapshot.segment { data = Array(data.dropFirst(snapshot.offset)) }
            for chunk in EnclaveSupervisor.replayChunks(data) {
                guard writeAll(fd, HostLinkMessage.journalReplay(records: chunk).encode()) else { break }
                fed += chunk.count
                progress?(fed, total)
            }
        }
        // From a snapshot, P is its batch index and the line its last header's, which the
        // worker matches by hash (§6.7); from genesis P = 0.
        let p = Int(snapshot?.header.batchIndex ?? 0)
        let lastLine = p > 0 ? published[p - 1] : []
        _ = writeAll(fd, HostLinkMessage.replayEnd(ReplayEnd(published: UInt64(p), lastHeaderLine: Array(lastLine))).encode())
        reader.done.wait()
        try? input.fileHandleForWriting.close()
        process.waitUntilExit()
        let state = reader.state.withLock { $0 }
        if let refused = state.snapshotRejected {
            throw ReplayError.worker("the worker refused the snapshot (record \(refused.sequence), reason \(refused.reason))")
        }
        if let rejected = state.rejected {
            let location = try? JournalStore.locate(directory: directory, sequence: rejected.sequence)
            throw ReplayError.rejected(JournalRejectedError(
                sequence: rejected.sequence, reason: rejected.reason, segment: location?.segment, offset: location?.offset))
        }
        guard state.recovered else { throw ReplayError.worker("exited without recovered (\(process.terminationStatus))") }
        guard process.terminationStatus == 0 else { throw ReplayError.worker("exit status \(process.terminationStatus)") }
        return state.comparison.verdict
    }

    static func writeAll(_ fd: Int32, _ bytes: [UInt8]) -> Bool {
        bytes.withUnsafeBytes { raw in
            var done = 0
            while done < raw.count {
                let n = write(fd, raw.baseAddress! + done, raw.count - done)
                if n < 0 {
                    if errno == EINTR { continue }
                    return false
                }
                done += n
            }
            return true
        }
    }
}

/// Reads the replaying worker's link messages on its own thread.
final class LinkReader: Sendable {
    struct State: Sendable {
        var saidHello = false
        var recovered = false
        var rejected: (sequence: UInt64, reason: UInt8)?
        var snapshotRejected: (sequence: UInt64, reason: UInt8)?
        var comparison: ReplayComparison
    }

    let fd: Int32
    let state: Mutex<State>
    let hello = DispatchSemaphore(value: 0)
    let done = DispatchSemaphore(value: 0)

    init(fd: Int32, comparison: ReplayComparison) {
        self.fd = fd
        state = Mutex(State(comparison: comparison))
    }

    func run() {
        defer {
            hello.signal()
            done.signal()
        }
        var buffer: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 1 << 20)
        while true {
            let n = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress!, $0.count) }
            if n < 0 && errno == EINTR { continue }
            if n <= 0 { return }
            buffer += chunk[0..<n]
            var consumed = 0
            while buffer.count - consumed >= 5 {
                let length = Int(buffer[consumed]) << 24 | Int(buffer[consumed + 1]) << 16 | Int(buffer[consumed + 2]) << 8
                    | Int(buffer[consumed + 3])
                guard length >= 1, buffer.count - consumed >= 4 + length else { break }
                let kind = LinkKind(rawValue: buffer[consumed + 4])
                let body = Array(buffer[(consumed + 5)..<(consumed + 4 + length)])
                consumed += 4 + length
                handle(kind, body)
            }
            buffer.removeFirst(consumed)
        }
    }

    private func handle(_ kind: LinkKind?, _ body: [UInt8]) {
        switch kind {
        case .hello:
            state.withLock { $0.saidHello = true }
            hello.signal()
        case .batchHeader: state.withLock { $0.comparison.header(body) }
        case .recovered: state.withLock { $0.recovered = true }
        case .journalRejected where body.count == 9:
            let sequence = body[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            state.withLock { $0.rejected = (sequence, body[8]) }
        case .snapshotRejected where body.count == 9:
            let sequence = body[0..<8].reduce(UInt64(0)) { $0 << 8 | UInt64($1) }
            state.withLock { $0.snapshotRejected = (sequence, body[8]) }
        default: break
        }
    }
}
