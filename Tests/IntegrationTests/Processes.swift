#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import Testing

/// Where the built executables are: `SEALSTREAM_BIN_DIR`, or this package's `.build/debug`.
/// `scripts/test.sh` builds them before running the tests.
enum Binaries {
    static let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()

    static var directory: URL {
        if let dir = ProcessInfo.processInfo.environment["SEALSTREAM_BIN_DIR"] { return URL(fileURLWithPath: dir) }
        return packageRoot.appendingPathComponent(".build/debug")
    }

    static func path(_ name: String) throws -> String {
        let p = directory.appendingPathComponent(name).path
        guard FileManager.default.isExecutableFile(atPath: p) else {
            throw TestFailure("\(p) is missing: run `swift build` first (scripts/test.sh does)")
        }
        return p
    }

    static var venueConfig: String { packageRoot.appendingPathComponent("scripts/demo/venue.json").path }

    /// A policy for this build's enclave and `venueConfig` (the demo venue unless given) that accepts software mode,
    /// written by `attestation measure` into `directory`; with the arguments clients
    /// need to use it.
    static func softwarePolicyArguments(in directory: URL, venueConfig: String = Binaries.venueConfig) throws -> [String] {
        let policy = directory.appendingPathComponent("policy.json").path
        if !FileManager.default.fileExists(atPath: policy) {
            let r = try runCommand(try Binaries.path("attestation"), [
                "measure", "--enclave", try Binaries.path("sealstream-enclave"), "--config", venueConfig, "--allow-mode", "software",
                "--policy-out", policy])
            guard r.status == 0 else { throw TestFailure("attestation measure failed: \(r.stderr)") }
        }
        return ["--policy", policy, "--allow-simulated"]
    }
}

/// A host that never listened: its log, and its exit status if it exited.
struct HostStartFailure: Error, CustomStringConvertible {
    let log: String
    let status: Int32?
    var description: String { "host did not start (exit \(status.map(String.init) ?? "none")); log:\n\(log)" }
}

struct TestFailure: Error, CustomStringConvertible {
    let description: String
    init(_ d: String) { description = d }
}


/// A real `sealstream-host` (which spawns a real `sealstream-enclave`) on a free port.
final class HostProcess: @unchecked Sendable {
    let process = Process()
    let workDirectory: URL
    let dataDirectory: URL
    let logURL: URL
    private(set) var address = ""
    /// Leave the work directory in place at deinit (a later host reuses it); the test
    /// removes it.
    var keepsWorkDirectory = false

    /// `workDirectory`: reuse one (and its data directory) to restart a host on the same
    /// data; a fresh scratch directory when nil.
    /// `listen`, `http`: the client port's and the HTTP API's addresses (default: free
    /// loopback ports). `waitForListen` false: returns once host.json exists (a standby
    /// names no `listen` until it takes over; `waitForListen(seconds:)` waits for that).
    /// `launcher`: a command the host runs under (e.g. `setpriv` with fewer privileges).
    init(
        label: String, venueConfig: String? = nil, extraArguments: [String] = [], workDirectory reuse: URL? = nil,
        listen: String = "127.0.0.1:0", http: String = "127.0.0.1:0", waitForListen: Bool = true, launcher: [String] = []
    ) throws {
        workDirectory = try reuse ?? makeScratchDirectory(label)
        keepsWorkDirectory = reuse != nil
        dataDirectory = workDirectory.appendingPathComponent("data")
        // The previous host's host.json names its ports until the new host removes it.
        try? FileManager.default.removeItem(at: dataDirectory.appendingPathComponent("host.json"))
        logURL = workDirectory.appendingPathComponent(reuse == nil ? "host.log" : "host-\(UUID().uuidString.prefix(6)).log")
        let host = try Binaries.path("sealstream-host")
        process.executableURL = URL(fileURLWithPath: launcher.first ?? host)
        process.arguments = (launcher.isEmpty ? [] : Array(launcher.dropFirst()) + [host])
            + ["run", "--data-dir", dataDirectory.path, "--listen", listen, "--http", http,
               "--config", venueConfig ?? Binaries.venueConfig] + extraArguments
        try launch(process, loggingTo: logURL)
        let deadline = Date().addingTimeInterval(30)
        while Date() < deadline {
            if let info = try? hostInfo(), let listen = info["listen"] as? String {
                address = listen
                return
            }
            if !waitForListen, (try? hostInfo()) != nil { return }
            guard process.isRunning else { break }
            usleep(20_000)
        }
        let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        process.terminate()
        throw HostStartFailure(log: text, status: process.isRunning ? nil : process.terminationStatus)
    }

