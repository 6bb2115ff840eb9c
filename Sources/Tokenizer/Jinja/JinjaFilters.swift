import Foundation

// jinja2's built-in filters (plus HF's `tojson`), matching jinja2 3.1 behaviour.
// Collection filters (`map`, `selectattr`, `sort`, ...) live in JinjaFilters+Sequences.swift.

extension Renderer {
    static let filterNames: Set<String> = [
        "tojson", "string", "safe", "trim", "lower", "upper", "capitalize", "title", "escape", "e",
        "forceescape", "replace", "center", "indent", "wordcount", "format", "default", "d", "attr",
        "int", "float", "abs", "round", "length", "count", "list", "first", "last", "reverse", "items",
        "dictsort", "sort", "unique", "min", "max", "sum", "join", "batch", "map", "select", "reject",
        "selectattr", "rejectattr",
    ]

    func applyFilter(_ name: String, to value: JinjaValue, _ args: Arguments) throws -> JinjaValue {
        if let result = try textFilter(name, value, args) { return result }
        if let result = try numberFilter(name, value, args) { return result }
        if let result = try sequenceFilter(name, value, args) { return result }
        if let result = try selectionFilter(name, value, args) { return result }
        throw JinjaError.runtime("No filter named '\(name)'.")
    }

    private func textFilter(_ name: String, _ value: JinjaValue, _ args: Arguments) throws -> JinjaValue? {
        switch name {
        case "tojson":
            let a = try args.bind(["ensure_ascii", "indent", "separators", "sort_keys"], function: name)
            return .string(try JinjaJSON.encode(value, options: try jsonOptions(a)))
        case "string": return .string(value.pythonString)
        case "safe": return .string(value.pythonString)
        case "trim":
            let a = try args.bind(["chars"], function: name)
            return .string(PyStr.strip(value.pythonString, characters: try optionalString(a[0], name)))
        case "lower": return .string(value.pythonString.lowercased())
        case "upper": return .string(value.pythonString.uppercased())
        case "capitalize": return .string(PyStr.capitalize(value.pythonString))
        case "title": return .string(jinjaTitle(value.pythonString))
        case "escape", "e", "forceescape": return .string(htmlEscape(value.pythonString))
        case "replace":
            let a = try args.bind(["old", "new", "count"], function: name)
            let count = a[2].flatMap { $0 == .none ? nil : $0 }
            return .string(try PyStr.replace(value.pythonString, (a[0] ?? .undefined).pythonString,
                                             (a[1] ?? .undefined).pythonString, count: try count.map { try int($0, name) } ?? -1,
                                             limit: limits.maxOutputBytes))
        case "center":
            let a = try args.bind(["width"], function: name)
            return .string(PyStr.center(value.pythonString, width: try PyStr.checkedWidth(try int(a[0] ?? .int(80), name))))
        case "indent":
            let a = try args.bind(["width", "first", "blank"], function: name)
            return .string(try indent(value.pythonString, a))
        case "wordcount":
            return .int(wordCount(value.pythonString))
        case "format":
            guard args.keyword.isEmpty else { throw JinjaError.runtime("format filter with keywords is not supported") }
            return .string(try PercentFormat.format(value.pythonString, .array(args.positional)))
        case "default", "d":
            let a = try args.bind(["default_value", "boolean"], function: name)
            let useDefault = value.isUndefined || ((a[1]?.isTruthy ?? false) && !value.isTruthy)
            return useDefault ? (a[0] ?? .string("")) : value
        case "attr":
            let a = try args.bind(["name"], function: name)
            return try attribute(of: value, try string(a[0] ?? .undefined, name))
        default:
            return nil
        }
    }

    private func jsonOptions(_ a: [JinjaValue?]) throws -> JinjaJSON.Options {
        var options = JinjaJSON.Options()
        options.ensureASCII = a[0]?.isTruthy ?? false
        switch a[1] {
        case nil, .none?: options.indent = nil
        case .string(let s)?: options.indent = s
        case let v?: options.indent = String(repeating: " ", count: max(try PyStr.checkedWidth(try int(v, "tojson")), 0))
        }
        if let separators = a[2], separators != .none {
            let parts = try iterate(separators).map { try string($0, "tojson") }
            guard parts.count == 2 else { throw JinjaError.runtime("separators must be a pair of strings") }
            options.itemSeparator = parts[0]
            options.keySeparator = parts[1]
        } else {
            options.itemSeparator = options.indent == nil ? ", " : ","
        }
        options.sortKeys = a[3]?.isTruthy ?? false
        return options
    }

    /// jinja2's `title` filter: capitalise each piece between `-`, whitespace and `({[<`.
    private func jinjaTitle(_ s: String) -> String {
        var out = ""
        var atWordStart = true
        for c in s.unicodeScalars {
            let isSeparator = PythonString.isSpace(c) || "-({[<".unicodeScalars.contains(c)
            if isSeparator {
                out.unicodeScalars.append(c)
                atWordStart = true
            } else {
                out += atWordStart ? c.properties.uppercaseMapping : c.properties.lowercaseMapping
                atWordStart = false
            }
        }
        return out
    }

