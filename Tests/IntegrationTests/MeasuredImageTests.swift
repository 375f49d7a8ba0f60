#if canImport(Glibc)
import Glibc
#endif
import Foundation
import TestSupport
import Testing

/// Everything that executes in the worker is measured (docs/ATTESTATION.md §2): a library
/// planted beside the enclave or preloaded through the environment either never runs or
/// makes `attestation verify` fail at `loadedObjects`.
@Suite("The measured worker runs only measured code", .serialized)
struct MeasuredImageTests {
    /// The reproducible enclave of scripts/build-enclave.sh (scripts/test.sh builds it).
    static func reproducibleEnclave() throws -> String {
        let path = ProcessInfo.processInfo.environment["SEALSTREAM_REPRODUCIBLE_ENCLAVE"]
            ?? Binaries.packageRoot.appendingPathComponent(".build/reproducible/sealstream-enclave").path
        guard FileManager.default.isExecutableFile(atPath: path) else {
            throw TestFailure("\(path) is missing: run scripts/build-enclave.sh first (scripts/test.sh does)")
        }
        return path
    }

    /// A copy of the system's libsodium with one byte appended: it loads and works like
    /// the real one, but it is not the file any policy names.
    static func shim(in directory: URL, name: String = "libsodium.so.23") throws -> String {
        let real = URL(fileURLWithPath: "/usr/lib/x86_64-linux-gnu/libsodium.so.23").resolvingSymlinksInPath()
        var bytes = try Data(contentsOf: real)
        bytes.append(0x0a)
        let path = directory.appendingPathComponent(name).path
        try bytes.write(to: URL(fileURLWithPath: path))
        return path
    }

    /// `enclave` copied (same bytes, same measurement) into a directory of its own.
    static func copy(_ enclave: String, into directory: URL) throws -> String {
        let target = directory.appendingPathComponent("sealstream-enclave").path
        try FileManager.default.copyItem(atPath: enclave, toPath: target)
        return target
    }

    /// Host on `enclave`, evidence for a fresh nonce, verified against a policy that
    /// `attestation measure` wrote for `measured`; returns the failing checks and the
    /// evidence's loaded-object paths.
    static func verify(running enclave: String, measured: String, label: String) throws -> (failing: Set<String>, paths: [String]) {
        let host = try HostProcess(label: label, extraArguments: ["--enclave", enclave])
        defer { _ = host.stop() }
        let dir = host.workDirectory
        let cli = try Binaries.path("attestation")
        let policy = dir.appendingPathComponent("policy.json").path
        let measure = try runCommand(cli, ["measure", "--enclave", measured, "--config", Binaries.venueConfig,
                                           "--allow-mode", "software", "--policy-out", policy])
        guard measure.status == 0 else { throw TestFailure("measure: \(measure.stderr)") }
        let evidence = dir.appendingPathComponent("evidence.json").path
        let challenge = try runCommand(cli, ["challenge", "--url", "http://" + host.httpAddress, "--out", evidence])
        guard challenge.status == 0 else { throw TestFailure("challenge: \(challenge.stderr)") }
        let nonce = String(challenge.stdout.split(separator: "\n").first { $0.hasPrefix("nonce ") }?.dropFirst(6) ?? "")
        let r = try runCommand(cli, ["verify", "--evidence", evidence, "--policy", policy, "--nonce", nonce,
                                     "--allow-simulated", "--json"])
        let report = try JSONSerialization.jsonObject(with: Data(r.stdout.utf8)) as? [String: Any] ?? [:]
        let checks = report["checks"] as? [[String: Any]] ?? []
        let failing = Set(checks.filter { $0["pass"] as? Bool == false }.compactMap { $0["check"] as? String })
        #expect((r.status == 0) == failing.isEmpty)
        let parsed = try JSONSerialization.jsonObject(with: Data(contentsOf: URL(fileURLWithPath: evidence))) as? [String: Any]
        let objects = parsed?["loadedObjects"] as? [[String: Any]] ?? []
        return (failing, objects.compactMap { $0["path"] as? String })
    }

