#if canImport(Glibc)
import Glibc
#endif
import Foundation

/// A three-node JetStream cluster on loopback (`scripts/cluster.sh`), one per test.
public final class TestCluster {
    static let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("scripts/cluster.sh").path
    public let directory: String
    /// Client URLs as `--journal` and libnats take them: `nats://h:p,nats://h:p,nats://h:p`.
    public let urls: String
    /// The line `cluster.sh` prints, as `sealstream-host run --journal` takes it:
    /// `nats://h:p,h:p,h:p`.
    public let journalArgument: String

    public init() throws {
        directory = try makeScratchDirectory("nats").path
        let out = try Self.run(["start", directory])
        guard out.status == 0, let line = out.stdout.split(separator: "\n").last, line.hasPrefix("nats://") else {
            throw TestClusterError(text: "cluster.sh start failed (install nats-server: scripts/bootstrap.sh): \(out.stdout)")
        }
        journalArgument = String(line)
        urls = String(line).replacingOccurrences(of: "nats://", with: "")
            .split(separator: ",").map { "nats://" + $0 }.joined(separator: ",")
    }

    deinit {
        _ = try? Self.run(["stop", directory])
        try? FileManager.default.removeItem(atPath: directory)
    }

    /// Restarts node `i` (after `kill`) with its state and ports.
    public func start(node i: Int) throws {
        _ = try Self.run(["start-node", directory, String(i)])
    }

    /// SIGKILL of node `i` (1-3).
    public func kill(node i: Int) throws {
        let pid = try String(contentsOfFile: "\(directory)/n\(i)/nats.pid", encoding: .utf8)
        Glibc.kill(pid_t(pid.trimmingCharacters(in: .whitespacesAndNewlines))!, SIGKILL)
    }

    /// Node `i`'s `/healthz` says ok (JetStream current).
    public func healthy(node i: Int) -> Bool {
        guard let ports = try? String(contentsOfFile: "\(directory)/http-ports", encoding: .utf8)
            .split(separator: " ").map({ $0.trimmingCharacters(in: .whitespacesAndNewlines) }),
            ports.count == 3,
            let out = try? Self.shell("curl -fsS http://127.0.0.1:\(ports[i - 1])/healthz")
        else { return false }
        return out.status == 0 && out.stdout.contains("ok")
    }

    public static func shell(_ command: String) throws -> (status: Int32, stdout: String) {
        let out = try runTool("/bin/bash", ["-c", command])
        return (out.status, out.text)
    }

    /// `scripts/cluster.sh ARGUMENTS` (through files: the servers it starts outlive it).
    public static func run(_ arguments: [String]) throws -> (status: Int32, stdout: String) {
        let out = try runTool("/bin/bash", [script] + arguments)
        return (out.status, out.combined)
    }
}

public struct TestClusterError: Error, CustomStringConvertible {
    public var text: String
    public var description: String { text }
}

