import Attestation
import Client
import VenueTools
import EnclaveCore
import Engine
import Foundation
import FuzzSupport
import SealCrypto
import Wire

// The enclave worker's handling of one inbound link batch, as a hostile host can write
// it: `Worker.process` on a fresh worker of the demo venue (real crypto, real engine),
// its clock at the end of the fixture run so the captured deposits and prices are fresh.
// Invariants: the worker refuses exactly the batches the link decoder refuses; for a
// batch it takes, every entry gets exactly one reply that is not a sealed event, to that
// entry's route, in entry order (PROTOCOL.md §1); every reply is a well-formed frame.
let venue = DemoKeys.venue()
let fixtureEnd: UInt64 = {
    let lines = repositoryFile("Fuzz/fixtures/outputs/batches.jsonl").split(separator: UInt8(ascii: "\n"))
    let last = try! JSONSerialization.jsonObject(with: Data(lines.last!)) as! [String: Any]
    return (last["enclaveTime"] as! NSNumber).uint64Value
}()
let identity = EnclaveIdentity(
    sessionKey: try! KXKeyPair(), signer: try! Secp256k1PrivateKey(), instanceID: 1,
    measurement: Array(repeating: 1, count: 32), configHash: Array(repeating: 2, count: 32), config: venue,
    mode: .software, isolation: .process,
    isolationReport: IsolationReport(dumpable: false, noNewPrivileges: true, privateNetworkNamespace: true,
                                     listeningSockets: 0, openFileDescriptors: 3))

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzWorker(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = fuzzInput(start, count)
    var routes: [UInt32] = []
    let decodes = (try? LinkParser.forEachEntry(batchBody: input, direction: .fromClient) { route, _, _ in
        routes.append(route)
    }) != nil
    let worker = try! Worker(identity: identity, engine: try! PerpEngine(config: venue), clock: { fixtureEnd })
    var out = LinkBatchWriter(kind: .outboundBatch)
    do {
        try worker.process(batchBody: input, into: &out)
    } catch {
        invariant(!decodes, "the worker refused a batch the link decoder takes: \(error)")
        return 0
    }
    invariant(decodes, "the worker took a batch the link decoder refuses")
    let message = out.finish()
    var replies: [UInt32] = []
    message.withUnsafeBytes { raw in
        do {
            try LinkParser.forEachEntry(batchBody: UnsafeRawBufferPointer(rebasing: raw[5...]), direction: .toClient) {
                route, header, _ in
                if header.type != .sealedEvent { replies.append(route) }
            }
        } catch {
            invariant(false, "the worker wrote a malformed outbound batch: \(error)")
        }
    }
    invariant(replies == routes, "replies go to \(replies), entries came from \(routes)")
    return 0
}

// SwiftPM links executables with `main` = `FuzzWorker_main`; libFuzzer's driver runs from here.
@_cdecl("FuzzWorker_main")
public func fuzzWorkerMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runLibFuzzer(argc, argv)
}
