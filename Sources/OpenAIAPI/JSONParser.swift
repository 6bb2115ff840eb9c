/// A strict RFC 8259 parser for request bodies, linear in the body's size.
///
/// Written for the API rather than borrowed from Foundation, whose decoder (through `Codable`) took time
/// quadratic in the nesting depth (a 40 KB body of depth-500 arrays held a core for ~14 s), accepted trailing
/// commas and UTF-16 bodies, and let the first of two duplicate keys win while most clients and gateways keep
/// the last: a proxy that checks `max_tokens` would check a different value than the server used. Here:
/// UTF-8 only (a leading UTF-8 byte order mark is skipped), no trailing commas, no duplicate keys, no NaN or
/// infinities, numbers out of Double's range refused, lone surrogates refused, at most `maxDepth` levels.
struct JSONParser {
    /// Deeper than any request of the OpenAI API needs (messages → content parts → fields is 4).
    static let maxDepth = 128

    struct Failure: Error, Equatable {
        let message: String
        let offset: Int
    }

    private let bytes: UnsafeBufferPointer<UInt8>
    private var i = 0
    private var depth = 0
    /// When recording: each object's keys in the order written, objects in the order they open.
    private var keyOrders: [[String]]?

    private init(_ bytes: UnsafeBufferPointer<UInt8>) { self.bytes = bytes }

    static func parse(_ body: [UInt8]) throws(Failure) -> JSONInput {
        try parseRecordingKeyOrder(body, record: false).value
    }

    /// The value and, per object in the order the objects open, its keys in the order written (JSON Schema's
    /// `properties` order is the order a structured output writes them).
    static func parseKeepingKeyOrder(_ body: [UInt8]) throws(Failure) -> OrderedJSON {
        let (value, orders) = try parseRecordingKeyOrder(body, record: true)
        var next = 0
        return OrderedJSON(value, keyOrders: orders, next: &next)
    }

    private static func parseRecordingKeyOrder(_ body: [UInt8], record: Bool) throws(Failure) -> (value: JSONInput, orders: [[String]]) {
        let result: Result<(JSONInput, [[String]]), Failure> = body.withUnsafeBufferPointer { buffer in
            var parser = JSONParser(buffer)
            if record { parser.keyOrders = [] }
            return Result { () throws(Failure) -> (JSONInput, [[String]]) in (try parser.document(), parser.keyOrders ?? []) }
        }
        return try result.get()
    }

    private mutating func document() throws(Failure) -> JSONInput {
        if bytes.count >= 3, bytes[0] == 0xEF, bytes[1] == 0xBB, bytes[2] == 0xBF { i = 3 }
        skipWhitespace()
        let value = try self.value()
        skipWhitespace()
        guard i == bytes.count else { throw fail("unexpected data after the JSON value") }
        return value
    }

    private func fail(_ message: String) -> Failure { Failure(message: message, offset: i) }

    private mutating func skipWhitespace() {
        while i < bytes.count, bytes[i] == 0x20 || bytes[i] == 0x0A || bytes[i] == 0x0D || bytes[i] == 0x09 { i += 1 }
    }

    private mutating func value() throws(Failure) -> JSONInput {
        guard i < bytes.count else { throw fail("unexpected end of the body") }
        switch bytes[i] {
        case UInt8(ascii: "{"): return try object()
        case UInt8(ascii: "["): return try array()
        case UInt8(ascii: "\""): return .string(try string())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
        default: throw fail("unexpected character '\(Self.describe(bytes[i]))'")
        }
    }

    private mutating func literal(_ word: StaticString) throws(Failure) {
        let n = word.utf8CodeUnitCount
        guard i + n <= bytes.count, (0..<n).allSatisfy({ bytes[i + $0] == word.utf8Start[$0] }) else {
            throw fail("unexpected character '\(Self.describe(bytes[i]))'")
        }
        i += n
    }

    private mutating func enter() throws(Failure) {
        depth += 1
        guard depth <= Self.maxDepth else { throw fail("the JSON is nested more than \(Self.maxDepth) levels deep") }
    }

