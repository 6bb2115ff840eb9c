import Engine

/// The bounds of strings (`minLength`, `maxLength`, `pattern`, `format`) and numbers (`minimum`, `maximum`, `exclusiveMinimum`,
/// `exclusiveMaximum`, also draft 4's boolean forms) as grammar nodes the output keeps while it is written.
extension SchemaCompiler {
    static let stringBoundKeywords: Set<String> = ["minLength", "maxLength", "pattern", "format"]

    /// `format`s kept, as the patterns they are written by (each a subset of what the format allows, so every
    /// value parses as one: no year 0, no 31st of February, no leap second, at most six fractional digits of a second).
    static let formats: [String: String] = {
        // Years 0001–9999 (Python's datetime, pydantic's date, have no year 0).
        let date = "(?:000[1-9]|00[1-9]\\d|0[1-9]\\d{2}|[1-9]\\d{3})-(?:(?:0[13578]|1[02])-(?:0[1-9]|[12]\\d|3[01])|(?:0[469]|11)-(?:0[1-9]|[12]\\d|30)|02-(?:0[1-9]|1\\d|2[0-8]))"
        let time = "(?:[01]\\d|2[0-3]):[0-5]\\d:[0-5]\\d(?:\\.\\d{1,6})?(?:[Zz]|[+-](?:[01]\\d|2[0-3]):[0-5]\\d)"
        let octet = "(?:25[0-5]|2[0-4]\\d|1\\d\\d|[1-9]?\\d)"
        // Labels of at most 62 characters, at most 4 of them: at most 251 characters, under RFC 1123's 253.
        let label = "[A-Za-z0-9](?:[A-Za-z0-9-]{0,60}[A-Za-z0-9])?"
        let hex = "[0-9a-fA-F]"
        // E-mail, as email-validator (pydantic's EmailStr) takes it: a local part of one or two dot-separated runs
        // of at most 31 characters, 1–3 labels of at most 40 (one hyphen at most, so never IDNA's `ab--`), and a
        // TLD of letters that is none of the special-use names it refuses: at most 63 + 1 + 147 characters.
        let atom = "[A-Za-z0-9_%+-]"
        let mailLabel = "[A-Za-z0-9]{1,20}(?:-[A-Za-z0-9]{1,19})?"
        let tld = Self.letters(excluding: ["arpa", "invalid", "local", "localhost", "onion", "test"], length: 2...24)
        // URIs: http(s) URLs (as pydantic's HttpUrl takes them) with a host name whose last label begins with a
        // letter (one of digits would be read as an IPv4 address), and a port, a path, a query, a fragment, with
        // percent escapes whole.
        let host = "(?:\(mailLabel)\\.){0,3}[A-Za-z][A-Za-z0-9]{0,23}"
        let pchar = "(?:[A-Za-z0-9._~!$&'()*+,;=:@-]|%\(hex){2})"
        // IPv6: the eight groups, or fewer around one `::` (no embedded IPv4).
        let g = "\(hex){1,4}"
        let ipv6 = ["(?:\(g):){7}\(g)", "(?:\(g):){1,7}:", "(?:\(g):){1,6}:\(g)", "(?:\(g):){1,5}(?::\(g)){1,2}",
                    "(?:\(g):){1,4}(?::\(g)){1,3}", "(?:\(g):){1,3}(?::\(g)){1,4}", "(?:\(g):){1,2}(?::\(g)){1,5}",
                    "\(g):(?::\(g)){1,6}", ":(?::\(g)){1,7}", "::"].joined(separator: "|")
        // ISO 8601 durations in days, hours, minutes and seconds (no years or months, whose length varies; no weeks).
        let clock = "T(?:\\d{1,6}H(?:\\d{1,6}M)?(?:\\d{1,6}(?:\\.\\d{1,6})?S)?|\\d{1,6}M(?:\\d{1,6}(?:\\.\\d{1,6})?S)?|\\d{1,6}(?:\\.\\d{1,6})?S)"
        return [
            "date": "^\(date)$", "time": "^\(time)$", "date-time": "^\(date)[Tt]\(time)$",
            "uuid": "^\(hex){8}-\(hex){4}-\(hex){4}-\(hex){4}-\(hex){12}$",
            "ipv4": "^(?:\(octet)\\.){3}\(octet)$", "hostname": "^\(label)(?:\\.\(label)){0,3}$",
            "email": "^\(atom){1,31}(?:\\.\(atom){1,31})?@(?:\(mailLabel)\\.){1,3}\(tld)$",
            "uri": "^https?://\(host)(?::[1-9]\\d{0,3})?(?:/\(pchar)*)*(?:\\?(?:\(pchar)|[/?])*)?(?:#(?:\(pchar)|[/?])*)?$",
            "ipv6": "^(?:\(ipv6))$",
            "duration": "^P(?:\\d{1,6}D(?:\(clock))?|\(clock))$",
        ]
    }()
    /// A pattern for strings of ASCII letters of these lengths, except the given lowercase words in any case:
    /// a trie over the words, where each letter that leaves it is followed by any letters.
    static func letters(excluding words: [String], length: ClosedRange<Int>) -> String {
        func node(_ prefix: String) -> String {
            let k = prefix.count
            let next = Set(words.filter { $0.count > k && $0.hasPrefix(prefix) }.map { $0.dropFirst(k).first! })
            var alternatives: [String] = []
            if k < length.upperBound {
                let others = "abcdefghijklmnopqrstuvwxyz".filter { !next.contains($0) }
                let (lo, hi) = (max(0, length.lowerBound - k - 1), length.upperBound - k - 1)
                alternatives.append("[\(others)\(others.uppercased())][A-Za-z]{\(lo),\(hi)}")
                for c in next.sorted() { alternatives.append("[\(c)\(c.uppercased())]" + node(prefix + String(c))) }
            }
            let group = "(?:" + alternatives.joined(separator: "|") + ")"
            let mayEnd = k >= length.lowerBound && !words.contains(prefix)
            return mayEnd ? (alternatives.isEmpty ? "" : group + "?") : group
        }
        return node("")
    }

