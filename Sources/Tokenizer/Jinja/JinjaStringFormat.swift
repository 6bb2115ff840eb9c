import Foundation

/// A parsed format specification shared by `%`-formatting and `str.format`.
struct FormatSpec {
    var fill: String = " "
    var align: Character?  // "<", ">", "^", "="
    var sign: Character?  // "+", "-", " "
    var alternate = false
    var zeroPad = false
    var width = 0
    var precision: Int?
    var type: Character?

    /// Formats `value` (Python `format(value, spec)` for the common cases).
    func apply(to value: JinjaValue) throws -> String {
        _ = try PyStr.checkedWidth(width)
        _ = try PyStr.checkedWidth(precision ?? 0)
        let type = self.type ?? (value.number == nil || value.isBool ? "s" : nil)
        var body: String
        var numeric = false
        switch type {
        case "s"?:
            body = value.pythonString
            if let precision { body = PyStr.string(body.unicodeScalars.prefix(precision)) }
        case "r"?:
            body = value.pythonRepr
        case "c"?:
            guard case .int(let code)? = value.number, let scalar = Unicode.Scalar(UInt32(clamping: code)) else {
                throw JinjaError.runtime("%c requires int or char")
            }
            body = String(scalar)
        default:
            body = try formatNumber(value, type: type)
            numeric = true
        }
        return pad(body, numeric: numeric)
    }

    private func formatNumber(_ value: JinjaValue, type: Character?) throws -> String {
        guard let number = value.number else {
            throw JinjaError.runtime("format requires a number, not \(value.typeName)")
        }
        var text: String
        switch type {
        case "d"?, "i"?, "u"?, "x"?, "X"?, "o"?:
            let magnitude = try integerMagnitude(number)
            let radix = type == "o" ? 8 : (type == "x" || type == "X" ? 16 : 10)
            text = String(magnitude, radix: radix, uppercase: type == "X")
            if alternate, radix != 10 { text = (radix == 8 ? "0o" : (type == "X" ? "0X" : "0x")) + text }
        case "f"?, "F"?, "e"?, "E"?, "g"?, "G"?, "%"?:
            var d = abs(number.asDouble)
            if type == "%" { d *= 100 }
            let conversion = type == "%" ? "f" : String(type ?? "f")
            text = String(format: "%.\(precision ?? 6)\(conversion)", d) + (type == "%" ? "%" : "")
        case nil:
            if case .double(let d) = number {
                text = precision.map { String(format: "%.\($0)g", abs(d)) } ?? PythonFloat.repr(abs(d))
            } else {
                text = String(try integerMagnitude(number))
            }
        default:
            throw JinjaError.runtime("unsupported format character '\(type.map(String.init) ?? "")'")
        }
        let negative = number.asDouble < 0 || (number.asDouble == 0 && number.asDouble.sign == .minus && type != "d")
        let signText = negative ? "-" : (sign == "+" ? "+" : (sign == " " ? " " : ""))
        return signText + text
    }

    private func integerMagnitude(_ number: JinjaNumber) throws -> UInt {
        switch number {
        case .int(let i): return i.magnitude
        case .double(let d):
            guard d.isFinite, abs(d) < 9.2e18 else { throw JinjaError.runtime("cannot convert float to integer") }
            return UInt(abs(d.rounded(.towardZero)))
        }
    }

    private func pad(_ body: String, numeric: Bool) -> String {
        let length = body.unicodeScalars.count
        guard width > length else { return body }
        if numeric, zeroPad, align == nil || align == "=" {
            let hasSign = body.hasPrefix("-") || body.hasPrefix("+") || body.hasPrefix(" ")
            let sign = hasSign ? String(body.prefix(1)) : ""
            let digits = hasSign ? String(body.dropFirst()) : body
            return sign + String(repeating: "0", count: width - length) + digits
        }
        switch align ?? (numeric ? ">" : "<") {
        case "^": return PyStr.center(body, width: width, fill: fill)
        case ">", "=": return PyStr.pad(body, width: width, fill: fill, leftAlign: false)
        default: return PyStr.pad(body, width: width, fill: fill, leftAlign: true)
        }
    }
}

private extension JinjaValue {
    var isBool: Bool {
        if case .bool = self { return true }
        return false
    }
}