    private mutating func object() throws(Failure) -> JSONInput {
        try enter()
        i += 1
        var out: [String: JSONInput] = [:]
        let slot = keyOrders?.count ?? 0
        keyOrders?.append([])
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "}") { i += 1; depth -= 1; return .object(out) }
        while true {
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: "\"") else { throw fail("expected a string key") }
            let keyOffset = i
            let key = try string()
            keyOrders?[slot].append(key)
            skipWhitespace()
            guard i < bytes.count, bytes[i] == UInt8(ascii: ":") else { throw fail("expected ':' after a key") }
            i += 1
            skipWhitespace()
            let v = try value()
            guard out.updateValue(v, forKey: key) == nil else {
                throw Failure(message: "the key '\(key)' appears twice in one object", offset: keyOffset)
            }
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of the body inside an object") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            guard bytes[i] == UInt8(ascii: "}") else { throw fail("expected ',' or '}' in an object") }
            i += 1
            depth -= 1
            return .object(out)
        }
    }

    private mutating func array() throws(Failure) -> JSONInput {
        try enter()
        i += 1
        var out: [JSONInput] = []
        skipWhitespace()
        if i < bytes.count, bytes[i] == UInt8(ascii: "]") { i += 1; depth -= 1; return .array(out) }
        while true {
            skipWhitespace()
            out.append(try value())
            skipWhitespace()
            guard i < bytes.count else { throw fail("unexpected end of the body inside an array") }
            if bytes[i] == UInt8(ascii: ",") { i += 1; continue }
            guard bytes[i] == UInt8(ascii: "]") else { throw fail("expected ',' or ']' in an array") }
            i += 1
            depth -= 1
            return .array(out)
        }
    }

    /// A string literal, `i` at its opening quote. Runs without escapes are validated as UTF-8 in one go.
    private mutating func string() throws(Failure) -> String {
        i += 1
        var out = ""
        var runStart = i
        while true {
            guard i < bytes.count else { throw fail("unterminated string") }
            let b = bytes[i]
            if b == UInt8(ascii: "\"") || b == UInt8(ascii: "\\") {
                try appendRun(runStart..<i, to: &out)
                if b == UInt8(ascii: "\"") { i += 1; return out }
                try escape(into: &out)
                runStart = i
            } else if b < 0x20 {
                throw fail("a control character (0x\(String(b, radix: 16))) must be escaped inside a string")
            } else {
                i += 1
            }
        }
    }

    private func appendRun(_ range: Range<Int>, to out: inout String) throws(Failure) {
        guard !range.isEmpty else { return }
        guard let text = String(validating: UnsafeBufferPointer(rebasing: bytes[range]), as: UTF8.self) else {
            throw Failure(message: "a string is not valid UTF-8", offset: range.lowerBound)
        }
        out += text
    }

    /// `i` at a backslash.
    private mutating func escape(into out: inout String) throws(Failure) {
        guard i + 1 < bytes.count else { throw fail("unterminated string") }
        let c = bytes[i + 1]
        i += 2
        switch c {
        case UInt8(ascii: "\""): out += "\""
        case UInt8(ascii: "\\"): out += "\\"
        case UInt8(ascii: "/"): out += "/"
        case UInt8(ascii: "b"): out += "\u{08}"
        case UInt8(ascii: "f"): out += "\u{0C}"
        case UInt8(ascii: "n"): out += "\n"
        case UInt8(ascii: "r"): out += "\r"
        case UInt8(ascii: "t"): out += "\t"
        case UInt8(ascii: "u"):
            let unit = try hex4()
            var scalar: UInt32 = unit
            if (0xD800..<0xDC00).contains(unit) {
                guard i + 1 < bytes.count, bytes[i] == UInt8(ascii: "\\"), bytes[i + 1] == UInt8(ascii: "u") else {
                    throw fail("a high surrogate (\\u\(String(unit, radix: 16))) without its low surrogate")
                }
                i += 2
                let low = try hex4()
                guard (0xDC00..<0xE000).contains(low) else { throw fail("a high surrogate followed by \\u\(String(low, radix: 16))") }
                scalar = 0x10000 + ((unit - 0xD800) << 10) + (low - 0xDC00)
            } else if (0xDC00..<0xE000).contains(unit) {
                throw fail("a low surrogate (\\u\(String(unit, radix: 16))) without a high one")
            }
            out.unicodeScalars.append(Unicode.Scalar(scalar)!)   // not a surrogate, ≤ 0x10FFFF
        default:
            i -= 1
            throw fail("invalid escape '\\\(Self.describe(c))'")
        }
    }

    private mutating func hex4() throws(Failure) -> UInt32 {
        guard i + 4 <= bytes.count else { throw fail("a \\u escape needs 4 hex digits") }
        var v: UInt32 = 0
        for _ in 0..<4 {
            let b = bytes[i]
            let d: UInt8
            switch b {
            case UInt8(ascii: "0")...UInt8(ascii: "9"): d = b - UInt8(ascii: "0")
            case UInt8(ascii: "a")...UInt8(ascii: "f"): d = b - UInt8(ascii: "a") + 10
            case UInt8(ascii: "A")...UInt8(ascii: "F"): d = b - UInt8(ascii: "A") + 10
            default: throw fail("a \\u escape needs 4 hex digits")
            }
            v = v << 4 | UInt32(d)
            i += 1
        }
        return v
    }

    /// `-?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?`: an `.int` when it has no fraction or exponent and
    /// fits, else a `.double` (finite: 1e400 is refused, not infinity).
    private mutating func number() throws(Failure) -> JSONInput {
        let start = i
        if bytes[i] == UInt8(ascii: "-") { i += 1 }
        guard i < bytes.count, Self.isDigit(bytes[i]) else { throw fail("a number needs a digit") }
        if bytes[i] == UInt8(ascii: "0") {
            i += 1
            if i < bytes.count, Self.isDigit(bytes[i]) { throw fail("a number has a leading zero") }
        } else {
            while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
        }
        var integral = true
        if i < bytes.count, bytes[i] == UInt8(ascii: ".") {
            integral = false
            i += 1
            guard i < bytes.count, Self.isDigit(bytes[i]) else { throw fail("a number needs digits after '.'") }
            while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
        }
        if i < bytes.count, bytes[i] == UInt8(ascii: "e") || bytes[i] == UInt8(ascii: "E") {
            integral = false
            i += 1
            if i < bytes.count, bytes[i] == UInt8(ascii: "+") || bytes[i] == UInt8(ascii: "-") { i += 1 }
            guard i < bytes.count, Self.isDigit(bytes[i]) else { throw fail("a number needs digits in its exponent") }
            while i < bytes.count, Self.isDigit(bytes[i]) { i += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: bytes[start..<i]), as: UTF8.self)
        if integral, let n = Int(text) { return .int(n) }
        guard let d = Double(text), d.isFinite else { throw Failure(message: "the number \(text) is out of range", offset: start) }
        return .double(d)
    }

    private static func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

    private static func describe(_ b: UInt8) -> String {
        b >= 0x20 && b < 0x7F ? String(UnicodeScalar(b)) : "0x" + String(b, radix: 16)
    }
}

