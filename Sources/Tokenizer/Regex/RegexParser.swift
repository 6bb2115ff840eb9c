/// Parsed form of a pre-tokenizer regex.
indirect enum RegexNode: Sendable {
    case empty
    case scalar(UInt32, caseInsensitive: Bool)
    case charClass(CharClass)
    case concat([RegexNode])
    case alternation([RegexNode])
    case repetition(RegexNode, min: Int, max: Int?, greedy: Bool)
    case lookahead(RegexNode, negated: Bool)
    /// `^` and `$` (line anchors, as in Oniguruma's Ruby syntax), `\A`, `\z`, `\Z`.
    case lineStart, lineEnd, textStart, textEnd, textEndBeforeNewline
}

/// Parses the Oniguruma (Ruby-syntax) subset that tokenizers ship: alternation, groups `(…)`,
/// `(?:…)`, `(?i:…)`, `(?i)`, lookahead `(?=…)`/`(?!…)`, classes with ranges, `\p{…}`/`\P{…}`,
/// `\s\S\d\D\w\W`, quantifiers `* + ? {n} {n,} {n,m}` (greedy or lazy), `.`, `^`, `$`, `\A`, `\z`.
/// Anything else (lookbehind, backreferences, possessive quantifiers …) is a `TokenizerError`.
struct RegexParser {
    private let s: [UInt32]
    private var i = 0
    private let pattern: String

    static func parse(_ pattern: String) throws -> RegexNode {
        var p = RegexParser(pattern: pattern)
        let node = try p.parseAlternation(caseInsensitive: false)
        guard p.i == p.s.count else { throw p.error("unbalanced ')'") }
        return node
    }

    private init(pattern: String) {
        self.pattern = pattern
        s = pattern.unicodeScalars.map(\.value)
    }

    private func error(_ what: String) -> TokenizerError {
        TokenizerError("regex \(pattern.debugDescription): \(what) at offset \(i)")
    }

    private var peek: UInt32? { i < s.count ? s[i] : nil }

    private mutating func eat(_ c: Character) -> Bool {
        guard let p = peek, p == c.unicodeScalars.first!.value else { return false }
        i += 1
        return true
    }

    private mutating func parseAlternation(caseInsensitive: Bool) throws -> RegexNode {
        var ci = caseInsensitive
        var branches = [try parseConcat(caseInsensitive: &ci)]
        while eat("|") { branches.append(try parseConcat(caseInsensitive: &ci)) }
        return branches.count == 1 ? branches[0] : .alternation(branches)
    }

    private mutating func parseConcat(caseInsensitive ci: inout Bool) throws -> RegexNode {
        var items: [RegexNode] = []
        while let c = peek, c != 0x7C /* | */, c != 0x29 /* ) */ {
            if c == 0x28, i + 2 < s.count, s[i + 1] == 0x3F, let flag = inlineFlag() {
                ci = flag  // `(?i)` / `(?-i)`: applies to the rest of the enclosing group
                continue
            }
            var atom = try parseAtom(caseInsensitive: ci)
            atom = try parseQuantifiers(atom)
            items.append(atom)
        }
        return items.count == 1 ? items[0] : (items.isEmpty ? .empty : .concat(items))
    }

    /// Consumes `(?i)` or `(?-i)` and returns the new flag, or nil (consuming nothing).
    private mutating func inlineFlag() -> Bool? {
        for (text, value) in [("(?i)", true), ("(?-i)", false)] {
            let t = text.unicodeScalars.map(\.value)
            if i + t.count <= s.count, Array(s[i..<(i + t.count)]) == t { i += t.count; return value }
        }
        return nil
    }

