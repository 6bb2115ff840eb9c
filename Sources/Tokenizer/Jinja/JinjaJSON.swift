import Foundation

/// JSON in Python's dialect: encoding like `json.dumps` (what HF's `tojson` filter calls) and
/// an order-preserving decoder, so `tools|tojson` reproduces the request's key order.
enum JinjaJSON {
    /// `json.dumps` keyword arguments.
    struct Options {
        var ensureASCII = false
        /// Per-level indent text; nil means single-line output.
        var indent: String?
        var itemSeparator = ", "
        var keySeparator = ": "
        var sortKeys = false
    }

    static func encode(_ value: JinjaValue, options: Options) throws -> String {
        var out = ""
        try encode(value, options, level: 0, into: &out)
        return out
    }

    private static func encode(_ value: JinjaValue, _ options: Options, level: Int, into out: inout String) throws {
        switch value {
        case .none: out += "null"
        case .bool(let b): out += b ? "true" : "false"
        case .int(let i): out += String(i)
        case .double(let d):
            if d.isNaN { out += "NaN" } else if d.isInfinite { out += d < 0 ? "-Infinity" : "Infinity" } else {
                out += PythonFloat.repr(d)
            }
        case .string(let s): out += quote(s, ensureASCII: options.ensureASCII)
        case .array(let items):
            try container("[", "]", items, options, level, &out) { item, level, out in
                try encode(item, options, level: level, into: &out)
            }
        case .object(let object):
            var pairs = try object.valuePairs.map { (key: try jsonKey($0.key), value: $0.value) }
            if options.sortKeys { pairs.sort { Operators.compareScalars($0.key, $1.key) < 0 } }
            try container("{", "}", pairs, options, level, &out) { pair, level, out in
                out += quote(pair.key, ensureASCII: options.ensureASCII) + options.keySeparator
                try encode(pair.value, options, level: level, into: &out)
            }
        case .undefined, .namespace, .callable:
            throw JinjaError.runtime("Object of type \(value.typeName) is not JSON serializable")
        }
    }

    /// `json.dumps` turns int, float, bool and None keys into strings.
    private static func jsonKey(_ key: JinjaValue) throws -> String {
        switch key {
        case .string(let s): return s
        case .int(let i): return String(i)
        case .bool(let b): return b ? "true" : "false"
        case .none: return "null"
        case .double(let d): return d.isFinite ? PythonFloat.repr(d) : (d.isNaN ? "NaN" : (d < 0 ? "-Infinity" : "Infinity"))
        default: throw JinjaError.runtime("keys must be str, int, float, bool or None, not \(key.typeName)")
        }
    }

    private static func container<T>(_ open: String, _ close: String, _ items: [T], _ options: Options, _ level: Int,
                                     _ out: inout String, _ element: (T, Int, inout String) throws -> Void) throws {
        guard !items.isEmpty else {
            out += open + close
            return
        }
        guard level < 512 else { throw JinjaError.runtime("JSON value is nested too deeply") }
        out += open
        let newline = options.indent.map { "\n" + String(repeating: $0, count: level + 1) } ?? ""
        for (i, item) in items.enumerated() {
            out += (i == 0 ? "" : options.itemSeparator) + newline
            try element(item, level + 1, &out)
        }
        if let indent = options.indent { out += "\n" + String(repeating: indent, count: level) }
        out += close
    }

    /// A JSON string literal with Python's escaping rules.
    static func quote(_ s: String, ensureASCII: Bool) -> String {
        var out = "\""
        for c in s.unicodeScalars {
            switch c {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            default:
                if c.value < 0x20 || (ensureASCII && c.value > 0x7E) {
                    out += escapeUTF16(c)
                } else {
                    out.unicodeScalars.append(c)
                }
            }
        }
        return out + "\""
    }

    private static func escapeUTF16(_ c: Unicode.Scalar) -> String {
        String(c).utf16.map { unit -> String in
            let hex = String(unit, radix: 16)
            return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
        }.joined()
    }
}

