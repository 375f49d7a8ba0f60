#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Synchronization
import Wire

/// How a replay from genesis compared with the published outputs
/// (`sealstream-host replay`, docs/DURABILITY.md §4).
public enum ReplayVerdict: Equatable, Sendable {
    /// Every published header was reproduced byte for byte. `beyond`: headers the worker
    /// closed past the published ones (journaled, never published); `stateRoot` of the
    /// last header it produced.
    case match(batches: Int, beyond: Int, stateRoot: String?)
    /// Header `batch` differs from the published line.
    case mismatch(batch: Int)
    /// The worker produced only `produced` headers of the published ones.
    case missing(produced: Int, published: Int)
}

/// The pure comparison: published header lines against those a replaying worker sends.
public struct ReplayComparison: Sendable {
    public let published: [[UInt8]]
    public private(set) var produced = 0
    public private(set) var firstMismatch: Int?
    public private(set) var lastStateRoot: String?

    /// `published`: the lines of `outputs/batches.jsonl` without their newlines.
    /// `first`: the index of the first header the worker will publish (a snapshot's batch
    /// index when the replay starts from one, else 0).
    public init(published: [[UInt8]], first: Int = 0) {
        self.published = published
        produced = first
    }

    /// Lines of a `batches.jsonl` file (a last line without its newline is not published).
    public static func lines(of file: [UInt8]) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var start = 0
        for i in file.indices where file[i] == 0x0a {
            out.append(Array(file[start..<i]))
            start = i + 1
        }
        return out
    }

    /// One `batchHeader` link body (the line and its newline).
    public mutating func header(_ body: [UInt8]) {
        let line = body.last == 0x0a ? Array(body.dropLast()) : body
        if produced < published.count, line != published[produced], firstMismatch == nil { firstMismatch = produced }
        produced += 1
        struct Root: Decodable { var stateRoot: String }
        lastStateRoot = (try? JSONDecoder().decode(Root.self, from: Data(line)))?.stateRoot ?? lastStateRoot
    }

    public var verdict: ReplayVerdict {
        if let firstMismatch { return .mismatch(batch: firstMismatch) }
        if produced < published.count { return .missing(produced: produced, published: published.count) }
        return .match(batches: published.count, beyond: produced - published.count, stateRoot: lastStateRoot)
    }
}

/// Why a replay could not be carried out.
public enum ReplayError: Error, CustomStringConvertible {
    case worker(String)
    case rejected(JournalRejectedError)

    public var description: String {
        switch self {
        case .worker(let s): "replay worker: \(s)"
        case .rejected(let e): "\(e)"
        }
    }
}
