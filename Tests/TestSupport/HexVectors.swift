// Hex for test vectors. Deliberately independent of the project's codec (Wire's `Hex`),
// so a known-answer test does not decode its expected value with the code under test.

/// The bytes of a hex test vector: pairs of hex digits in either case, with an optional
/// `0x` prefix. Traps on anything else: a malformed vector is a defect of the test.
public func fromHex(_ text: String) -> [UInt8] {
    let digits = text.hasPrefix("0x") ? Array(text.utf8.dropFirst(2)) : Array(text.utf8)
    precondition(digits.count % 2 == 0, "odd number of hex digits in a test vector")
    return stride(from: 0, to: digits.count, by: 2).map {
        UInt8(String(decoding: digits[$0..<$0 + 2], as: UTF8.self), radix: 16)!
    }
}

/// Lower-case hex, two digits a byte, no prefix.
public func toHex(_ bytes: some Sequence<UInt8>) -> String {
    bytes.map { ($0 < 16 ? "0" : "") + String($0, radix: 16) }.joined()
}
