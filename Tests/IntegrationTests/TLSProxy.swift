import Foundation
import TestSupport
#if canImport(Glibc)
import Glibc
#endif

/// `scripts/tls-proxy.py` in front of a host's HTTP listener, as an operator serves the
/// venue page and the feed over TLS (docs/MARKETDATA.md §6–§7), with a self-signed P-256
/// certificate for 127.0.0.1 made in its scratch directory; `inject`: text messages it
/// sends the client after each WebSocket upgrade, before the host's own.
final class TLSProxy {
    let process = Process()
    let directory: URL
    private(set) var port = 0
    /// The proxy's certificate (PEM), self-signed: the CA a client must be given to trust it.
    var certificate: URL { directory.appendingPathComponent("cert.pem") }

    init(to address: String, inject messages: [String] = []) throws {
        directory = try makeScratchDirectory("tls-proxy")
        try runTool(try executable("openssl", package: "openssl"), [
            "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes", "-days", "1",
            "-subj", "/CN=127.0.0.1", "-addext", "subjectAltName=IP:127.0.0.1", "-keyout", "key.pem", "-out", "cert.pem",
        ], in: directory).succeed("openssl req (the proxy's certificate)")
        let portFile = directory.appendingPathComponent("port")
        var arguments = [
            Binaries.packageRoot.appendingPathComponent("scripts/tls-proxy.py").path,
            "--cert", certificate.path,
            "--key", directory.appendingPathComponent("key.pem").path,
            "--to", address, "--port-file", portFile.path,
        ]
        if !messages.isEmpty {
            let inject = directory.appendingPathComponent("inject.txt")
            try Data(messages.map { $0 + "\n" }.joined().utf8).write(to: inject)
            arguments += ["--inject-after-upgrade", inject.path]
        }
        process.executableURL = URL(fileURLWithPath: try executable("python3", package: "python3"))
        process.arguments = arguments
        let logURL = directory.appendingPathComponent("proxy.log")
        try launch(process, loggingTo: logURL)
        let deadline = Date().addingTimeInterval(15)
        while Date() < deadline, process.isRunning {
            if let text = try? String(contentsOf: portFile, encoding: .utf8),
               let port = Int(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                self.port = port
                return
            }
            usleep(20_000)
        }
        let text = (try? String(contentsOf: logURL, encoding: .utf8)) ?? ""
        stop()
        throw ToolFailure("scripts/tls-proxy.py did not start: \(text)")
    }

    deinit { stop() }

    func stop() {
        if process.isRunning {
            process.terminate()
            let deadline = Date().addingTimeInterval(5)
            while process.isRunning && Date() < deadline { usleep(20_000) }
            if process.isRunning { kill(process.processIdentifier, SIGKILL) }
            process.waitUntilExit()
        }
        try? FileManager.default.removeItem(at: directory)
    }
}
