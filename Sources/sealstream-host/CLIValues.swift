import ArgumentParser
import Engine
import Foundation
import Logging

/// A switch given as `on` or `off`.
enum OnOff: String, CaseIterable, ExpressibleByArgument {
    case on, off
}

/// `--log-level`: swift-log's levels by their names.
enum LogLevel: String, CaseIterable, ExpressibleByArgument {
    case trace, debug, info, notice, warning, error, critical

    var level: Logger.Level { Logger.Level(rawValue: rawValue)! }
}

extension Run {
    /// Reads the venue configuration at `path` as the enclave will (strict JSON, then
    /// `VenueConfig.validate()`), so a bad file stops the host before any worker starts.
    /// Throws a `ValidationError` naming the JSON path (`--config FILE: $.markets[1].tickSize:
    /// expected a signed 64-bit integer`); ArgumentParser prints it and exits 64.
    static func checkVenueConfig(_ path: String) throws {
        let bytes: [UInt8]
        do {
            bytes = Array(try Data(contentsOf: URL(fileURLWithPath: path)))
        } catch {
            throw ValidationError("--config \(path): cannot read the file")
        }
        do {
            try VenueConfig.parseStrict(bytes).validate()
        } catch let error as VenueConfigParseError {
            throw ValidationError("--config \(path): \(error)")
        } catch {
            throw ValidationError("--config \(path): invalid venue configuration: \(error)")
        }
    }
}
