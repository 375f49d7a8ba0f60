#if canImport(FoundationEssentials)
import FoundationEssentials
#else
import Foundation
#endif
import CFuzzDriver

/// Stops the fuzzer with a message when an invariant fails: libFuzzer reports the trap as
/// a crash and saves the input that caused it.
public func invariant(_ condition: @autoclosure () -> Bool, _ message: @autoclosure () -> String,
                      file: StaticString = #file, line: UInt = #line) {
    if !condition() {
        fatalError("invariant failed: \(message())", file: file, line: line)
    }
}

/// The bytes libFuzzer hands to `LLVMFuzzerTestOneInput`.
public func fuzzInput(_ start: UnsafeRawPointer?, _ count: Int) -> UnsafeRawBufferPointer {
    UnsafeRawBufferPointer(start: count == 0 ? nil : start, count: count)
}

/// Splits `bytes` at the first `parts - 1` zero bytes (the corpus separates the pieces of
/// a multi-part input with 0x00; the last part may contain zeros).
public func splitAtZeros(_ bytes: UnsafeRawBufferPointer, parts: Int) -> [[UInt8]] {
    var out: [[UInt8]] = []
    var start = 0
    var i = 0
    while i < bytes.count && out.count < parts - 1 {
        if bytes[i] == 0 {
            out.append(Array(bytes[start..<i]))
            start = i + 1
        }
        i += 1
    }
    out.append(Array(bytes[start...]))
    while out.count < parts { out.append([]) }
    return out
}

/// A file of the repository, found from this source file's path (the fuzz binaries run
/// where they were built; fixtures are read once at start).
public func repositoryFile(_ relativePath: String) -> [UInt8] {
    let here = URL(fileURLWithPath: "\(#filePath)")
    let root = here.deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent()
    let path = root.appendingPathComponent(relativePath).path
    guard let data = FileManager.default.contents(atPath: path) else {
        fatalError("fuzz fixture missing: \(path)")
    }
    return Array(data)
}

/// The body of each target's `<Module>_main`: hands the process to libFuzzer's driver.
public func runLibFuzzer(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    sealstream_fuzz_run(argc, argv)
}