    private mutating func parseQuantifiers(_ atom: RegexNode) throws -> RegexNode {
        var node = atom
        while let c = peek {
            var minCount = 0, maxCount: Int? = nil
            switch c {
            case 0x2A: i += 1  // *
            case 0x2B: i += 1; minCount = 1  // +
            case 0x3F: i += 1; maxCount = 1  // ?
            case 0x7B:  // {
                guard let (lo, hi) = parseInterval() else { return node }
                minCount = lo; maxCount = hi
            default: return node
            }
            if let m = maxCount, m < minCount { throw error("bad interval {\(minCount),\(m)}") }
            var greedy = true
            if eat("?") { greedy = false } else if peek == 0x2B { throw error("possessive quantifiers are not supported") }
            node = .repetition(node, min: minCount, max: maxCount, greedy: greedy)
        }
        return node
    }

    /// `{n}`, `{n,}`, `{,m}`, `{n,m}`; nil (consuming nothing) if this `{` is a literal.
    private mutating func parseInterval() -> (Int, Int?)? {
        var j = i + 1
        func number() -> Int? {
            var v: Int? = nil
            while j < s.count, s[j] >= 0x30, s[j] <= 0x39 { v = (v ?? 0) * 10 + Int(s[j] - 0x30); j += 1; if v! > 100_000 { return nil } }
            return v
        }
        let lo = number()
        var hi: Int? = lo
        if j < s.count, s[j] == 0x2C { j += 1; hi = number() }
        guard j < s.count, s[j] == 0x7D, lo != nil || hi != nil else { return nil }
        i = j + 1
        return (lo ?? 0, hi)
    }

    private mutating func parseAtom(caseInsensitive ci: Bool) throws -> RegexNode {
        let c = s[i]
        i += 1
        switch c {
        case 0x28: return try parseGroup(caseInsensitive: ci)
        case 0x5B: return .charClass(try parseClass(caseInsensitive: ci))
        case 0x2E: return .charClass(CharClass(items: [.range(0x0A, 0x0A)], negated: true))
        case 0x5E: return .lineStart
        case 0x24: return .lineEnd
        case 0x5C: return try parseEscape(inClass: false, caseInsensitive: ci)
        case 0x2A, 0x2B, 0x3F: throw error("nothing to repeat")
        default: return .scalar(c, caseInsensitive: ci)
        }
    }

    private mutating func parseGroup(caseInsensitive ci: Bool) throws -> RegexNode {
        var inner = ci
        var look: Bool? = nil  // negated?
        if eat("?") {
            if eat(":") {
            } else if eat("=") { look = false
            } else if eat("!") { look = true
            } else if eat("i") { guard eat(":") else { throw error("unsupported group flags") }; inner = true
            } else if eat("-") { guard eat("i"), eat(":") else { throw error("unsupported group flags") }; inner = false
            } else if peek == 0x3C /* < */, i + 1 < s.count, s[i + 1] != 0x3D, s[i + 1] != 0x21 {
                while let p = peek, p != 0x3E { i += 1 }  // named group: (?<name>…)
                guard eat(">") else { throw error("unterminated group name") }
            } else {
                throw error("unsupported group syntax (lookbehind, atomic or conditional groups)")
            }
        }
        let body = try parseAlternation(caseInsensitive: inner)
        guard eat(")") else { throw error("missing ')'") }
        if let negated = look { return .lookahead(body, negated: negated) }
        return body
    }

