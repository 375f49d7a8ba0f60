import Foundation
import Options

/// The committed reference values (Resources/vectors.json, written by
/// scripts/gen-option-vectors.py with mpmath at 50 digits): Q64 raw integers as strings.
enum Vectors {
    nonisolated(unsafe) static let document: [String: Any] = {
        guard let url = Bundle.module.url(forResource: "vectors", withExtension: "json", subdirectory: "Resources"),
            let data = try? Data(contentsOf: url),
            let object = try? JSONSerialization.jsonObject(with: data) as? [String: Any]
        else { fatalError("Resources/vectors.json missing: run scripts/gen-option-vectors.py") }
        return object
    }()

    /// Input and expected output pairs of one function.
    static func pairs(_ name: String) -> [(Int128, Int128)] {
        (document[name] as! [[String]]).map { (Int128($0[0])!, Int128($0[1])!) }
    }

    struct Black76Case: Sendable, CustomStringConvertible {
        var kind: OptionKind
        var forward: Int64
        var strike: Int64
        var volatilityPpm: Int64
        var nanos: UInt64
        var price, delta, gamma, vega, theta: Int128
        var description: String { "\(kind) F=\(forward) K=\(strike) σ=\(volatilityPpm)ppm t=\(nanos)ns" }
    }

    static let black76: [Black76Case] = (document["black76"] as! [[String: Any]]).map { c in
        func int(_ key: String) -> Int128 { Int128(c[key] as! String)! }
        return Black76Case(
            kind: (c["kind"] as! String) == "call" ? .call : .put,
            forward: (c["forward"] as! NSNumber).int64Value, strike: (c["strike"] as! NSNumber).int64Value,
            volatilityPpm: (c["volatilityPpm"] as! NSNumber).int64Value, nanos: (c["nanos"] as! NSNumber).uint64Value,
            price: int("price"), delta: int("delta"), gamma: int("gamma"), vega: int("vega"), theta: int("theta"))
    }
}

/// |a − b| as a non-negative Int128.
func distance(_ a: Int128, _ b: Int128) -> Int128 { a > b ? a - b : b - a }
