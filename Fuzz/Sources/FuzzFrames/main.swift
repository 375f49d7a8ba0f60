import FuzzSupport
import Wire

// The frame decoder over a byte stream as a connection delivers it, then every frame's
// body through its message decoder. Invariants: feeding the stream in pieces gives the
// same frames and the same error as feeding it whole; a client-direction decoder returns
// exactly the leading client frames; each decoded body re-encodes to its frame.
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
    do {
        while let f = try client.nextFrame({ type, body in (type, Array(body)) }) {
            invariant(n < frames.count && frames[n].type == f.0 && frames[n].body == f.1, "client decoder gave another frame")
            n += 1
        }
    } catch {}
    let leading = frames.prefix { $0.type.isClientToEnclave }.count
    invariant(n == leading, "client decoder returned \(n) frames, expected the \(leading) leading client frames")

    for f in frames {
        f.body.withUnsafeBytes { checkMessage(f.type, body: $0) }
    }
    return 0
}

// SwiftPM links executables with `main` = `FuzzFrames_main`; libFuzzer's driver runs from here.
@_cdecl("FuzzFrames_main")
public func fuzzFramesMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runLibFuzzer(argc, argv)
}
