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

    /// Input and expected output pairs of one function (mpmath, nearest).
    static func pairs(_ name: String) -> [(Int128, Int128)] {
        (document[name] as! [[String]]).map { (Int128($0[0])!, Int128($0[1])!) }
    }

    /// Input and the output of scripts/options_reference.py, the independent integer
    /// implementation of docs/OPTIONS.md, which must be matched bit for bit.
    static func exact(_ name: String) -> [(Int128, Int128)] {
        (document[name] as! [[String]]).map { (Int128($0[0])!, Int128($0[2])!) }
    }

    struct Black76Case: Sendable, CustomStringConvertible {
        var kind: OptionKind
        var forward: Int64
        var strike: Int64
        var volatilityPpm: Int64
        var nanos: UInt64
        var price, delta, gamma, vega, theta: Int128
        /// The reference implementation's (price, delta, gamma, vega, theta).
        var exact: [Int128]
        var description: String { "\(kind) F=\(forward) K=\(strike) σ=\(volatilityPpm)ppm t=\(nanos)ns" }
    }

    static let black76: [Black76Case] = (document["black76"] as! [[String: Any]]).map { c in
        func int(_ key: String) -> Int128 { Int128(c[key] as! String)! }
        return Black76Case(
            kind: (c["kind"] as! String) == "call" ? .call : .put,
            forward: (c["forward"] as! NSNumber).int64Value, strike: (c["strike"] as! NSNumber).int64Value,
            volatilityPpm: (c["volatilityPpm"] as! NSNumber).int64Value, nanos: (c["nanos"] as! NSNumber).uint64Value,
            price: int("price"), delta: int("delta"), gamma: int("gamma"), vega: int("vega"), theta: int("theta"),
            exact: (c["exact"] as! [String]).map { Int128($0)! })
    }
}

extension Vectors {
    struct SVICase: Sendable {
        var parameters: SVIParameters
        var forward: Int64
        var strike: Int64
        var nanos: UInt64
        var volatility: Int128
        var exact: Int128
    }

    static let svi: [SVICase] = (document["svi"] as! [[String: Any]]).map { c in
        func n(_ key: String) -> Int64 { (c[key] as! NSNumber).int64Value }
        return SVICase(
            parameters: SVIParameters(nanoUnits: n("a"), b: n("b"), rho: n("rho"), m: n("m"), sigma: n("sigma")),
            forward: n("forward"), strike: n("strike"), nanos: UInt64(n("nanos")),
            volatility: Int128(c["volatility"] as! String)!, exact: Int128(c["exact"] as! String)!)
    }

    struct EWMACase: Sendable {
        var halfLifeNanos: UInt64
        var minIntervalNanos: UInt64
        var initialVariance: Int128
        var ticks: [(price: Int64, time: UInt64)]
        var variance: Int128
        var exact: Int128
    }

    static let ewma: [EWMACase] = (document["ewma"] as! [[String: Any]]).map { c in
        EWMACase(
            halfLifeNanos: (c["halfLifeNanos"] as! NSNumber).uint64Value,
            minIntervalNanos: (c["minIntervalNanos"] as! NSNumber).uint64Value,
            initialVariance: Int128(c["initialVariance"] as! String)!,
            ticks: (c["ticks"] as! [[NSNumber]]).map { ($0[0].int64Value, $0[1].uint64Value) },
            variance: Int128(c["variance"] as! String)!, exact: Int128(c["exact"] as! String)!)
    }
}

/// |a − b| as a non-negative Int128.
func distance(_ a: Int128, _ b: Int128) -> Int128 { a > b ? a - b : b - a }