    private func htmlEscape(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            switch c {
            case "&": out += "&amp;"
            case "<": out += "&lt;"
            case ">": out += "&gt;"
            case "\"": out += "&#34;"
            case "'": out += "&#39;"
            default: out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// jinja2's `indent`: indents every line but the first (unless `first`), skipping blank
    /// lines (unless `blank`).
    private func indent(_ s: String, _ a: [JinjaValue?]) throws -> String {
        let prefix: String
        if case .string(let p)? = a[0] {
            prefix = p
        } else {
            prefix = String(repeating: " ", count: max(try PyStr.checkedWidth(try int(a[0] ?? .int(4), "indent")), 0))
        }
        let first = a[1]?.isTruthy ?? false
        let blank = a[2]?.isTruthy ?? false
        var lines = PyStr.splitLines(s + "\n")
        var result: String
        if blank {
            result = lines.joined(separator: "\n" + prefix)
        } else {
            result = lines.isEmpty ? "" : lines.removeFirst()
            if !lines.isEmpty {
                result += "\n" + lines.map { $0.isEmpty ? $0 : prefix + $0 }.joined(separator: "\n")
            }
        }
        return first ? prefix + result : result
    }

    private func wordCount(_ s: String) -> Int {
        var count = 0
        var inWord = false
        for c in s.unicodeScalars {
            let isWord = c == "_" || PyStr.isAlpha(c) || c.properties.numericType != nil
            if isWord, !inWord { count += 1 }
            inWord = isWord
        }
        return count
    }

    // MARK: - Numbers

    private func numberFilter(_ name: String, _ value: JinjaValue, _ args: Arguments) throws -> JinjaValue? {
        switch name {
        case "int":
            let a = try args.bind(["default", "base"], function: name)
            return toInt(value, base: try int(a[1] ?? .int(10), name)) ?? a[0] ?? .int(0)
        case "float":
            let a = try args.bind(["default"], function: name)
            return toFloat(value).map { .double($0) } ?? a[0] ?? .double(0)
        case "abs":
            guard let n = value.number else { throw JinjaError.runtime("bad operand type for abs(): '\(value.typeName)'") }
            if case .int(let i) = n {
                guard i != Int.min else { throw JinjaError.runtime("integer overflow") }
                return .int(abs(i))
            }
            return .double(abs(n.asDouble))
        case "round":
            let a = try args.bind(["precision", "method"], function: name)
            let method = try a[1].map { try string($0, name) } ?? "common"
            return try round(value, precision: try int(a[0] ?? .int(0), name), method: method)
        default:
            return nil
        }
    }

    /// jinja2's `int` filter: Python `int(str, base)`, falling back to `int(float(str))`.
    private func toInt(_ value: JinjaValue, base: Int) -> JinjaValue? {
        switch value {
        case .int, .bool: return value.number?.value
        case .double(let d): return d.isFinite && abs(d) < 9.2e18 ? .int(Int(d.rounded(.towardZero))) : nil
        case .string(let s):
            if let i = parseInt(s, base: base) { return .int(i) }
            return toFloat(value).flatMap { toInt(.double($0), base: base) }
        default: return nil
        }
    }

    private func parseInt(_ s: String, base: Int) -> Int? {
        var text = PyStr.strip(s, characters: nil).replacingOccurrences(of: "_", with: "")
        var negative = false
        if text.hasPrefix("-") || text.hasPrefix("+") {
            negative = text.hasPrefix("-")
            text.removeFirst()
        }
        var radix = base
        let prefixes = [("0x", 16), ("0o", 8), ("0b", 2)]
        if let (prefix, r) = prefixes.first(where: { text.lowercased().hasPrefix($0.0) }), base == 0 || base == r {
            text.removeFirst(prefix.count)
            radix = r
        }
        // One sign only, before any prefix: Swift's Int would take a second one ("--5", "0x-5"). The sign goes back
        // on before parsing, so Int.min parses and nothing is negated.
        guard radix >= 2, radix <= 36, let first = text.first, first != "-", first != "+" else { return nil }
        return Int((negative ? "-" : "") + text, radix: radix)
    }

    private func toFloat(_ value: JinjaValue) -> Double? {
        switch value {
        case .int, .bool, .double: return value.number?.asDouble
        case .string(let s):
            let text = PyStr.strip(s, characters: nil).replacingOccurrences(of: "_", with: "").lowercased()
            switch text {
            case "inf", "+inf", "infinity", "+infinity": return .infinity
            case "-inf", "-infinity": return -.infinity
            case "nan", "+nan", "-nan": return .nan
            default: return text.isEmpty || text.contains("x") ? nil : Double(text)
            }
        default: return nil
        }
    }

    private func round(_ value: JinjaValue, precision: Int, method: String) throws -> JinjaValue {
        guard let n = value.number else { throw JinjaError.runtime("type \(value.typeName) doesn't define __round__") }
        switch method {
        case "common":
            if case .int(let i) = n {
                guard precision < 0 else { return .int(i) }
                guard let rounded = Int(exactly: pythonRound(Double(i), precision)) else {
                    throw JinjaError.runtime("OverflowError: round(\(i), \(precision)) does not fit a 64-bit integer")
                }
                return .int(rounded)
            }
            return .double(pythonRound(n.asDouble, precision))
        case "ceil", "floor":
            let scale = pow(10.0, Double(precision))
            let scaled = n.asDouble * scale
            return .double((method == "ceil" ? scaled.rounded(.up) : scaled.rounded(.down)) / scale)
        default:
            throw JinjaError.runtime("method must be common, ceil or floor")
        }
    }

    /// Python `round(x, n)`: correctly rounded, ties to even.
    private func pythonRound(_ x: Double, _ digits: Int) -> Double {
        guard x.isFinite else { return x }
        if digits >= 0 {
            guard digits < 300 else { return x }
            return Double(String(format: "%.\(digits)f", x)) ?? x
        }
        let scale = pow(10.0, Double(-digits))
        return (x / scale).rounded(.toNearestOrEven) * scale
    }
}
