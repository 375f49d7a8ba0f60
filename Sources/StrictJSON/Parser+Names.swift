/// Repeated member names (docs/COMMITMENTS.md §5.1 rule 4), found the same way by `parse`
/// and the scan. Names compare decoded, code unit by code unit (RFC 8259 §8.3): `"a"` and
/// `"\u0061"` are one name, `"é"` and `"e\u0301"` two (as Python's `str` compares them;
/// Swift's `String ==` would call them equal).
extension Parser {
    /// A member name's decoded UTF-8: `count` bytes from `start` in `scratch`, or in `text`
    /// when the name holds no escape and was not asked for decoded (its bytes as written).
    struct Name {
        var start: Int
        var count: Int
        var inScratch: Bool
    }

    /// Where one object's names start in `scratch` and `nameStack` (`nameCount` then), and
    /// past `fewNames` members a set of them.
    struct ObjectNames {
        let scratchBase: Int
        let stackBase: Int
        var many: Set<[UInt8]>? = nil
    }

    /// Objects with more members than this check their names in a set, not pairwise.
    static let fewNames = 16

    /// Reads the name of a member (its opening quote at `at`), decoded into `scratch` when
    /// `decode` or when it holds an escape, and says whether an earlier member of the object
    /// had it.
    @inline(__always)
    mutating func memberName(path: String, decode: Bool, _ names: inout ObjectNames) throws(StrictJSONError)
        -> (name: Name, repeated: Bool)
    {
        let open = at
        let name: Name
        if decode {
            let start = scratch.count
            try scanString(path: path, decode: true)
            name = Name(start: start, count: scratch.count - start, inScratch: true)
        } else if try scanString(path: path, decode: false) {
            at = open
            let start = scratch.count
            try scanString(path: path, decode: true)
            name = Name(start: start, count: scratch.count - start, inScratch: true)
        } else {
            name = Name(start: open + 1, count: at - open - 2, inScratch: false)
        }
        if names.many != nil { return (name, !names.many!.insert(bytes(of: name)).inserted) }
        var repeated = false
        var k = names.stackBase
        while k < nameCount {
            if sameName(nameStack[k], name) {
                repeated = true
                break
            }
            k += 1
        }
        if nameCount < nameStack.count {
            nameStack[nameCount] = name
        } else {
            nameStack.append(name)
        }
        nameCount += 1
        if nameCount - names.stackBase > Self.fewNames {
            names.many = Set(nameStack[names.stackBase..<nameCount].map { bytes(of: $0) })
        }
        return (name, repeated)
    }

    /// Drops the names of an object read to its end.
    mutating func end(_ names: ObjectNames) {
        if scratch.count > names.scratchBase { scratch.removeLast(scratch.count - names.scratchBase) }
        nameCount = names.stackBase
    }

    @inline(__always)
    func sameName(_ a: Name, _ b: Name) -> Bool {
        guard a.count == b.count else { return false }
        var k = 0
        while k < a.count {
            if byte(a, k) != byte(b, k) { return false }
            k += 1
        }
        return true
    }

    @inline(__always)
    func byte(_ name: Name, _ k: Int) -> UInt8 { name.inScratch ? scratch[name.start + k] : text[name.start + k] }

    func bytes(of name: Name) -> [UInt8] {
        let range = name.start..<(name.start + name.count)
        return name.inScratch ? Array(scratch[range]) : Array(text[range])
    }

    /// The string of `candidates` whose UTF-8 is `name`'s, if any.
    func name(_ name: Name, in candidates: [String]) -> String? {
        let range = name.start..<(name.start + name.count)
        if name.inScratch {
            let bytes = scratch[range]
            return candidates.first { $0.utf8.elementsEqual(bytes) }
        }
        let bytes = text[range]
        return candidates.first { $0.utf8.elementsEqual(bytes) }
    }
}
