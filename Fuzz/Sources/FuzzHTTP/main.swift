import Foundation
import FuzzSupport
@testable import Host
import NIOCore
import NIOEmbedded
import NIOHTTP1

// The host's HTTP API as a client reaches it: raw request bytes into the same pipeline
// the host builds (NIO's HTTP/1 server pipeline with error handling, then
// `HTTPAPIHandler`) on an `EmbeddedChannel`, over a publisher holding the fixture epoch's
// real outputs. Invariants: nothing traps; every response the handler writes is HTTP/1.x
// with a status line, and no status is 5xx but the 503 of an evidence request without a
// worker (docs/openapi.yaml).
let publisher: OutputPublisher = {
    let publisher = OutputPublisher(dataDirectory: NSTemporaryDirectory() + "sealstream-fuzz-http-\(getpid())")
    try! publisher.startEpoch(instanceID: "fuzz", evidenceJSON: repositoryFile("Fuzz/fixtures/outputs/epoch.json"))
    let events = repositoryFile("Fuzz/fixtures/outputs/events.log")
    try! events.withUnsafeBytes { try publisher.appendEventLeaves($0) }
    // Decisions, public inputs and funding lines go in before the header that commits to
    // them, batch by batch (inputs and funding by their sequence numbers).
    let decisions = repositoryFile("Fuzz/fixtures/outputs/decisions.jsonl").split(separator: UInt8(ascii: "\n"))
    func bySequence(_ name: String) -> [(sequence: UInt64, line: [UInt8])] {
        repositoryFile("Fuzz/fixtures/outputs/" + name).split(separator: UInt8(ascii: "\n")).map { line in
            let record = try! JSONSerialization.jsonObject(with: Data(line)) as! [String: Any]
            return ((record["sequence"] as! NSNumber).uint64Value, Array(line) + [10])
        }
    }
    let inputs = bySequence("inputs.jsonl"), funding = bySequence("funding.jsonl")
    var next = 0
    for line in repositoryFile("Fuzz/fixtures/outputs/batches.jsonl").split(separator: UInt8(ascii: "\n")) {
        let record = try! JSONSerialization.jsonObject(with: Data(line)) as! [String: Any]
        let n = (record["decisionCount"] as! NSNumber).intValue
        for d in decisions[next..<(next + n)] { try! (Array(d) + [10]).withUnsafeBytes { try publisher.appendDecisions($0) } }
        next += n
        let range = (record["firstSequence"] as! NSNumber).uint64Value...(record["lastSequence"] as! NSNumber).uint64Value
        for i in inputs where range.contains(i.sequence) { try! i.line.withUnsafeBytes { try publisher.appendPublicInputs($0) } }
        for f in funding where range.contains(f.sequence) { try! f.line.withUnsafeBytes { try publisher.appendFunding($0) } }
        try! (Array(line) + [10]).withUnsafeBytes { try publisher.appendBatch($0) }
    }
    return publisher
}()
let metrics = HostMetrics()

// The harness is only worth running if the fixture is served: batch 1, the decisions of
// the drill's batch, batch 0's public inputs (its deposits and prices) and an event proof
// all answer 200.
let fixtureServed: Bool = {
    let handler = HTTPAPIHandler(publisher: publisher, metrics: metrics, evidence: { _ in fatalError("unused") })
    let drillBatch = (0..<publisher.batchCount).first { !(publisher.decisionLines(batch: $0) ?? []).isEmpty }
    for uri in ["/v1/batches/1", "/v1/batches?from=0&limit=3", "/v1/decisions?batch=\(drillBatch ?? -1)",
                "/v1/events/proof?sequence=3", "/v1/funding?batch=0"] {
        guard case .answer(let response) = handler.route(method: .GET, uri: uri), response.status == 200 else {
            fatalError("fixture: GET \(uri) is not answered 200")
        }
    }
    guard !(publisher.inputLines(batch: 0) ?? []).isEmpty else { fatalError("fixture: batch 0 has no public inputs") }
    return true
}()

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzHTTP(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    invariant(fixtureServed, "fixture not served")
    let channel = EmbeddedChannel()
    let loop = channel.embeddedEventLoop
    try! channel.pipeline.syncOperations.configureHTTPServerPipeline(withErrorHandling: true)
    try! channel.pipeline.syncOperations.addHandler(HTTPAPIHandler(
        publisher: publisher, metrics: metrics,
        evidence: { _ in loop.makeFailedFuture(ChannelError.ioOnClosedChannel) }))
    var buffer = channel.allocator.buffer(capacity: count)
    buffer.writeBytes(fuzzInput(start, count))
    _ = try? channel.writeInbound(buffer)
    loop.run()
    while let out = try? channel.readOutbound(as: ByteBuffer.self) {
        let text = String(decoding: out.readableBytesView, as: UTF8.self)
        if text.hasPrefix("HTTP/") {
            invariant(text.hasPrefix("HTTP/1."), "response is not HTTP/1.x")
            invariant(!text.dropFirst(9).hasPrefix("5") || text.dropFirst(9).hasPrefix("503"), "a 5xx other than 503")
        }
    }
    _ = try? channel.finish()
    return 0
}

// SwiftPM links executables with `main` = `FuzzHTTP_main`; libFuzzer's driver runs from here.
@_cdecl("FuzzHTTP_main")
public func fuzzHTTPMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runLibFuzzer(argc, argv)
}
