extension OutputPublisher.MarketDataHead {
    /// The line's top-level `batchIndex`, `market` and `marketSequence`, found by walking
    /// its top-level members and skipping every other value (strings, numbers, literals,
    /// nested arrays and objects) without decoding it. A market data line carries every
    /// trade of its batch, and the host indexes each line on its event loop while orders
    /// wait; decoding whole lines with `JSONDecoder` cost about a millisecond per batch close
    /// at 50k orders/s. Nil when the line is not an object of that shape, or names a key
    /// twice: the caller then decodes it with `JSONDecoder`, which says what is wrong.
    static func scan(_ b: UnsafeRawBufferPointer) -> Self? {
        var i = 0
        let n = b.count
        func skipSpace() { while i < n, b[i] == 0x20 || b[i] == 0x0a || b[i] == 0x0d || b[i] == 0x09 { i += 1 } }
        func expect(_ c: UInt8) -> Bool {
            skipSpace()
            guard i < n, b[i] == c else { return false }
            i += 1
            return true
        }
        /// Past a string whose opening quote is at `i`.
        func skipString() -> Bool {
            i += 1
            while i < n {
                if b[i] == UInt8(ascii: "\\") { i += 2; continue }
                if b[i] == UInt8(ascii: "\"") { i += 1; return true }
                i += 1
            }
            return false
        }
        /// Past the value at `i`.
        func skipValue() -> Bool {
            skipSpace()
            guard i < n else { return false }
            switch b[i] {
            case UInt8(ascii: "\""): return skipString()
            case UInt8(ascii: "{"), UInt8(ascii: "["):
                var depth = 0
                while i < n {
                    switch b[i] {
                    case UInt8(ascii: "\""): if !skipString() { return false }; continue
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 { i += 1; return true }
                    default: break
                    }
                    i += 1
                }
                return false
            default:
                let start = i
                while i < n, b[i] != UInt8(ascii: ","), b[i] != UInt8(ascii: "}"), b[i] != UInt8(ascii: "]"),
                      b[i] != 0x20, b[i] != 0x0a, b[i] != 0x0d, b[i] != 0x09 { i += 1 }
                return i > start
            }
        }
        /// A non-negative integer without sign, fraction or exponent, at most `max`.
        func unsigned(max: UInt64) -> UInt64? {
            skipSpace()
            let start = i
            var v: UInt64 = 0
            while i < n, b[i] >= UInt8(ascii: "0"), b[i] <= UInt8(ascii: "9") {
                let (m, o1) = v.multipliedReportingOverflow(by: 10)
                let (s, o2) = m.addingReportingOverflow(UInt64(b[i] - UInt8(ascii: "0")))
                guard !o1, !o2 else { return nil }
                v = s
                i += 1
            }
            guard i > start, i - start == 1 || b[start] != UInt8(ascii: "0"), v <= max else { return nil }
            if i < n, b[i] == UInt8(ascii: ".") || b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") { return nil }
            return v
        }
        func keyIs(_ start: Int, _ end: Int, _ name: StaticString) -> Bool {
            guard end - start == name.utf8CodeUnitCount else { return false }
            let p = name.utf8Start
            for k in 0..<(end - start) where b[start + k] != p[k] { return false }
            return true
        }

        guard expect(UInt8(ascii: "{")) else { return nil }
        var batchIndex: UInt64?, market: UInt64?, marketSequence: UInt64?
        if expect(UInt8(ascii: "}")) { return nil }
        while true {
            skipSpace()
            guard i < n, b[i] == UInt8(ascii: "\"") else { return nil }
            let keyStart = i + 1
            guard skipString() else { return nil }
            let keyEnd = i - 1
            guard expect(UInt8(ascii: ":")) else { return nil }
            if keyIs(keyStart, keyEnd, "batchIndex") {
                guard batchIndex == nil, let v = unsigned(max: UInt64.max) else { return nil }
                batchIndex = v
            } else if keyIs(keyStart, keyEnd, "market") {
                guard market == nil, let v = unsigned(max: UInt64(UInt32.max)) else { return nil }
                market = v
            } else if keyIs(keyStart, keyEnd, "marketSequence") {
                guard marketSequence == nil, let v = unsigned(max: UInt64.max) else { return nil }
                marketSequence = v
            } else if !skipValue() {
                return nil
            }
            if expect(UInt8(ascii: ",")) { continue }
            guard expect(UInt8(ascii: "}")) else { return nil }
            break
        }
        skipSpace()
        guard i == n, let batchIndex, let market, let marketSequence else { return nil }
        return Self(batchIndex: batchIndex, market: UInt32(market), marketSequence: marketSequence)
    }
}
