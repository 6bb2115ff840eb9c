/// Reads a grammar written in llama.cpp's GBNF or xgrammar's EBNF (vLLM's `guided_grammar`), which share their
/// syntax: rules `name ::= alternatives`, string literals `"..."`, character classes `[a-z]` / `[^...]`, `.` (any
/// character), groups `( )`, alternatives `|`, repetitions `? * + {m} {m,} {m,n}`, comments from `#`. The entry
/// rule is `root`. A rule ends where the next `name ::=` begins, so bodies may span lines (as xgrammar reads them;
/// GBNF's one-line rules read the same). The dialects differ in `\x`: two hex digits in GBNF, as many as follow in
/// xgrammar. Not read: xgrammar's macros (`TagDispatch`, `Token`), rule options (`name[temperature=…]`) and Lark.
public enum GrammarSyntax {
    public enum Dialect: Sendable { case gbnf, xgrammar }

    /// The longest grammar text read, in characters.
    public static let maxCharacters = 65_536
    /// The largest count a repetition may name.
    public static let maxRepetition = 65_535
    /// Groups nested at most this deep.
    static let maxDepth = 64

    public struct SyntaxError: Error, CustomStringConvertible, Sendable {
        public let description: String
    }

    public static func parse(_ text: String, dialect: Dialect) throws(SyntaxError) -> RuleGrammar {
        var parser = Parser(text, dialect: dialect)
        let rules = try parser.rules()
        let grammar = try Builder.build(rules, at: { parser.location($0) })
        guard GrammarMatcher.fitsBounds(grammar) else {
            throw SyntaxError(description: "the grammar opens more than \(GrammarMatcher.maxRuleParses) ways to read the text at one point, "
                              + "or is too large to follow (merge alternatives that begin alike, or use guided_choice for a list of strings)")
        }
        return grammar
    }

    /// A grammar as written, before rules are numbered.
    indirect enum Item {
        case literal([UInt8])
        case chars(CharacterClass)
        case reference(String, at: Int)
        case group([[Item]])
        case repeated(Item, min: Int, max: Int?)
    }

    struct Rule {
        var name: String
        var at: Int
        var alternatives: [[Item]]
    }

    struct Parser {
        let s: [Unicode.Scalar]
        let dialect: Dialect
        var i = 0

        init(_ text: String, dialect: Dialect) {
            s = Array(text.unicodeScalars)
            self.dialect = dialect
        }

        func location(_ at: Int) -> String {
            var line = 1, column = 1
            for c in s[..<min(at, s.count)] {
                if c == "\n" { line += 1; column = 1 } else { column += 1 }
            }
            return "line \(line), column \(column)"
        }

        func fail(_ message: String, at: Int? = nil) -> SyntaxError {
            SyntaxError(description: "\(message) (\(location(at ?? i)))")
        }

        var peek: Unicode.Scalar? { i < s.count ? s[i] : nil }

        /// Letters, digits, `_` and `-`, and in xgrammar's dialect `.` (in GBNF a `.` after a name is "any character").
        func isNameScalar(_ c: Unicode.Scalar) -> Bool {
            switch c {
            case "a"..."z", "A"..."Z", "0"..."9", "_", "-": true
            case ".": dialect == .xgrammar
            default: false
            }
        }

        /// Spaces, tabs, line breaks and comments.
        mutating func skipSpace() {
            while let c = peek {
                if c == " " || c == "\t" || c == "\r" || c == "\n" {
                    i += 1
                } else if c == "#" {
                    while let d = peek, d != "\n" { i += 1 }
                } else {
                    return
                }
            }
        }

        /// Whether `name ::=` starts here: the next rule.
        func ruleStartsHere() -> Bool {
            var j = i
            while j < s.count, isNameScalar(s[j]) { j += 1 }
            guard j > i else { return false }
            while j < s.count, s[j] == " " || s[j] == "\t" { j += 1 }
            return j + 2 < s.count && s[j] == ":" && s[j + 1] == ":" && s[j + 2] == "="
        }

