extension StrictJSON {
    /// Reads one JSON text exactly as strictly as `parse` (it accepts the same texts and
    /// refuses the others with the same error), but builds only the top-level members
    /// named in `names`: every other value is checked where it stands (strings with their
    /// escapes and UTF-8, numbers in canonical form, literals, nested arrays and objects
    /// with their depth and duplicate names) and skipped without being built. For a reader
    /// that needs a few members of a large record, such as a market data line with every
    /// trade of its batch.
    ///
    /// The scan stops at the first fault of any kind. Since §5.1 names grammar faults
    /// before duplicates and non-canonical numbers, a refused text is then read again by
    /// `parse`, and its error is the one thrown: both readers always name the same error.
    ///
    /// - Returns: the members named in `names` that the top-level object holds, in
    ///   document order; nil when the text is JSON whose top-level value is no object.
    public static func members(named names: [String], in text: UnsafeRawBufferPointer) throws(StrictJSONError)
        -> [JSONMember]?
    {
        var scanner = Parser(text: text)
        do {
            return try scanner.scanDocument(keeping: names)
        } catch {
            _ = try parse(text)
            // Unreachable while both modes agree (the tests compare them); never accept.
            throw error
        }
    }
}

extension Parser {
    /// The scan mode. Any fault is thrown at once, with the path `$`: the caller takes the
    /// error from `parse` instead.
    mutating func scanDocument(keeping names: [String]) throws(StrictJSONError) -> [JSONMember]? {
        skipSpace()
        var members: [JSONMember]?
        if at < text.count, text[at] == UInt8(ascii: "{") {
            members = try skipObject(depth: 1, keeping: names)
        } else {
            try skipValue(depth: 1)
        }
        skipSpace()
        guard at == text.count else { throw StrictJSONError(.trailingData, path: "$", offset: at) }
        if let firstNonFatal { throw firstNonFatal }  // from a kept member's value
        return members
    }

    /// Past the value at `at`, checked as `value(path:depth:)` checks it. Inlined into the
    /// loops of `skipObject` and `skipArray`: only a nested container costs a call.
    @inline(__always)
    mutating func skipValue(depth: Int) throws(StrictJSONError) {
        guard at < text.count else { throw syntax("$") }
        switch text[at] {
        case UInt8(ascii: "{"): _ = try skipObject(depth: depth, keeping: [])
        case UInt8(ascii: "["): try skipArray(depth: depth)
        case UInt8(ascii: "\""): try scanString(path: "$", decode: false)
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            let start = at
            guard try scanNumber(path: "$").canonical else {
                throw StrictJSONError(.nonCanonicalNumber, path: "$", offset: start)
            }
        case UInt8(ascii: "t"): try literal("true", "$")
        case UInt8(ascii: "f"): try literal("false", "$")
        case UInt8(ascii: "n"): try literal("null", "$")
        default: throw syntax("$")
        }
    }

    mutating func skipArray(depth: Int) throws(StrictJSONError) {
        guard depth <= StrictJSON.maxDepth else { throw StrictJSONError(.tooDeep, path: "$", offset: at) }
        at += 1
        skipSpace()
        if at < text.count, text[at] == UInt8(ascii: "]") {
            at += 1
            return
        }
        while true {
            skipSpace()
            try skipValue(depth: depth + 1)
            skipSpace()
            guard at < text.count else { throw syntax("$") }
            if text[at] == UInt8(ascii: ",") {
                at += 1
            } else if text[at] == UInt8(ascii: "]") {
                at += 1
                return
            } else {
                throw syntax("$")
            }
        }
    }

    /// Past the object at `at`, refusing a repeated member name (`memberName`) without
    /// building a `String` per name. Returns the members named in `keeping`, built by
    /// `value(path:depth:)`.
    mutating func skipObject(depth: Int, keeping keep: [String]) throws(StrictJSONError) -> [JSONMember] {
        guard depth <= StrictJSON.maxDepth else { throw StrictJSONError(.tooDeep, path: "$", offset: at) }
        at += 1
        var kept: [JSONMember] = []
        skipSpace()
        if at < text.count, text[at] == UInt8(ascii: "}") {
            at += 1
            return kept
        }
        var names = ObjectNames(scratchBase: scratch.count, stackBase: nameCount)
        while true {
            skipSpace()
            guard at < text.count, text[at] == UInt8(ascii: "\"") else { throw syntax("$") }
            let nameOffset = at
            let (name, repeated) = try memberName(path: "$", decode: false, &names)
            if repeated { throw StrictJSONError(.duplicateKey, path: "$", offset: nameOffset) }
            skipSpace()
            guard at < text.count, text[at] == UInt8(ascii: ":") else { throw syntax("$") }
            at += 1
            skipSpace()
            if !keep.isEmpty, let keptName = self.name(name, in: keep) {
                kept.append(JSONMember(name: keptName, value: try value(path: "$", depth: depth + 1)))
            } else {
                try skipValue(depth: depth + 1)
            }
            skipSpace()
            guard at < text.count else { throw syntax("$") }
            if text[at] == UInt8(ascii: ",") {
                at += 1
            } else if text[at] == UInt8(ascii: "}") {
                at += 1
                end(names)
                return kept
            } else {
                throw syntax("$")
            }
        }
    }
}
