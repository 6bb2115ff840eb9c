/// A parsed JSON value. Objects keep their members as ordered pairs, compared by exact bytes:
/// Foundation's `JSONSerialization` (and any `[String: …]`) would merge keys that are canonically
/// equivalent (Llama-2's vocabulary has both U+1F77 and U+03AF, "ί" twice) and drops a leading
/// U+FEFF from strings.
enum JSONValue {
    case null
    case bool(Bool)
    case number(Double)
    case string(String)
    case array([JSONValue])
    case object([(String, JSONValue)])

    /// Parses UTF-8 JSON; errors name the byte offset.
    static func parse(_ bytes: [UInt8]) throws -> JSONValue {
        try bytes.withUnsafeBufferPointer { b in
            var p = JSONParser(b: b)
            let v = try p.value(depth: 0)
            p.skipSpace()
            guard p.i == b.count else { throw p.fail("trailing characters") }
            return v
        }
    }
}

private struct JSONParser {
    let b: UnsafeBufferPointer<UInt8>
    var i = 0

    func fail(_ what: String) -> TokenizerError { TokenizerError("invalid JSON: \(what) at byte \(i)") }

    mutating func skipSpace() {
        while i < b.count, b[i] == 0x20 || b[i] == 0x0A || b[i] == 0x0D || b[i] == 0x09 { i += 1 }
    }

    mutating func value(depth: Int) throws -> JSONValue {
        guard depth < 512 else { throw fail("nesting too deep") }
        skipSpace()
        guard i < b.count else { throw fail("unexpected end") }
        switch b[i] {
        case 0x7B: return try object(depth: depth)
        case 0x5B: return try array(depth: depth)
        case 0x22: return .string(try string())
        case 0x74: try literal("true"); return .bool(true)
        case 0x66: try literal("false"); return .bool(false)
        case 0x6E: try literal("null"); return .null
        default: return .number(try number())
        }
    }

    private mutating func literal(_ word: String) throws {
        let w = Array(word.utf8)
        guard i + w.count <= b.count, (0..<w.count).allSatisfy({ b[i + $0] == w[$0] }) else { throw fail("unexpected character") }
        i += w.count
    }

    private mutating func object(depth: Int) throws -> JSONValue {
        i += 1
        var members: [(String, JSONValue)] = []
        skipSpace()
        if i < b.count, b[i] == 0x7D { i += 1; return .object(members) }
        while true {
            skipSpace()
            guard i < b.count, b[i] == 0x22 else { throw fail("expected a string key") }
            let key = try string()
            skipSpace()
            guard i < b.count, b[i] == 0x3A else { throw fail("expected ':'") }
            i += 1
            members.append((key, try value(depth: depth + 1)))
            skipSpace()
            guard i < b.count else { throw fail("unterminated object") }
            if b[i] == 0x2C { i += 1; continue }
            guard b[i] == 0x7D else { throw fail("expected ',' or '}'") }
            i += 1
            return .object(members)
        }
    }

    private mutating func array(depth: Int) throws -> JSONValue {
        i += 1
        var items: [JSONValue] = []
        skipSpace()
        if i < b.count, b[i] == 0x5D { i += 1; return .array(items) }
        while true {
            items.append(try value(depth: depth + 1))
            skipSpace()
            guard i < b.count else { throw fail("unterminated array") }
            if b[i] == 0x2C { i += 1; continue }
            guard b[i] == 0x5D else { throw fail("expected ',' or ']'") }
            i += 1
            return .array(items)
        }
    }

    private mutating func number() throws -> Double {
        let start = i
        while i < b.count, (0x30...0x39).contains(b[i]) || b[i] == 0x2D || b[i] == 0x2B || b[i] == 0x2E || b[i] == 0x65 || b[i] == 0x45 { i += 1 }
        guard i > start, let v = Double(String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)) else {
            throw fail("unexpected character")
        }
        return v
    }

    private mutating func string() throws -> String {
        i += 1
        let start = i
        // fast path: no escapes
        while i < b.count, b[i] != 0x22, b[i] != 0x5C, b[i] >= 0x20 { i += 1 }
        guard i < b.count else { throw fail("unterminated string") }
        if b[i] == 0x22 {
            defer { i += 1 }
            return try utf8(UnsafeBufferPointer(rebasing: b[start..<i]))
        }
        var out = Array(b[start..<i])
        while true {
            guard i < b.count else { throw fail("unterminated string") }
            let c = b[i]
            if c == 0x22 { i += 1; return try utf8(out.withUnsafeBufferPointer { $0 }) }
            guard c >= 0x20 else { throw fail("control character in string") }
            if c != 0x5C { out.append(c); i += 1; continue }
            i += 1
            guard i < b.count else { throw fail("unterminated escape") }
            let e = b[i]
            i += 1
            switch e {
            case 0x22, 0x5C, 0x2F: out.append(e)
            case 0x62: out.append(0x08)
            case 0x66: out.append(0x0C)
            case 0x6E: out.append(0x0A)
            case 0x72: out.append(0x0D)
            case 0x74: out.append(0x09)
            case 0x75: UTF8Scalars.append(try unicodeEscape(), to: &out)
            default: throw fail("bad escape")
            }
        }
    }

    private func utf8(_ bytes: UnsafeBufferPointer<UInt8>) throws -> String {
        guard let s = String(validating: bytes, as: UTF8.self) else { throw fail("string is not valid UTF-8") }
        return s
    }

    /// After `\u`: four hex digits, combining a surrogate pair (a lone surrogate becomes U+FFFD).
    private mutating func unicodeEscape() throws -> UInt32 {
        let hi = try hex4()
        guard (0xD800..<0xDC00).contains(hi) else { return (0xDC00..<0xE000).contains(hi) ? 0xFFFD : hi }
        guard i + 1 < b.count, b[i] == 0x5C, b[i + 1] == 0x75 else { return 0xFFFD }
        let save = i
        i += 2
        let lo = try hex4()
        guard (0xDC00..<0xE000).contains(lo) else { i = save; return 0xFFFD }
        return 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00)
    }

    private mutating func hex4() throws -> UInt32 {
        guard i + 4 <= b.count else { throw fail("bad \\u escape") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            guard let d = Character(Unicode.Scalar(b[i])).hexDigitValue else { throw fail("bad \\u escape") }
            v = v * 16 + UInt32(d)
            i += 1
        }
        return v
    }
}