        mutating func name() -> String? {
            let start = i
            while let c = peek, isNameScalar(c) { i += 1 }
            guard i > start else { return nil }
            var out = ""
            out.unicodeScalars.append(contentsOf: s[start..<i])
            return out
        }

        mutating func rules() throws(SyntaxError) -> [Rule] {
            var out: [Rule] = []
            skipSpace()
            guard peek != nil else { throw fail("the grammar is empty: it needs a rule 'root ::= …'") }
            while peek != nil {
                let at = i
                guard let n = name() else { throw fail("expected a rule name, found '\(peek!)'") }
                while peek == " " || peek == "\t" { i += 1 }
                guard consume("::=") else {
                    if peek == ":" {
                        throw fail("expected '::=' after the rule name '\(n)' (Lark grammars are not read: write GBNF/EBNF, name ::= …)")
                    }
                    if peek == "[" { throw fail("rule options (\(n)[…]) are not supported") }
                    throw fail("expected '::=' after the rule name '\(n)'")
                }
                out.append(Rule(name: n, at: at, alternatives: try alternatives(depth: 0)))
                skipSpace()
            }
            return out
        }

        mutating func consume(_ text: String) -> Bool {
            let scalars = Array(text.unicodeScalars)
            guard i + scalars.count <= s.count, Array(s[i..<(i + scalars.count)]) == scalars else { return false }
            i += scalars.count
            return true
        }

        mutating func alternatives(depth: Int) throws(SyntaxError) -> [[Item]] {
            var out = [try sequence(depth: depth)]
            while peek == "|" {
                let bar = i
                i += 1
                out.append(try sequence(depth: depth))
                if out[out.count - 2].isEmpty || out[out.count - 1].isEmpty {
                    throw fail("an alternative beside '|' is empty (write \"\" for the empty text)", at: bar)
                }
            }
            if depth == 0, out[0].isEmpty { throw fail("the rule's body is empty (write \"\" for the empty text)") }
            return out
        }

        mutating func sequence(depth: Int) throws(SyntaxError) -> [Item] {
            var items: [Item] = []
            while true {
                skipSpace()
                guard let c = peek, c != "|", c != ")" else { return items }
                if depth == 0, ruleStartsHere() { return items }
                items.append(try item(depth: depth))
            }
        }

        mutating func item(depth: Int) throws(SyntaxError) -> Item {
            let at = i
            var item: Item
            switch peek! {
            case "\"":
                i += 1
                item = .literal(try literal())
            case "[":
                i += 1
                item = .chars(try charClass())
            case ".":
                i += 1
                item = .chars(.all)
            case "(":
                i += 1
                guard depth < GrammarSyntax.maxDepth else { throw fail("groups are nested more than \(GrammarSyntax.maxDepth) deep") }
                let inner = try alternatives(depth: depth + 1)
                skipSpace()
                guard peek == ")" else { throw fail("expected ')' to close the group opened at \(location(at))") }
                i += 1
                item = .group(inner)
            case let c where isNameScalar(c):
                item = .reference(name()!, at: at)
            case let c:
                throw fail("unexpected '\(c)'")
            }
            while peek == " " || peek == "\t" { i += 1 }
            guard let (min, max) = try repetition() else { return item }
            if let c = peek, "?*+{".unicodeScalars.contains(c) {
                throw fail("two repetition operators in a row: wrap the item in parentheses, e.g. (\"a\"+)*")
            }
            return .repeated(item, min: min, max: max)
        }

        /// `?`, `*`, `+`, `{m}`, `{m,}` or `{m,n}` after an item, if one follows.
        mutating func repetition() throws(SyntaxError) -> (Int, Int?)? {
            switch peek {
            case "?": i += 1; return (0, 1)
            case "*": i += 1; return (0, nil)
            case "+": i += 1; return (1, nil)
            case "{":
                let at = i
                i += 1
                skipBlanks()
                guard let low = try count() else { throw fail("a repetition needs its least count: {m}, {m,} or {m,n} (use {0,n})") }
                skipBlanks()
                var high: Int? = low
                if peek == "," {
                    i += 1
                    skipBlanks()
                    high = try count()
                    skipBlanks()
                }
                guard peek == "}" else { throw fail("expected '}' to close the repetition opened at \(location(at))") }
                i += 1
                if let high, high < low { throw fail("the repetition {\(low),\(high)} has its counts out of order", at: at) }
                return (low, high)
            default: return nil
            }
        }