// MARK: - Decoding

extension JinjaValue {
    /// Parses JSON text, keeping object keys in document order (unlike `JSONSerialization`).
    /// Integers become `.int`, numbers with a fraction or exponent `.double`.
    public init(json: String) throws {
        try self.init(jsonData: Data(json.utf8))
    }

    /// Parses UTF-8 JSON bytes; see `init(json:)`.
    public init(jsonData: Data) throws {
        var parser = JSONParser(bytes: [UInt8](jsonData))
        self = try parser.parseDocument()
    }

    /// This value as compact JSON in Python's `json.dumps(..., ensure_ascii=False)` style.
    public func jsonString(indent: Int? = nil, sortKeys: Bool = false) throws -> String {
        var options = JinjaJSON.Options()
        options.indent = try indent.map { String(repeating: " ", count: max(try PyStr.checkedWidth($0), 0)) }
        options.itemSeparator = indent == nil ? ", " : ","
        options.sortKeys = sortKeys
        return try JinjaJSON.encode(self, options: options)
    }
}

private struct JSONParser {
    let bytes: [UInt8]
    var i = 0
    var depth = 0

    init(bytes: [UInt8]) {
        self.bytes = bytes
    }

    mutating func parseDocument() throws -> JinjaValue {
        if bytes.starts(with: [0xEF, 0xBB, 0xBF]) { i = 3 }
        let value = try parseValue()
        skipSpace()
        guard i == bytes.count else { throw fail("trailing characters") }
        return value
    }

    private func fail(_ message: String) -> JinjaError {
        JinjaError(.syntax, "invalid JSON: \(message) at byte \(i)")
    }

    private mutating func skipSpace() {
        while i < bytes.count, [0x20, 0x09, 0x0A, 0x0D].contains(bytes[i]) { i += 1 }
    }

