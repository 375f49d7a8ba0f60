#if canImport(Glibc)
import Glibc
#endif
import Foundation
import Logging

/// swift-log handler writing one JSON object per line to stderr. Call sites pass only
/// counters, ids and fixed strings as metadata: never payload bytes or key material.
public struct JSONLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var logLevel: Logger.Level = .info
    private let label: String

    public init(label: String) { self.label = label }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        guard let line = Self.line(component: label, level: event.level, event: event.message.description,
                                   fields: metadata.merging(event.metadata ?? [:]) { $1 }, now: Date())
        else { return }
        line.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(2, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }

    /// One log line (docs/OPERATIONS.md §3.3): the fields, then `component`, `level`,
    /// `event` and `ts`, which no field replaces (a field of one of those names is not
    /// written); keys sorted, every value a string; `\n`-terminated.
    static func line(component: String, level: Logger.Level, event: String, fields: Logger.Metadata, now: Date) -> Data? {
        var object: [String: String] = [:]
        for (k, v) in fields { object[k] = v.description }
        object["component"] = component
        object["level"] = level.rawValue
        object["event"] = event
        object["ts"] = ISO8601DateFormatter().string(from: now)
        guard var line = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return nil }
        line.append(0x0a)
        return line
    }
}