    static let numberBoundKeywords: Set<String> = ["minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum"]
    /// Lengths at most (a bound past it is as good as none, and keeps counts small).
    static let maxStringLength = 1_000_000

    /// A string with a `pattern` or `format`, or with length bounds; nil when the schema gives none of them.
    mutating func stringBounds(_ schema: OrderedJSON, at path: String) throws(APIError) -> OutputGrammar.Node? {
        let (minLength, maxLength) = try lengths(schema, at: path)
        if schema["pattern"] != nil || schema["format"] != nil {
            if schema["pattern"] != nil, schema["format"] != nil { throw fail(path + ".format", "'format' together with 'pattern' is not supported") }
            return try patternNode(schema, minLength: minLength, maxLength: maxLength, at: path)
        }
        guard minLength != nil || maxLength != nil else { return nil }
        return .boundedString(minLength: minLength ?? 0, maxLength: maxLength)
    }

    /// `minLength` and `maxLength`, checked.
    func lengths(_ schema: OrderedJSON, at path: String) throws(APIError) -> (min: Int?, max: Int?) {
        func length(_ key: String) throws(APIError) -> Int? {
            guard let v = schema[key] else { return nil }
            switch v {
            case let .scalar(.int(i)) where (0...Self.maxStringLength).contains(i): return i
            case let .scalar(.double(d)) where d == d.rounded() && d >= 0 && d <= Double(Self.maxStringLength): return Int(d)
            default: throw fail("\(path).\(key)", "must be an integer from 0 to \(Self.maxStringLength)")
            }
        }
        let minLength = try length("minLength"), maxLength = try length("maxLength")
        if let minLength, let maxLength, maxLength < minLength { throw fail(path + ".maxLength", "is less than minLength (\(minLength))") }
        return (minLength, maxLength)
    }

    /// A number range, or nil when the schema gives no bound. Bounds are rounded inwards to what can be written: whole
    /// numbers for `integer`, `NumberRange.fractionDigits` decimals for `number` (so `exclusiveMaximum: 1` allows
    /// 0.999999 at most).
    func numberBounds(_ schema: OrderedJSON, integer: Bool, at path: String) throws(APIError) -> OutputGrammar.Node? {
        guard !Self.numberBoundKeywords.isDisjoint(with: Set(schemaKeys(schema))) else { return nil }
        var range = NumberRange(integer: integer, lower: 0, upper: 0)
        let limit = range.maxMagnitude
        (range.lower, range.upper) = (-limit, limit)
        func value(_ key: String) throws(APIError) -> SchemaDecimal? {
            guard let v = schema[key] else { return nil }
            switch v {
            case let .scalar(.int(i)): return SchemaDecimal(sign: i < 0, digits: String(i.magnitude), exponent: 0)
            case let .scalar(.double(d)) where d.isFinite: return SchemaDecimal(d)
            case .scalar(.bool): return nil   // draft 4's exclusive flags, read below
            default: throw fail("\(path).\(key)", "must be a number")
            }
        }
        func flag(_ key: String) throws(APIError) -> Bool {
            guard case let .scalar(.bool(b))? = schema[key] else { return false }
            return b
        }
        let scale = range.scale
        if let m = try value("minimum") { range.lower = max(range.lower, try flag("exclusiveMinimum") ? m.units(scale, limit).floor + 1 : m.units(scale, limit).ceil) }
        if let m = try value("exclusiveMinimum") { range.lower = max(range.lower, m.units(scale, limit).floor + 1) }
        if let m = try value("maximum") { range.upper = min(range.upper, try flag("exclusiveMaximum") ? m.units(scale, limit).ceil - 1 : m.units(scale, limit).floor) }
        if let m = try value("exclusiveMaximum") { range.upper = min(range.upper, m.units(scale, limit).ceil - 1) }
        guard range.lower <= range.upper else {
            let what = integer ? "no integer of at most \(range.integerDigits) digits"
                : "no number of at most \(range.integerDigits) digits before the point and \(NumberRange.fractionDigits) after it"
            throw fail(path, "\(what) lies within the bounds")
        }
        return .numberRange(range)
    }