        mutating func skipBlanks() { while peek == " " || peek == "\t" { i += 1 } }

        mutating func count() throws(SyntaxError) -> Int? {
            let start = i
            var n = 0
            while let c = peek, ("0"..."9").contains(c) {
                n = n * 10 + Int(c.value - 48)
                guard n <= GrammarSyntax.maxRepetition else { throw fail("a repetition count above \(GrammarSyntax.maxRepetition)", at: start) }
                i += 1
            }
            return i > start ? n : nil
        }

        /// A string literal's UTF-8, after its opening quote.
        mutating func literal() throws(SyntaxError) -> [UInt8] {
            let at = i - 1
            var out = ""
            while true {
                guard let c = peek else { throw fail("the string opened at \(location(at)) is not closed") }
                i += 1
                if c == "\"" { return Array(out.utf8) }
                out.unicodeScalars.append(c == "\\" ? try escape(inClass: false) : c)
            }
        }

        /// A character class's scalars, after its `[`.
        mutating func charClass() throws(SyntaxError) -> CharacterClass {
            let at = i - 1
            let negated = peek == "^"
            if negated { i += 1 }
            var ranges: [ClosedRange<UInt32>] = []
            while true {
                guard let c = peek else { throw fail("the character class opened at \(location(at)) is not closed") }
                if c == "]" { i += 1; break }
                let low = try classScalar()
                if peek == "-", i + 1 < s.count, s[i + 1] != "]" {
                    i += 1
                    let rangeAt = i
                    let high = try classScalar()
                    guard low.value <= high.value else {
                        throw fail("the range \(Self.shown(low))-\(Self.shown(high)) has its ends out of order", at: rangeAt)
                    }
                    ranges.append(low.value...high.value)
                } else {
                    ranges.append(low.value...low.value)
                }
            }
            if ranges.isEmpty {
                guard negated else { throw fail("an empty character class matches nothing", at: at) }
                return .all   // [^]: any character
            }
            let set = CharacterClass(ranges, negated: negated)
            guard !set.isEmpty else { throw fail("this character class matches no character", at: at) }
            return set
        }

        mutating func classScalar() throws(SyntaxError) -> Unicode.Scalar {
            let c = peek!
            i += 1
            return c == "\\" ? try escape(inClass: true) : c
        }

        static func shown(_ c: Unicode.Scalar) -> String {
            c.value < 0x20 || c.value == 0x7F ? "\\x" + String(c.value, radix: 16) : String(c)
        }

        /// The character an escape stands for, after its backslash.
        mutating func escape(inClass: Bool) throws(SyntaxError) -> Unicode.Scalar {
            let at = i - 1
            guard let c = peek else { throw fail("a backslash ends the grammar") }
            i += 1
            switch c {
            case "\"", "\\", "/", "'", "?", "[", "]", "-", "^", "$", ".", "*", "+", "(", ")", "{", "}", "|": return c
            case "n": return "\n"
            case "r": return "\r"
            case "t": return "\t"
            case "b": return "\u{08}"
            case "f": return "\u{0C}"
            case "a": return "\u{07}"
            case "v": return "\u{0B}"
            case "0": return "\u{00}"
            case "e": return "\u{1B}"
            case "x": return try hexScalar(digits: dialect == .gbnf ? 2...2 : 1...Int.max, at: at)
            case "u": return try hexScalar(digits: 4...4, at: at)
            case "U": return try hexScalar(digits: 8...8, at: at)
            case "d", "D", "w", "W", "s", "S":
                throw fail("'\\\(c)' is not supported\(inClass ? " in a character class" : ""): write the characters out, e.g. [0-9], [a-zA-Z0-9_] or [ \\t\\n\\r]", at: at)
            default:
                throw fail("unknown escape '\\\(c)'", at: at)
            }
        }