/// A parsed JSON value whose objects keep their keys in the order written.
public indirect enum OrderedJSON: Sendable, Equatable {
    case scalar(JSONInput)
    case array([OrderedJSON])
    case object([(key: String, value: OrderedJSON)])

    /// Rebuilds `value` with `keyOrders` (one per object, in the order the objects open, from `next` on).
    init(_ value: JSONInput, keyOrders: [[String]], next: inout Int) {
        switch value {
        case let .array(items):
            var out: [OrderedJSON] = []
            for item in items { out.append(OrderedJSON(item, keyOrders: keyOrders, next: &next)) }
            self = .array(out)
        case let .object(fields):
            let keys = next < keyOrders.count ? keyOrders[next] : fields.keys.sorted()
            next += 1
            var out: [(key: String, value: OrderedJSON)] = []
            for k in keys { if let v = fields[k] { out.append((k, OrderedJSON(v, keyOrders: keyOrders, next: &next))) } }
            self = .object(out)
        default:
            self = .scalar(value)
        }
    }

    /// A value read without key order (never one `parseKeepingKeyOrder` makes: its objects are `.object`), keys sorted.
    init(sorting value: JSONInput) {
        var next = 0
        self.init(value, keyOrders: [], next: &next)
    }

    public static func == (a: OrderedJSON, b: OrderedJSON) -> Bool {
        switch (a, b) {
        case let (.scalar(x), .scalar(y)): return x == y
        case let (.array(x), .array(y)): return x == y
        case let (.object(x), .object(y)): return x.count == y.count && zip(x, y).allSatisfy { $0.key == $1.key && $0.value == $1.value }
        default: return false
        }
    }

    public subscript(key: String) -> OrderedJSON? {
        guard case let .object(fields) = self else { return nil }
        return fields.first { $0.key == key }?.value
    }
}