    private func schemaKeys(_ schema: OrderedJSON) -> [String] {
        guard case let .object(fields) = schema else { return [] }
        return fields.map(\.key)
    }
}

/// A bound exactly as the schema wrote it: sign, decimal digits, power of ten (a double's shortest decimal form,
/// so 0.1 is 1 × 10^-1, not the binary value below it).
struct SchemaDecimal {
    var negative: Bool
    var digits: [UInt8]
    var exponent: Int

    init(sign negative: Bool, digits: String, exponent: Int) {
        self.negative = negative
        self.digits = Array(digits.utf8).map { $0 - UInt8(ascii: "0") }
        self.exponent = exponent
    }

    init(_ d: Double) {
        // Swift writes a double in its shortest round-trip form: "0.1", "1e-07", "1.5e+20", "-3.0".
        let text = "\(abs(d))"
        let parts = text.split(separator: "e")
        let mantissa = parts[0], exp = parts.count > 1 ? Int(parts[1]) ?? 0 : 0
        let point = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let fraction = point.count > 1 ? String(point[1]) : ""
        self.init(sign: d < 0, digits: String(point[0]) + fraction, exponent: exp - fraction.count)
    }

    /// The value times 10^`scale`, rounded down and up, each clamped to ±(`limit` + 1).
    func units(_ scale: Int, _ limit: Int64) -> (floor: Int64, ceil: Int64) {
        let e = exponent + scale
        var magnitude: Int64 = 0, exact = true, huge = false
        let kept = e >= 0 ? digits.count : max(0, digits.count + e)
        for (i, digit) in digits.enumerated() {
            if i < kept {
                if magnitude > limit / 10 { huge = true; break }
                magnitude = magnitude * 10 + Int64(digit)
            } else if digit != 0 { exact = false }
        }
        if !huge, e > 0 {
            for _ in 0..<e where !huge {
                if magnitude > limit / 10 { huge = true } else { magnitude *= 10 }
            }
        }
        if huge || magnitude > limit { magnitude = limit + 1; exact = true }
        let up = exact ? magnitude : magnitude + 1
        return negative ? (-up, -magnitude) : (magnitude, up)
    }
}

extension SchemaCompiler {
    mutating func patternNode(_ schema: OrderedJSON, minLength: Int?, maxLength: Int?, at path: String) throws(APIError) -> OutputGrammar.Node {
        let key = schema["pattern"] != nil ? "pattern" : "format"
        guard case let .scalar(.string(text))? = schema[key] else { throw fail("\(path).\(key)", "must be a string") }
        let pattern: String
        if key == "format" {
            guard let p = Self.formats[text] else {
                throw fail(path + ".format", "the format '\(text)' is not supported (supported: \(Self.formats.keys.sorted().joined(separator: ", ")))")
            }
            pattern = p
        } else {
            guard text.unicodeScalars.count <= Self.maxPatternLength else { throw fail(path + ".pattern", "is longer than \(Self.maxPatternLength) characters") }
            pattern = text
        }
        let dfa: PatternDFA
        do {
            dfa = try PatternDFA.compile(pattern)
        } catch {
            throw fail("\(path).\(key)", "\(error.description)")
        }
        guard minLength != nil || maxLength != nil else { return .patternString(dfa) }
        let limited: PatternDFA
        do {
            limited = try dfa.limited(minLength: minLength ?? 0, maxLength: maxLength)
        } catch {
            switch error {
            case .tooLong: throw fail("\(path).minLength", "no string matching the \(key) has \(minLength ?? 0) or more characters")
            case .noLengthFits:
                throw fail("\(path).maxLength", "no string matching the \(key) has from \(minLength ?? 0) to \(maxLength ?? 0) characters")
            case .tableTooLarge:
                throw fail("\(path).maxLength", "'maxLength' \(maxLength ?? 0) together with this \(key) needs too large a table; use a smaller maxLength")
            }
        }
        lengthTableWords += limited.length?.tableWords ?? 0
        guard lengthTableWords <= Self.maxLengthTableWords else {
            throw fail("\(path).maxLength", "the schema's length bounds on patterns and formats need too large tables in all; use smaller maxLengths")
        }
        return .patternString(limited)
    }

    static let maxPatternLength = 4096
    /// 64-bit words of length tables one schema may use (32 MB).
    static let maxLengthTableWords = 4_000_000
}