    private mutating func parseEscape(inClass: Bool, caseInsensitive ci: Bool) throws -> RegexNode {
        guard let c = peek else { throw error("trailing backslash") }
        i += 1
        func cls(_ item: CharClass.Item) -> RegexNode { .charClass(CharClass(items: [item])) }
        switch c {
        case 0x73: return cls(.whitespace(negated: false))  // s
        case 0x53: return cls(.whitespace(negated: true))  // S
        case 0x64: return cls(.categories(UnicodeClasses.Category.Nd.mask, negated: false))  // d
        case 0x44: return cls(.categories(UnicodeClasses.Category.Nd.mask, negated: true))  // D
        case 0x77: return cls(.word(negated: false))  // w
        case 0x57: return cls(.word(negated: true))  // W
        case 0x70, 0x50: return cls(try parseProperty(negated: c == 0x50))  // p P
        case 0x6E: return .scalar(0x0A, caseInsensitive: false)
        case 0x72: return .scalar(0x0D, caseInsensitive: false)
        case 0x74: return .scalar(0x09, caseInsensitive: false)
        case 0x66: return .scalar(0x0C, caseInsensitive: false)
        case 0x76: return .scalar(0x0B, caseInsensitive: false)
        case 0x65: return .scalar(0x1B, caseInsensitive: false)
        case 0x61 where inClass: return .scalar(0x07, caseInsensitive: false)
        case 0x30: return .scalar(0, caseInsensitive: false)
        case 0x78: return .scalar(try parseHex(braced: eat("{"), digits: 2), caseInsensitive: ci)  // x
        case 0x75: return .scalar(try parseHex(braced: false, digits: 4), caseInsensitive: ci)  // u
        case 0x41 where !inClass: return .textStart
        case 0x7A where !inClass: return .textEnd
        case 0x5A where !inClass: return .textEndBeforeNewline
        case 0x31...0x39, 0x62, 0x42, 0x6B, 0x47, 0x4B, 0x52, 0x58, 0x68, 0x48:
            throw error("unsupported escape \\\(Character(Unicode.Scalar(c)!))")
        default: return .scalar(c, caseInsensitive: ci)
        }
    }

    private mutating func parseProperty(negated: Bool) throws -> CharClass.Item {
        guard eat("{") else { throw error("expected '{' after \\p") }
        var neg = negated
        if eat("^") { neg.toggle() }
        var name = ""
        while let p = peek, p != 0x7D { name.unicodeScalars.append(Unicode.Scalar(p)!); i += 1 }
        guard eat("}") else { throw error("unterminated \\p{") }
        guard let mask = UnicodeClasses.mask(named: name) else { throw error("unsupported property \\p{\(name)}") }
        return .categories(mask, negated: neg)
    }

    private mutating func parseHex(braced: Bool, digits: Int) throws -> UInt32 {
        var v: UInt32 = 0, n = 0
        while let p = peek, let d = Character(Unicode.Scalar(p)!).hexDigitValue, braced || n < digits {
            v = v * 16 + UInt32(d); n += 1; i += 1
            if v > 0x10FFFF { throw error("code point out of range") }
        }
        if braced { guard eat("}") else { throw error("unterminated \\x{") } }
        guard n > 0, Unicode.Scalar(v) != nil else { throw error("bad hex escape") }
        return v
    }

    private mutating func parseClass(caseInsensitive ci: Bool) throws -> CharClass {
        var items: [CharClass.Item] = []
        let negated = eat("^")
        var first = true
        while true {
            guard let c = peek else { throw error("missing ']'") }
            if c == 0x5D, !first { i += 1; break }
            first = false
            if c == 0x5B { i += 1; items.append(.nested(try parseClass(caseInsensitive: ci))); continue }
            if c == 0x26, i + 1 < s.count, s[i + 1] == 0x26 { throw error("class intersection '&&' is not supported") }
            let lo = try classAtom()
            guard case let .scalar(l) = lo else { items.append(lo.item!); continue }
            // a range `a-b`, unless the '-' is last in the class
            if peek == 0x2D, i + 1 < s.count, s[i + 1] != 0x5D {
                i += 1
                guard case let .scalar(h) = try classAtom() else { throw error("bad class range") }
                guard l <= h else { throw error("empty class range") }
                items.append(.range(l, h))
            } else {
                items.append(.range(l, l))
            }
        }
        return CharClass(items: items, negated: negated, caseInsensitive: ci)
    }

    private enum ClassAtom {
        case scalar(UInt32)
        case other(CharClass.Item)
        var item: CharClass.Item? { if case let .other(x) = self { return x }; return nil }
    }

    private mutating func classAtom() throws -> ClassAtom {
        let c = s[i]
        i += 1
        guard c == 0x5C else { return .scalar(c) }
        switch try parseEscape(inClass: true, caseInsensitive: false) {
        case let .scalar(v, _): return .scalar(v)
        case let .charClass(cc) where cc.items.count == 1 && !cc.negated: return .other(cc.items[0])
        default: throw error("unsupported escape in a class")
        }
    }
}