/// Python `format % args` (printf-style) formatting.
enum PercentFormat {
    static func format(_ format: String, _ argument: JinjaValue) throws -> String {
        var args: [JinjaValue]
        if case .array(let items) = argument { args = items } else { args = [argument] }
        let chars = Array(format)
        var out = ""
        var i = 0
        var used = 0
        while i < chars.count {
            guard chars[i] == "%" else { out.append(chars[i]); i += 1; continue }
            i += 1
            guard i < chars.count else { throw JinjaError.runtime("incomplete format") }
            if chars[i] == "%" { out.append("%"); i += 1; continue }
            var spec = FormatSpec()
            while i < chars.count, "-+ #0".contains(chars[i]) {
                switch chars[i] {
                case "-": spec.align = "<"
                case "+": spec.sign = "+"
                case " ": if spec.sign == nil { spec.sign = " " }
                case "#": spec.alternate = true
                default: spec.zeroPad = true
                }
                i += 1
            }
            spec.width = readInt(chars, &i) ?? 0
            if i < chars.count, chars[i] == "." {
                i += 1
                spec.precision = readInt(chars, &i) ?? 0
            }
            guard i < chars.count else { throw JinjaError.runtime("incomplete format") }
            let type = chars[i]
            i += 1
            guard used < args.count else { throw JinjaError.runtime("not enough arguments for format string") }
            spec.type = type == "a" ? "r" : type
            // printf aligns right unless `-`; `0` pads numbers after the sign.
            if spec.align == "<" { spec.zeroPad = false } else { spec.align = spec.zeroPad ? "=" : ">" }
            out += try spec.apply(to: args[used])
            used += 1
        }
        if used < args.count, !(args.count == 1 && used == 0 && isMapping(argument)) {
            throw JinjaError.runtime("not all arguments converted during string formatting")
        }
        return out
    }

    private static func isMapping(_ value: JinjaValue) -> Bool {
        if case .object = value { return true }
        return false
    }

    /// A run of ASCII digits; saturates at `Int.max` (a width or precision that large fails the size checks).
    static func readInt(_ chars: [Character], _ i: inout Int) -> Int? {
        var value: Int?
        while i < chars.count, let d = chars[i].wholeNumberValue, chars[i].isASCII {
            let (times10, o1) = (value ?? 0).multipliedReportingOverflow(by: 10)
            let (next, o2) = times10.addingReportingOverflow(d)
            value = o1 || o2 ? Int.max : next
            i += 1
        }
        return value
    }
}

/// Python `str.format` with `{}`, `{0}`, `{name}`, `!r`/`!s` and format specs.
enum BraceFormat {
    static func format(_ format: String, _ args: Arguments) throws -> String {
        let chars = Array(format)
        var out = ""
        var i = 0
        var autoIndex = 0
        while i < chars.count {
            let c = chars[i]
            if c == "}" {
                guard i + 1 < chars.count, chars[i + 1] == "}" else {
                    throw JinjaError.runtime("Single '}' encountered in format string")
                }
                out.append("}")
                i += 2
                continue
            }
            guard c == "{" else { out.append(c); i += 1; continue }
            if i + 1 < chars.count, chars[i + 1] == "{" { out.append("{"); i += 2; continue }
            guard let close = chars[(i + 1)...].firstIndex(of: "}") else {
                throw JinjaError.runtime("Single '{' encountered in format string")
            }
            out += try field(String(chars[(i + 1)..<close]), args, &autoIndex)
            i = close + 1
        }
        return out
    }

    private static func field(_ text: String, _ args: Arguments, _ autoIndex: inout Int) throws -> String {
        var name = text
        var specText = ""
        if let colon = name.firstIndex(of: ":") {
            specText = String(name[name.index(after: colon)...])
            name = String(name[..<colon])
        }
        var conversion: Character?
        if let bang = name.firstIndex(of: "!") {
            conversion = name[name.index(after: bang)...].first
            name = String(name[..<bang])
        }
        let value: JinjaValue
        if name.isEmpty {
            guard autoIndex < args.positional.count else { throw JinjaError.runtime("Replacement index \(autoIndex) out of range") }
            value = args.positional[autoIndex]
            autoIndex += 1
        } else if name.allSatisfy({ $0.isASCII && $0.isNumber }), let index = Int(name) {  // "-1" is a key, as in Python
            guard index < args.positional.count else { throw JinjaError.runtime("Replacement index \(index) out of range") }
            value = args.positional[index]
        } else {
            guard let v = args.keyword.first(where: { $0.0 == name })?.1 else { throw JinjaError.runtime("KeyError: '\(name)'") }
            value = v
        }
        let converted: JinjaValue = conversion == "r" ? .string(value.pythonRepr) : (conversion == "s" ? .string(value.pythonString) : value)
        return try parseSpec(specText).apply(to: converted)
    }

    /// `[[fill]align][sign][#][0][width][.precision][type]`
    static func parseSpec(_ text: String) throws -> FormatSpec {
        var spec = FormatSpec()
        let chars = Array(text)
        var i = 0
        if chars.count >= 2, "<>^=".contains(chars[1]) {
            spec.fill = String(chars[0])
            spec.align = chars[1]
            i = 2
        } else if let first = chars.first, "<>^=".contains(first) {
            spec.align = first
            i = 1
        }
        if i < chars.count, "+- ".contains(chars[i]) { spec.sign = chars[i]; i += 1 }
        if i < chars.count, chars[i] == "#" { spec.alternate = true; i += 1 }
        if i < chars.count, chars[i] == "0" { spec.zeroPad = true; i += 1 }
        spec.width = PercentFormat.readInt(chars, &i) ?? 0
        if i < chars.count, chars[i] == "." {
            i += 1
            spec.precision = PercentFormat.readInt(chars, &i)
        }
        if i < chars.count { spec.type = chars[i]; i += 1 }
        guard i == chars.count else { throw JinjaError.runtime("Invalid format specifier '\(text)'") }
        return spec
    }
}
