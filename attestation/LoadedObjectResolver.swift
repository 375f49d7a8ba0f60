import Attestation
import Foundation
import SealCrypto
import Wire

/// Predicts the loaded objects of docs/ATTESTATION.md §2 for an enclave executable on
/// this machine: the dynamic loader's own resolution (`ld.so --list`, which maps the
/// executable's dependencies without running any of its code), with an empty
/// environment, each path resolved to the file the kernel will name in
/// `/proc/self/maps`, each file hashed.
enum LoadedObjectResolver {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// The x86-64 dynamic loader (glibc's `PT_INTERP` on this architecture).
    static let defaultLoader = "/lib64/ld-linux-x86-64.so.2"

    static func resolve(enclave: String, loader: String = defaultLoader) throws -> [LoadedObject] {
        let process = Process()
        process.executableURL = URL(fileURLWithPath: loader)
        process.arguments = ["--list", enclave]
        process.environment = [:]
        let out = Pipe()
        process.standardOutput = out
        process.standardError = FileHandle.nullDevice
        try process.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        guard process.terminationStatus == 0 else {
            throw Failure(description: "\(loader) --list \(enclave) exited \(process.terminationStatus)")
        }
        var paths = Set<String>()
        for line in String(decoding: data, as: UTF8.self).split(separator: "\n") {
            // "\tname => /path (0x…)", "\t/path (0x…)" (the loader), "\tname (0x…)" (vDSO).
            let text = line.trimmingCharacters(in: .whitespaces)
            let target = text.range(of: " => ").map { String(text[$0.upperBound...]) } ?? text
            guard target.hasPrefix("/") else {
                if text.contains(" => not found") { throw Failure(description: "unresolved dependency: \(text)") }
                continue
            }
            guard let paren = target.range(of: " (0x", options: .backwards) else {
                throw Failure(description: "unexpected loader output: \(text)")
            }
            paths.insert(URL(fileURLWithPath: String(target[..<paren.lowerBound])).resolvingSymlinksInPath().path)
        }
        let objects = try paths.map { path in
            LoadedObject(path: path, sha256: Hex.encode(SHA256.hash(Array(try Data(contentsOf: URL(fileURLWithPath: path))))))
        }
        return LoadedObjects.sorted(objects)
    }
}
