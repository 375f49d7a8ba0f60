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
        var object: [String: String] = ["component": label, "level": event.level.rawValue, "event": event.message.description]
        object["ts"] = ISO8601DateFormatter().string(from: Date())
        for (k, v) in metadata { object[k] = v.description }
        for (k, v) in event.metadata ?? [:] { object[k] = v.description }
        guard let data = try? JSONSerialization.data(withJSONObject: object, options: [.sortedKeys]) else { return }
        var line = data
        line.append(0x0a)
        line.withUnsafeBytes { raw in
            var offset = 0
            while offset < raw.count {
                let n = write(2, raw.baseAddress! + offset, raw.count - offset)
                if n <= 0 { break }
                offset += n
            }
        }
    }
}
