import Foundation
import Testing

/// The package's target graph as `swift package describe --type json` prints it.
/// `swift package describe` cannot run inside `swift test` (both take SwiftPM's build
/// lock), so scripts/test.sh writes the description beforehand.
struct PackageGraph {
    /// What a target links, followed through every target dependency.
    struct Closure {
        /// Target names, the root included.
        var targets: Set<String> = []
        /// External products (`Histogram`, `NIOCore`, …).
        var products: Set<String> = []
    }

    private var byName: [String: [String: Any]] = [:]

    init() throws {
        let path = ProcessInfo.processInfo.environment["SEALSTREAM_PACKAGE_DESCRIPTION"]
            ?? Binaries.packageRoot.appendingPathComponent(".build/package-description.json").path
        guard let data = FileManager.default.contents(atPath: path) else {
            throw TestFailure("\(path) missing: run scripts/test.sh, or `swift package describe --type json > \(path)`")
        }
        let json = try #require(try JSONSerialization.jsonObject(with: data) as? [String: Any])
        let targets = try #require(json["targets"] as? [[String: Any]])
        for t in targets { byName[t["name"] as! String] = t }
    }

    func closure(of root: String) throws -> Closure {
        guard byName[root] != nil else { throw TestFailure("no target \(root) in the package description") }
        var closure = Closure()
        var queue = [root]
        while let name = queue.popLast() {
            guard closure.targets.insert(name).inserted, let t = byName[name] else { continue }
            queue += (t["target_dependencies"] as? [String]) ?? []
            closure.products.formUnion((t["product_dependencies"] as? [String]) ?? [])
        }
        return closure
    }
}