        mutating func hexScalar(digits: ClosedRange<Int>, at: Int) throws(SyntaxError) -> Unicode.Scalar {
            var value: UInt32 = 0, n = 0
            while n < digits.upperBound, let c = peek, let d = Self.hexDigit(c) {
                guard value <= 0x10FFFF else { throw fail("the escape names a code point past U+10FFFF", at: at) }
                value = value << 4 | d
                n += 1
                i += 1
            }
            guard digits.contains(n) else {
                throw fail("the escape needs \(digits.count == 1 ? "\(digits.lowerBound)" : "\(digits.lowerBound) or more") hex digits", at: at)
            }
            guard let scalar = Unicode.Scalar(value) else { throw fail("U+\(String(value, radix: 16, uppercase: true)) is not a character", at: at) }
            return scalar
        }

        static func hexDigit(_ c: Unicode.Scalar) -> UInt32? {
            switch c {
            case "0"..."9": c.value - 48
            case "a"..."f": c.value - 87
            case "A"..."F": c.value - 55
            default: nil
            }
        }
    }

    /// Numbers the rules (named ones first, in order; then groups and repeated items as they come) and checks them.
    struct Builder {
        var sequences: [[RuleGrammar.Element]] = []
        var alternatives: [[Int]] = []
        var names: [String] = []
        var ids: [String: Int] = [:]
        let location: (Int) -> String

        static func build(_ rules: [Rule], at location: @escaping (Int) -> String) throws(SyntaxError) -> RuleGrammar {
            var b = Builder(location: location)
            for r in rules {
                guard b.ids[r.name] == nil else { throw SyntaxError(description: "rule '\(r.name)' is defined twice (\(location(r.at)))") }
                b.ids[r.name] = b.newRule(r.name)
            }
            guard let root = b.ids["root"] else { throw SyntaxError(description: "the grammar has no rule 'root', where the output starts") }
            for r in rules { try b.fill(b.ids[r.name]!, with: r.alternatives, owner: r.name) }
            do {
                return try RuleGrammar.checked(sequences: b.sequences, alternatives: b.alternatives, names: b.names, root: root)
            } catch {
                throw SyntaxError(description: error.description)
            }
        }

        mutating func newRule(_ name: String) -> Int {
            alternatives.append([])
            names.append(name)
            return alternatives.count - 1
        }

        mutating func fill(_ rule: Int, with alts: [[Item]], owner: String) throws(SyntaxError) {
            var ids: [Int] = []
            for a in alts {
                var elements: [RuleGrammar.Element] = []
                for item in a { elements += try compile(item, owner: owner) }
                sequences.append(elements)
                ids.append(sequences.count - 1)
            }
            alternatives[rule] = ids
        }

        mutating func compile(_ item: Item, owner: String) throws(SyntaxError) -> [RuleGrammar.Element] {
            switch item {
            case let .literal(bytes): return bytes.isEmpty ? [] : [.bytes(bytes)]
            case let .chars(set): return [.chars(set)]
            case let .reference(name, at):
                guard let id = ids[name] else { throw SyntaxError(description: "rule '\(name)' is not defined (\(location(at)))") }
                return [.rule(id)]
            case let .group(alts):
                if alts.count == 1 {
                    var out: [RuleGrammar.Element] = []
                    for i in alts[0] { out += try compile(i, owner: owner) }
                    return out
                }
                let id = newRule("\(owner) (group)")
                try fill(id, with: alts, owner: owner)
                return [.rule(id)]
            case let .repeated(inner, min, max):
                if max == 0 {   // nothing, but its rule names must still exist
                    _ = try compile(inner, owner: owner)
                    return []
                }
                if min == 1, max == 1 { return try compile(inner, owner: owner) }
                let id: Int
                if case let .reference(name, at) = inner {
                    guard let known = ids[name] else { throw SyntaxError(description: "rule '\(name)' is not defined (\(location(at)))") }
                    id = known
                } else {
                    id = newRule("\(owner) (repeated item)")
                    if case let .group(alts) = inner { try fill(id, with: alts, owner: owner) } else { try fill(id, with: [[inner]], owner: owner) }
                }
                return [.repeated(rule: id, min: min, max: max)]
            }
        }
    }
}
