import FuzzSupport
import Wire

// Every message decoder by itself. Byte 0 picks the decoder: a v1 message type (its
// frame body follows) or, from 0xF0, a sealed plaintext or the link's stats body
// (`Plaintext`, 0xF0 + raw value). Other values fold onto the list of types.
@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzMessages(_ start: UnsafeRawPointer?, _ count: Int) -> CInt {
    let input = fuzzInput(start, count)
    guard let selector = input.first else { return 0 }
    let body = UnsafeRawBufferPointer(rebasing: input[1...])
    if selector >= 0xF0 {
        let all = Plaintext.allCases
        all[Int(selector - 0xF0) % all.count].check(body)
    } else if let type = MessageType(rawValue: selector) {
        checkMessage(type, body: body)
    } else {
        let all = MessageType.allCases
        checkMessage(all[Int(selector) % all.count], body: body)
    }
    return 0
}

// SwiftPM links executables with `main` = `FuzzMessages_main`; libFuzzer's driver runs from here.
@_cdecl("FuzzMessages_main")
public func fuzzMessagesMain(_ argc: Int32, _ argv: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>) -> Int32 {
    runLibFuzzer(argc, argv)
}