    @Test("The reproducible enclave has no RUNPATH, and a library planted beside it never loads")
    func plantedLibraryIgnored() throws {
        let enclave = try Self.reproducibleEnclave()
        let dynamic = try runCommand("/usr/bin/readelf", ["-d", enclave])
        #expect(dynamic.status == 0)
        #expect(!dynamic.stdout.contains("RUNPATH") && !dynamic.stdout.contains("RPATH"), "\(dynamic.stdout)")
        #expect(!dynamic.stdout.contains("libswiftCore"), "the Swift runtime is linked in, not loaded")

        let dir = try makeScratchDirectory("planted-repro")
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = try Self.copy(enclave, into: dir)
        _ = try Self.shim(in: dir)
        let result = try Self.verify(running: copy, measured: enclave, label: "planted-repro")
        #expect(result.failing.isEmpty, "\(result.failing)")
        #expect(!result.paths.isEmpty && !result.paths.contains { $0.hasPrefix(dir.path) }, "\(result.paths)")
        #expect(result.paths.contains { $0.contains("/libsodium.so.23") })
    }

    @Test("A library found through RUNPATH beside the enclave fails verify at loadedObjects")
    func plantedLibraryDetected() throws {
        // The development build still has RUNPATH $ORIGIN: the loader takes the shim.
        let enclave = try Binaries.path("sealstream-enclave")
        let dir = try makeScratchDirectory("planted-debug")
        defer { try? FileManager.default.removeItem(at: dir) }
        let copy = try Self.copy(enclave, into: dir)
        let shim = try Self.shim(in: dir)
        let result = try Self.verify(running: copy, measured: enclave, label: "planted-debug")
        #expect(result.failing == ["loadedObjects"], "\(result.failing)")
        #expect(result.paths.contains(URL(fileURLWithPath: shim).resolvingSymlinksInPath().path), "\(result.paths)")
    }

    @Test("LD_PRELOAD or another loader variable: the worker refuses to start", arguments: [
        "LD_PRELOAD", "LD_LIBRARY_PATH", "LD_AUDIT", "OPENSSL_CONF", "SWIFT_BACKTRACE",
    ])
    func preloadRefused(variable: String) throws {
        let enclave = try Self.reproducibleEnclave()
        let dir = try makeScratchDirectory("preload")
        defer { try? FileManager.default.removeItem(at: dir) }
        let shim = try Self.shim(in: dir, name: "shim.so")
        let value = variable == "LD_LIBRARY_PATH" ? dir.path : shim
        let process = Process()
        process.executableURL = URL(fileURLWithPath: enclave)
        process.arguments = ["--config", Binaries.venueConfig]
        process.environment = [variable: value]
        let stdin = Pipe(), stdout = Pipe(), stderr = Pipe()
        process.standardInput = stdin
        process.standardOutput = stdout
        process.standardError = stderr
        try process.run()
        try stdin.fileHandleForWriting.close()
        let err = String(decoding: stderr.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        let out = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        #expect(process.terminationStatus == 78, "\(err)")
        #expect(err.contains("\"event\":\"unmeasured_environment\"") && err.contains(variable), "\(err)")
        // The worker logs names, never values (ld.so's own complaint about LD_AUDIT aside).
        let logged = err.split(separator: "\n").filter { $0.hasPrefix("{") }
        #expect(!logged.isEmpty && !logged.contains { $0.contains(shim) }, "\(logged)")
        #expect(out.isEmpty, "no hello, so no evidence, ever")
    }

    @Test("The policy's loaded objects are what the running worker maps (loader resolution agrees with the kernel)")
    func measureAgreesWithWorker() throws {
        let enclave = try Self.reproducibleEnclave()
        let result = try Self.verify(running: enclave, measured: enclave, label: "image-agree")
        #expect(result.failing.isEmpty, "\(result.failing)")
        for expected in ["/ld-linux-x86-64.so.2", "/libc.so.6", "/libcrypto.so.3", "/libtss2-esys.so", "/libtss2-tcti-swtpm.so"] {
            #expect(result.paths.contains { $0.contains(expected) }, "\(expected) in \(result.paths)")
        }
        #expect(!result.paths.contains { $0.contains("tctildr") }, "no TCTI loader: nothing is dlopened later")
    }
}
