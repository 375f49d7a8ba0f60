import FuzzSupport
@testable import Host
import NIOCore
import NIOEmbedded
import Wire

// The frame decoder over a byte stream as a connection delivers it, then every frame's
// body through its message decoder. Invariants: feeding the stream in pieces gives the
// same frames and the same error as feeding it whole; a client-direction decoder returns
// exactly the leading client frames; the host's `ClientFrameDecoder` in a channel, fed in
// the same pieces, gives those frames and the same error (or the same truncated tail at
// the end of input); each decoded body re-encodes to its frame.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzFrames(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = fuzzInput(start, count)

    var whole = FrameDecoder(direction: .any)
    whole.append(input)
    var frames: [(type: MessageType, body: [UInt8])] = []
    var failure: WireError?
    do {
        while let f = try whole.next() { frames.append(f) }
    } catch {
        failure = error
    }
    if failure == nil {
        invariant(((try? whole.finish()) == nil) == (whole.bufferedByteCount > 0), "finish() disagrees with the leftover bytes")
    }

    var pieces = FrameDecoder(direction: .any)
    var again: [(type: MessageType, body: [UInt8])] = []
    var failure2: WireError?
    let step = 1 + count % 13
    var offset = 0
    feeding: while offset < count {
        let end = min(count, offset + step)
        pieces.append(UnsafeRawBufferPointer(rebasing: input[offset..<end]))
        offset = end
        do {
            while let f = try pieces.next() { again.append(f) }
        } catch {
            failure2 = error
            break feeding
        }
    }
    invariant(frames.count == again.count && zip(frames, again).allSatisfy { $0.type == $1.type && $0.body == $1.body },
              "decoding in \(step)-byte pieces gave other frames")
    invariant(failure == failure2, "decoding in pieces gave another error: \(String(describing: failure)) vs \(String(describing: failure2))")

    var client = FrameDecoder(direction: .fromClient)
    client.append(input)
    var n = 0
    var clientError: WireError?
    do {
        while let f = try client.nextFrame({ type, body in (type, Array(body)) }) {
            invariant(n < frames.count && frames[n].type == f.0 && frames[n].body == f.1, "client decoder gave another frame")
            n += 1
        }
        try client.finish()
    } catch {
        clientError = error as? WireError
    }
    let leading = frames.prefix { $0.type.isClientToEnclave }.count
    invariant(n == leading, "client decoder returned \(n) frames, expected the \(leading) leading client frames")
    checkHostDecoder(input, step: step, frames: Array(frames.prefix(leading)), error: clientError)

    for f in frames {
        f.body.withUnsafeBytes { checkMessage(f.type, body: $0) }
    }
    return 0
}

/// The host's decoder as its pipeline runs it: a `ByteToMessageHandler` on a channel, the
/// input in `step`-byte reads, then end of input.
func checkHostDecoder(_ input: UnsafeRawBufferPointer, step: Int, frames: [(type: MessageType, body: [UInt8])],
                      error expected: WireError?) {
    let channel = EmbeddedChannel(handler: ByteToMessageHandler(ClientFrameDecoder()))
    var got: [ClientFrame] = []
    var error: Error?
    var offset = 0
    while offset < input.count, error == nil {
        let end = min(input.count, offset + step)
        do { try channel.writeInbound(channel.allocator.buffer(bytes: input[offset..<end])) } catch let e { error = e }
        while let f = try? channel.readInbound(as: ClientFrame.self) { got.append(f) }
        offset = end
    }
    if error == nil {
        channel.pipeline.fireUserInboundEventTriggered(ChannelEvent.inputClosed)
        do { try channel.throwIfErrorCaught() } catch let e { error = e }
        while let f = try? channel.readInbound(as: ClientFrame.self) { got.append(f) }
    }
    _ = try? channel.finish()
    invariant(got.count == frames.count && zip(got, frames).allSatisfy { g, f in
        g.type == f.type && Array(g.bytes.readableBytesView) == FrameParser.encode(type: f.type, body: f.body)
    }, "the host's decoder gave \(got.count) frames, FrameDecoder \(frames.count)")
    invariant(error as? WireError == expected,
              "the host's decoder ended with \(String(describing: error)), FrameDecoder with \(String(describing: expected))")
}

// SwiftPM links executables with `main` = `FuzzFrames_main`; libFuzzer's driver runs from here.
@_cdecl("FuzzFrames_main")
public func fuzzFramesMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runLibFuzzer(argc, argv)
}
