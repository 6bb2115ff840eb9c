import Foundation

// Python `str()` and `repr()` of template values, so output matches jinja2 byte-for-byte.

extension JinjaValue {
    /// Python `str(value)` as jinja2 prints it (`{{ x }}`, `~`, `|string`); undefined prints "".
    public var pythonString: String {
        switch self {
        case .undefined: return ""
        case .string(let s): return s
        default: return pythonRepr
        }
    }

    /// Python `repr(value)`: how values appear inside printed lists and dicts.
    public var pythonRepr: String { repr(depth: 0) }

    /// NOTE: containers nested deeper than 200 levels (or a namespace that contains itself)
    /// print as `...` instead of recursing without bound.
    private func repr(depth: Int) -> String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return PythonFloat.repr(d)
        case .string(let s): return PythonString.repr(s)
        case .array(let items):
            guard depth < 200 else { return "[...]" }
            return "[" + items.map { $0.repr(depth: depth + 1) }.joined(separator: ", ") + "]"
        case .object(let object):
            guard depth < 200 else { return "{...}" }
            let body = object.valuePairs.map { $0.key.repr(depth: depth + 1) + ": " + $0.value.repr(depth: depth + 1) }
            return "{" + body.joined(separator: ", ") + "}"
        case .namespace(let ns):
            guard depth < 200 else { return "<Namespace ...>" }
            return "<Namespace " + JinjaValue.object(ns.snapshot).repr(depth: depth + 1) + ">"
        case .callable(let c): return "<function \(c.name)>"
        }
    }
}

/// Python float formatting (`repr(float)`, which `str()` also uses).
enum PythonFloat {
    /// Shortest round-tripping digits, positional for exponents in [-4, 16), else `1e+16` style.
    static func repr(_ value: Double) -> String {
        if value.isNaN { return "nan" }
        if value.isInfinite { return value < 0 ? "-inf" : "inf" }
        if value == 0 { return value.sign == .minus ? "-0.0" : "0.0" }
        let (digits, exponent) = shortestDigits(abs(value))
        let sign = value < 0 ? "-" : ""
        // `exponent` is the decimal exponent of the first digit: value = 0.d1d2... * 10^(exponent+1)
        if exponent >= -4, exponent < 16 {
            return sign + positional(digits, exponent: exponent)
        }
        var mantissa = String(digits.first ?? "0")
        if digits.count > 1 { mantissa += "." + digits.dropFirst() }
        let expSign = exponent < 0 ? "-" : "+"
        let expDigits = String(abs(exponent))
        return sign + mantissa + "e" + expSign + (expDigits.count < 2 ? "0" + expDigits : expDigits)
    }

    private static func positional(_ digits: String, exponent: Int) -> String {
        if exponent < 0 {
            return "0." + String(repeating: "0", count: -exponent - 1) + digits
        }
        let intCount = exponent + 1
        if digits.count <= intCount {
            return digits + String(repeating: "0", count: intCount - digits.count) + ".0"
        }
        let split = digits.index(digits.startIndex, offsetBy: intCount)
        return String(digits[..<split]) + "." + String(digits[split...])
    }

    /// The shortest round-trip decimal digits of a positive finite double and the exponent
    /// of its leading digit, parsed from Swift's shortest-representation `description`.
    static func shortestDigits(_ value: Double) -> (digits: String, exponent: Int) {
        let text = "\(value)"  // e.g. "1.5e-07", "123.25", "1e+16"
        var mantissa = text
        var exp = 0
        if let e = text.firstIndex(where: { $0 == "e" || $0 == "E" }) {
            mantissa = String(text[..<e])
            exp = Int(text[text.index(after: e)...]) ?? 0
        }
        let parts = mantissa.split(separator: ".", omittingEmptySubsequences: false)
        let intPart = String(parts.first ?? "0")
        let fracPart = parts.count > 1 ? String(parts[1]) : ""
        var digits = intPart + fracPart
        var pointPos = intPart.count + exp  // digits before the decimal point
        while digits.hasPrefix("0"), digits.count > 1 {
            digits.removeFirst()
            pointPos -= 1
        }
        while digits.hasSuffix("0"), digits.count > 1 { digits.removeLast() }
        return (digits, pointPos - 1)
    }
}

/// Python `str` helpers that work on Unicode scalars (code points), like Python does.
enum PythonString {
    /// Python `repr(str)`: single quotes unless the text has `'` and no `"`.
    static func repr(_ s: String) -> String {
        let hasSingle = s.unicodeScalars.contains("'")
        let hasDouble = s.unicodeScalars.contains("\"")
        let quote: Unicode.Scalar = hasSingle && !hasDouble ? "\"" : "'"
        var out = String(quote)
        for scalar in s.unicodeScalars {
            switch scalar {
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case quote: out += "\\" + String(quote)
            default:
                if isPrintable(scalar) {
                    out.unicodeScalars.append(scalar)
                } else {
                    out += escapeCode(scalar.value)
                }
            }
        }
        out.unicodeScalars.append(quote)
        return out
    }

    private static func escapeCode(_ v: UInt32) -> String {
        let hex = String(v, radix: 16)
        if v < 0x100 { return "\\x" + String(repeating: "0", count: 2 - hex.count) + hex }
        if v < 0x10000 { return "\\u" + String(repeating: "0", count: 4 - hex.count) + hex }
        return "\\U" + String(repeating: "0", count: 8 - hex.count) + hex
    }

    /// Python `str.isprintable` for one code point.
    static func isPrintable(_ scalar: Unicode.Scalar) -> Bool {
        if scalar == " " { return true }
        switch scalar.properties.generalCategory {
        case .control, .format, .surrogate, .privateUse, .unassigned,
            .lineSeparator, .paragraphSeparator, .spaceSeparator:
            return false
        default:
            return true
        }
    }

    /// Python `str.isspace` for one code point (also what `\s` matches in `re`).
    static func isSpace(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x09...0x0D, 0x1C...0x20, 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000:
            return true
        default:
            return false
        }
    }

    /// Line boundaries recognised by Python `str.splitlines`.
    static func isLineBreak(_ scalar: Unicode.Scalar) -> Bool {
        switch scalar.value {
        case 0x0A...0x0D, 0x1C...0x1E, 0x85, 0x2028, 0x2029: return true
        default: return false
        }
    }
}