    private mutating func parseValue() throws -> JinjaValue {
        skipSpace()
        guard i < bytes.count else { throw fail("unexpected end") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): return try literal("true", .bool(true))
        case UInt8(ascii: "f"): return try literal("false", .bool(false))
        case UInt8(ascii: "n"): return try literal("null", .none)
        case UInt8(ascii: "N"): return try literal("NaN", .double(.nan))
        case UInt8(ascii: "I"): return try literal("Infinity", .double(.infinity))
        default: return try parseNumber()
        }
    }

    private mutating func literal(_ word: String, _ value: JinjaValue) throws -> JinjaValue {
        let w = Array(word.utf8)
        guard bytes.count - i >= w.count, Array(bytes[i..<(i + w.count)]) == w else { throw fail("unexpected token") }
        i += w.count
        return value
    }

    private mutating func nested<T>(_ body: (inout JSONParser) throws -> T) throws -> T {
        depth += 1
        defer { depth -= 1 }
        guard depth <= 256 else { throw fail("nesting too deep") }
        return try body(&self)
    }

    private mutating func parseArray() throws -> JinjaValue {
        try nested { p in
            p.i += 1
            var items: [JinjaValue] = []
            p.skipSpace()
            if p.i < p.bytes.count, p.bytes[p.i] == UInt8(ascii: "]") { p.i += 1; return .array(items) }
            while true {
                items.append(try p.parseValue())
                p.skipSpace()
                guard p.i < p.bytes.count else { throw p.fail("unterminated array") }
                let c = p.bytes[p.i]
                p.i += 1
                if c == UInt8(ascii: "]") { return .array(items) }
                guard c == UInt8(ascii: ",") else { throw p.fail("expected ',' or ']'") }
            }
        }
    }

    private mutating func parseObject() throws -> JinjaValue {
        try nested { p in
            p.i += 1
            var object = JinjaObject()
            p.skipSpace()
            if p.i < p.bytes.count, p.bytes[p.i] == UInt8(ascii: "}") { p.i += 1; return .object(object) }
            while true {
                p.skipSpace()
                guard p.i < p.bytes.count, p.bytes[p.i] == UInt8(ascii: "\"") else { throw p.fail("expected a key") }
                let key = try p.parseString()
                p.skipSpace()
                guard p.i < p.bytes.count, p.bytes[p.i] == UInt8(ascii: ":") else { throw p.fail("expected ':'") }
                p.i += 1
                object[key] = try p.parseValue()
                p.skipSpace()
                guard p.i < p.bytes.count else { throw p.fail("unterminated object") }
                let c = p.bytes[p.i]
                p.i += 1
                if c == UInt8(ascii: "}") { return .object(object) }
                guard c == UInt8(ascii: ",") else { throw p.fail("expected ',' or '}'") }
            }
        }
    }

    private mutating func parseNumber() throws -> JinjaValue {
        let start = i
        var isFloat = false
        if i < bytes.count, bytes[i] == UInt8(ascii: "-") { i += 1 }
        if bytes.count - i >= 8, Array(bytes[i..<(i + 8)]) == Array("Infinity".utf8) {
            i += 8
            return .double(-.infinity)
        }
        while i < bytes.count {
            let c = bytes[i]
            if c >= UInt8(ascii: "0"), c <= UInt8(ascii: "9") {
                i += 1
            } else if [UInt8(ascii: "."), UInt8(ascii: "e"), UInt8(ascii: "E"), UInt8(ascii: "+"), UInt8(ascii: "-")].contains(c) {
                isFloat = true
                i += 1
            } else {
                break
            }
        }
        let text = String(decoding: bytes[start..<i], as: UTF8.self)
        if !isFloat, let int = Int(text) { return .int(int) }
        guard let double = Double(text), !text.isEmpty, text != "-" else { throw fail("invalid number") }
        return .double(double)
    }

    private mutating func parseString() throws -> String {
        i += 1
        var out = String.UnicodeScalarView()
        var start = i
        while i < bytes.count {
            let c = bytes[i]
            if c == UInt8(ascii: "\"") {
                out.append(contentsOf: String(decoding: bytes[start..<i], as: UTF8.self).unicodeScalars)
                i += 1
                return String(out)
            }
            if c == UInt8(ascii: "\\") {
                out.append(contentsOf: String(decoding: bytes[start..<i], as: UTF8.self).unicodeScalars)
                i += 1
                out.append(try parseEscape())
                start = i
            } else {
                i += 1
            }
        }
        throw fail("unterminated string")
    }

    private mutating func parseEscape() throws -> Unicode.Scalar {
        guard i < bytes.count else { throw fail("unterminated escape") }
        let c = bytes[i]
        i += 1
        switch c {
        case UInt8(ascii: "\""): return "\""
        case UInt8(ascii: "\\"): return "\\"
        case UInt8(ascii: "/"): return "/"
        case UInt8(ascii: "b"): return "\u{08}"
        case UInt8(ascii: "f"): return "\u{0C}"
        case UInt8(ascii: "n"): return "\n"
        case UInt8(ascii: "r"): return "\r"
        case UInt8(ascii: "t"): return "\t"
        case UInt8(ascii: "u"):
            let high = try hex4()
            if (0xD800..<0xDC00).contains(high), bytes.count - i >= 6, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") {
                let saved = i
                i += 2
                let low = try hex4()
                if (0xDC00..<0xE000).contains(low) {
                    return Unicode.Scalar(0x10000 + ((high - 0xD800) << 10) + (low - 0xDC00)) ?? "\u{FFFD}"
                }
                i = saved
            }
            return Unicode.Scalar(high) ?? "\u{FFFD}"
        default:
            throw fail("invalid escape")
        }
    }

    private mutating func hex4() throws -> UInt32 {
        guard bytes.count - i >= 4, let v = UInt32(String(decoding: bytes[i..<(i + 4)], as: UTF8.self), radix: 16) else {
            throw fail("invalid \\u escape")
        }
        i += 4
        return v
    }
}