    var pid: pid_t { process.processIdentifier }

    /// Waits until host.json names a `listen` address (a standby that took over); true then.
    func waitForListen(seconds: Double) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if let info = try? hostInfo(), let listen = info["listen"] as? String {
                address = listen
                return true
            }
            guard process.isRunning else { return false }
            usleep(5_000)
        }
        return false
    }

    func hostInfo() throws -> [String: Any] {
        let data = try Data(contentsOf: dataDirectory.appendingPathComponent("host.json"))
        return try JSONSerialization.jsonObject(with: data) as? [String: Any] ?? [:]
    }

    /// HOST:PORT of the HTTP API.
    var httpAddress: String { (try? hostInfo())?["http"] as? String ?? "" }

    var enclavePid: pid_t { pid_t((try? hostInfo())?["enclavePid"] as? Int ?? 0) }
    var enclaveStarts: Int { (try? hostInfo())?["enclaveStarts"] as? Int ?? 0 }

    var log: String { (try? String(contentsOf: logURL, encoding: .utf8)) ?? "" }

    /// Parsed JSON log lines.
    var logEvents: [[String: String]] {
        log.split(separator: "\n").compactMap {
            (try? JSONSerialization.jsonObject(with: Data($0.utf8))) as? [String: String]
        }
    }

    /// SIGTERM, then wait for a graceful exit; returns the exit status.
    @discardableResult
    func stop(timeoutSeconds: Double = 20) -> Int32 {
        guard process.isRunning else { return process.terminationStatus }
        kill(pid, SIGTERM)
        let deadline = Date().addingTimeInterval(timeoutSeconds)
        while process.isRunning && Date() < deadline { usleep(20_000) }
        if process.isRunning {
            kill(pid, SIGKILL)
            process.waitUntilExit()
            return -1
        }
        return process.terminationStatus
    }

    func metric(_ name: String) -> Double? {
        guard let text = try? String(contentsOf: dataDirectory.appendingPathComponent("metrics.prom"), encoding: .utf8) else { return nil }
        for line in text.split(separator: "\n") where line.hasPrefix(name + " ") {
            return Double(line.split(separator: " ").last!)
        }
        return nil
    }

    deinit {
        if process.isRunning { kill(pid, SIGKILL); process.waitUntilExit() }
        if !keepsWorkDirectory { try? FileManager.default.removeItem(at: workDirectory) }
    }
}

/// A loopback TCP port that was free a moment ago (bound to port 0, then closed).
func freeLoopbackPort() throws -> UInt16 {
    let s = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard s >= 0 else { throw TestFailure("socket: errno \(errno)") }
    defer { close(s) }
    var addr = sockaddr_in()
    addr.sin_family = sa_family_t(AF_INET)
    addr.sin_addr.s_addr = inet_addr("127.0.0.1")
    var len = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &addr) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { p in
            bind(s, p, len) == 0 && getsockname(s, p, &len) == 0
        }
    }
    guard bound else { throw TestFailure("bind: errno \(errno)") }
    return UInt16(bigEndian: addr.sin_port)
}

/// Runs a command to completion; returns (status, stdout, stderr).
func runCommand(_ path: String, _ arguments: [String]) throws -> (status: Int32, stdout: String, stderr: String) {
    let output = try runTool(path, arguments)
    return (output.status, output.text, output.stderr)
}

