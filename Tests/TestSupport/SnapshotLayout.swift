import Foundation

/// Reads a snapshot with `scripts/snapshot_layout.py`, the reader written from
/// docs/DURABILITY.md §6.2–§6.5 alone (`kind`: `engine`, `committer` or `payload`; `venue`:
/// the JSON the script documents, to which `maintenanceBps`, each perpetual's tier value by
/// market id, is added as its "maintenanceBps"), and returns its JSON summary. Needs python3
/// on PATH (apt-get install python3); a layout the reader refuses fails with its message.
public func readSnapshotLayout(
    _ kind: String, _ bytes: [UInt8], venue: String = "{}", maintenanceBps: [UInt32: Int64] = [:]
) throws -> [String: Any] {
    guard var object = try JSONSerialization.jsonObject(with: Data(venue.utf8)) as? [String: Any] else {
        throw ToolFailure("the venue of snapshot_layout.py is a JSON object: \(venue)")
    }
    if !maintenanceBps.isEmpty {
        object["maintenanceBps"] = Dictionary(uniqueKeysWithValues: maintenanceBps.map { ("\($0.key)", $0.value) })
    }
    let venue = String(decoding: try JSONSerialization.data(withJSONObject: object), as: UTF8.self)
    let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
    let scratch = try makeScratchDirectory("snapshot-layout")
    defer { try? FileManager.default.removeItem(at: scratch) }
    let file = scratch.appendingPathComponent("snapshot")
    try Data(bytes).write(to: file)
    let probe = try runTool("/usr/bin/env", ["python3", "-c", ""])
    guard probe.status == 0 else { throw ToolFailure("the snapshot layout reader needs python3 on PATH (apt-get install python3)") }
    let out = try runTool(
        "/usr/bin/env", ["python3", root.appendingPathComponent("scripts/snapshot_layout.py").path, kind, file.path, venue])
    guard out.status == 0, let json = try JSONSerialization.jsonObject(with: out.stdout) as? [String: Any] else {
        throw ToolFailure("snapshot_layout.py \(kind) refused the snapshot: \(out.stderr)")
    }
    return json
}
