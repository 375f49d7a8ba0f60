import ArgumentParser
import Foundation
import VenueTools

/// Appends `AnswerRecord`s to a file as JSON lines, each written (and so kept) at once:
/// a client that dies mid-run leaves every answer it had.
final class AnswerLog {
    private let handle: FileHandle
    private let encoder = JSONEncoder()

    init(path: String) throws {
        if !FileManager.default.fileExists(atPath: path) {
            guard FileManager.default.createFile(atPath: path, contents: nil) else {
                throw ValidationError("cannot create \(path)")
            }
        }
        handle = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        try handle.seekToEnd()
        encoder.outputFormatting = [.sortedKeys]
    }

    func append(_ record: AnswerRecord) {
        guard let data = try? encoder.encode(record) else { return }
        handle.write(data + Data("\n".utf8))
    }
}

struct ChaosCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chaos-check",
        abstract: "Check the answers clients recorded (--receipts-out) against a data directory's published outputs.")

    @Option(name: .long, help: "The host's data directory (reads outputs/events.log, batches.jsonl, decisions.jsonl).")
    var dataDir: String

    @Argument(help: "JSON-lines files written by `scenario --receipts-out`.")
    var receipts: [String]

    @Flag(name: .long, help: "Print the report as JSON on stdout.")
    var json = false

    func run() throws {
        let outputs = URL(fileURLWithPath: dataDir).appendingPathComponent("outputs")
        let decoder = JSONDecoder()
        var answers: [AnswerRecord] = []
        for file in receipts {
            let text = try String(contentsOfFile: file, encoding: .utf8)
            for (n, line) in text.split(separator: "\n").enumerated() {
                do {
                    answers.append(try decoder.decode(AnswerRecord.self, from: Data(line.utf8)))
                } catch {
                    throw ValidationError("\(file) line \(n + 1) is not an answer record: \(error)")
                }
            }
        }
        let log = [UInt8]((try? Data(contentsOf: outputs.appendingPathComponent("events.log"))) ?? Data())
        guard let leaves = ChaosCheck.leaves(log) else {
            throw ValidationError("events.log is not a whole number of leaves")
        }
        let batches = try String(contentsOf: outputs.appendingPathComponent("batches.jsonl"), encoding: .utf8)
        let decisionsFile = outputs.appendingPathComponent("decisions.jsonl")
        let decisions = (try? String(contentsOf: decisionsFile, encoding: .utf8)) ?? ""
        let report = ChaosCheck.check(
            answers: answers, leaves: leaves, lastPublishedSequence: try ChaosCheck.lastPublishedSequence(batches),
            decisionLines: decisions.split(separator: "\n").map(String.init))
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.sortedKeys]
            print(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            print("answers: \(report.sequencedAnswers) sequenced, \(report.duplicateAnswers) duplicates, "
                  + "\(report.unanswered) unanswered; leaves \(report.leaves), "
                  + "published up to \(report.lastPublishedSequence); "
                  + "decisions \(report.decisions); violations \(report.violations.count)")
            for v in report.violations.prefix(50) { print("VIOLATION: \(v)") }
        }
        if !report.violations.isEmpty { throw ExitCode(1) }
    }
}