/// Searches the readable memory of process `pid` for `needle` via /proc/PID/maps and
/// /proc/PID/mem (needs ptrace permission over the process: root here).
func processMemoryContains(pid: pid_t, needle: [UInt8]) throws -> Bool {
    let maps = try String(contentsOfFile: "/proc/\(pid)/maps", encoding: .utf8)
    let fd = open("/proc/\(pid)/mem", O_RDONLY)
    guard fd >= 0 else { throw TestFailure("cannot open /proc/\(pid)/mem: errno \(errno)") }
    defer { close(fd) }
    var scannedBytes = 0
    for line in maps.split(separator: "\n") {
        let fields = line.split(separator: " ", omittingEmptySubsequences: true)
        guard fields.count >= 2, fields[1].hasPrefix("r") else { continue }
        if fields.count >= 6, fields[5] == "[vvar]" || fields[5] == "[vsyscall]" { continue }
        let range = fields[0].split(separator: "-")
        guard let start = UInt64(range[0], radix: 16), let end = UInt64(range[1], radix: 16) else { continue }
        var offset = start
        var carry: [UInt8] = []
        while offset < end {
            let chunk = Int(min(end - offset, 1 << 20))
            var buffer = [UInt8](repeating: 0, count: chunk)
            let n = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, chunk, off_t(offset)) }
            if n <= 0 { break }
            scannedBytes += n
            let window = carry + buffer[0..<n]
            if occurs(needle, in: window) { return true }
            carry = Array(window.suffix(needle.count - 1))
            offset += UInt64(n)
        }
    }
    if scannedBytes == 0 { throw TestFailure("read no memory of pid \(pid)") }
    return false
}


/// Every regular file under `directory`, recursively.
func filesUnder(_ directory: URL) -> [URL] {
    guard let e = FileManager.default.enumerator(at: directory, includingPropertiesForKeys: nil) else { return [] }
    return e.compactMap { $0 as? URL }.filter { (try? $0.resourceValues(forKeys: [.isRegularFileKey]).isRegularFile) == true }
}

/// A mutable value shared with one helper thread, guarded by a lock.
final class Box<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var _value: T
    init(_ value: T) { _value = value }
    var value: T {
        get { lock.withLock { _value } }
        set { lock.withLock { _value = newValue } }
    }
    func mutate(_ body: (inout T) -> Void) { lock.withLock { body(&_value) } }
}

/// A real swtpm started by scripts/swtpm.sh on a Unix socket under `directory/tpm`, with
/// its throwaway CA; `stop()` ends it (tests defer it).
struct SwtpmInstance {
    let directory: String
    /// `swtpm:path=…`, for `--tcti`.
    let tcti: String
    /// PEM file of the CA's root and issuer, for `--swtpm-ek-root`.
    let ekRoots: String

    init(under directory: URL) throws {
        self.directory = directory.appendingPathComponent("tpm").path
        let started = try runCommand("/usr/bin/env", ["SWTPM_TRANSPORT=unix", "bash", Self.script, "start", self.directory])
        guard started.status == 0 else { throw TestFailure("swtpm did not start: \(started.stderr)") }
        let info = try JSONSerialization.jsonObject(with: Data(started.stdout.utf8)) as? [String: Any] ?? [:]
        guard let tcti = info["tcti"] as? String, let roots = info["ekRoots"] as? String else {
            throw TestFailure("scripts/swtpm.sh printed no tcti/ekRoots: \(started.stdout)")
        }
        self.tcti = tcti
        ekRoots = roots
    }

    static var script: String { Binaries.packageRoot.appendingPathComponent("scripts/swtpm.sh").path }

    /// The demo venue with an `enrollment` section trusting the EK CAs of `tpms` (their
    /// throwaway root and issuer, docs/REPLICATION.md §11.2), written to `directory`/
    /// venue.json: one config every host of the test shares, since its hash is compared.
    static func venueTrusting(_ tpms: [SwtpmInstance], in directory: URL) throws -> String {
        var config = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: Binaries.venueConfig)))
            as! [String: Any]
        var roots: [String] = []
        for tpm in tpms {
            for name in ["swtpm-localca-rootca-cert.pem", "issuercert.pem"] {
                roots.append(try String(contentsOfFile: tpm.directory + "/ca/" + name, encoding: .utf8))
            }
        }
        config["enrollment"] = ["swtpmEKRoots": roots]
        let path = directory.appendingPathComponent("venue.json").path
        try JSONSerialization.data(withJSONObject: config, options: [.sortedKeys]).write(to: URL(fileURLWithPath: path))
        return path
    }

    func stop() { _ = try? runCommand("/usr/bin/env", ["bash", Self.script, "stop", directory]) }
}
