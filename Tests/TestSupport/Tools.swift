import Foundation

// Running command-line tools (openssl, tpm2-tools, swtpm, the project's own executables)
// from tests.

/// A tool that could not run, or ran and failed.
public struct ToolFailure: Error, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

/// What a finished tool left behind.
public struct ToolOutput: Sendable {
    public let status: Int32
    public let stdout: Data
    public let stderr: String

    /// Standard output as UTF-8 text.
    public var text: String { String(decoding: stdout, as: UTF8.self) }

    /// Standard output, then standard error, as text: for messages and `contains` checks.
    public var combined: String { text + stderr }

    /// Throws with the tool's standard error unless it exited 0.
    public func succeed(_ what: String) throws {
        guard status == 0 else { throw ToolFailure("\(what) failed (status \(status)): \(stderr)") }
    }
}

/// Finds `name` on PATH, or fails with an install hint naming the Debian `package`.
public func executable(_ name: String, package: String) throws -> String {
    let path = ProcessInfo.processInfo.environment["PATH"] ?? "/usr/local/bin:/usr/bin:/bin"
    for dir in path.split(separator: ":") {
        let candidate = "\(dir)/\(name)"
        if FileManager.default.isExecutableFile(atPath: candidate) { return candidate }
    }
    throw ToolFailure("\(name) not found: install it with `apt-get install \(package)` (scripts/bootstrap.sh does)")
}

/// An empty file at `url` (replacing any), open for writing: where a child's output goes.
public func createLogFile(_ url: URL) throws -> FileHandle {
    _ = FileManager.default.createFile(atPath: url.path, contents: nil)
    return try FileHandle(forWritingTo: url)
}

/// Starts `process` (executable and arguments already set) with its standard output and
/// error both going to a new file at `log`. A file, not a pipe, so a chatty child never
/// blocks on a reader the test does not run.
public func launch(_ process: Process, loggingTo log: URL) throws {
    let handle = try createLogFile(log)
    process.standardOutput = handle
    process.standardError = handle
    try process.run()
}

/// Runs `executable` (a path) to completion with `input` on standard input, in
/// `directory` if given, with `environment` added to this process's. Output goes through
/// files, so a chatty child cannot block on a full pipe, and a grandchild that keeps the
/// output open cannot hold the caller.
@discardableResult
public func runTool(
    _ executable: String, _ arguments: [String], in directory: URL? = nil, input: [UInt8] = [],
    environment: [String: String] = [:]
) throws -> ToolOutput {
    let process = Process()
    process.executableURL = URL(fileURLWithPath: executable)
    process.arguments = arguments
    if let directory { process.currentDirectoryURL = directory }
    if !environment.isEmpty {
        process.environment = ProcessInfo.processInfo.environment.merging(environment) { $1 }
    }
    let scratch = try makeScratchDirectory("tool-io")
    defer { try? FileManager.default.removeItem(at: scratch) }
    let inURL = scratch.appendingPathComponent("in")
    let outURL = scratch.appendingPathComponent("out")
    let errURL = scratch.appendingPathComponent("err")
    try Data(input).write(to: inURL)
    let stdin = try FileHandle(forReadingFrom: inURL)
    let stdout = try createLogFile(outURL)
    let stderr = try createLogFile(errURL)
    defer { try? stdin.close(); try? stdout.close(); try? stderr.close() }
    process.standardInput = stdin
    process.standardOutput = stdout
    process.standardError = stderr
    try process.run()
    process.waitUntilExit()
    return ToolOutput(
        status: process.terminationStatus, stdout: try Data(contentsOf: outURL),
        stderr: String(decoding: try Data(contentsOf: errURL), as: UTF8.self))
}

/// A fresh, empty directory under the system's temporary directory, named after `label`.
/// The caller removes it.
public func makeScratchDirectory(_ label: String) throws -> URL {
    let url = FileManager.default.temporaryDirectory
        .appendingPathComponent("sealstream-\(label)-\(UUID().uuidString.prefix(8))")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    return url
}
