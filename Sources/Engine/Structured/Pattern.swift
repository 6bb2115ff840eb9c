import Foundation

/// A regular expression (JSON Schema's `pattern`: ECMA-262 syntax, matched against the string's characters) as a DFA
/// over Unicode scalars. Scalars are grouped into classes (intervals no part of the expression tells apart); from
/// every state some accepting state stays reachable (dead states are pruned), so a string the matcher lets
/// through can always be finished.
public struct PatternDFA: Sendable, Hashable {
    /// Class i covers the scalars from `bounds[i]` up to `bounds[i + 1]` (exclusive; the last up to U+10FFFF).
    public let bounds: [UInt32]
    /// `next[state * classCount + class]`: the next state, or -1.
    public let next: [Int32]
    public let accepting: [Bool]
    public let start: Int32
    /// Length bounds on the strings written, if any (`limited(minLength:maxLength:)`).
    public internal(set) var length: PatternLength?

    init(bounds: [UInt32], next: [Int32], accepting: [Bool], start: Int32) {
        (self.bounds, self.next, self.accepting, self.start) = (bounds, next, accepting, start)
    }

    var classCount: Int { bounds.count }

    /// Whether `state`, reached after `written` characters, can still end within the length bounds.
    func fits(_ state: Int32, written: Int) -> Bool { length?.fits(state, written: written) ?? true }

    /// Whether the string may end here: an accepting state, with a length in bounds.
    func accepts(_ state: Int32, written: Int) -> Bool {
        accepting[Int(state)] && (length.map { written >= $0.min && written <= ($0.max ?? Int.max) } ?? true)
    }

    /// The class of scalar `v`.
    func classOf(_ v: UInt32) -> Int { Self.classOf(v, in: bounds) }

    /// The class of `v` among classes starting at `bounds` (sorted, the first 0), by binary search.
    static func classOf(_ v: UInt32, in bounds: [UInt32]) -> Int {
        var lo = 0, hi = bounds.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if bounds[mid] <= v { lo = mid } else { hi = mid - 1 }
        }
        return lo
    }

    /// The state after scalar `v`, or nil.
    public func step(_ state: Int32, _ v: UInt32) -> Int32? {
        let n = next[Int(state) * classCount + classOf(v)]
        return n < 0 ? nil : n
    }

    /// Whether some scalar in `lo...hi` (surrogates excluded) may come next, as character `written` + 1.
    func allowsAny(_ state: Int32, _ lo: UInt32, _ hi: UInt32, written: Int = 0) -> Bool {
        guard lo <= hi else { return false }
        if lo < 0xD800, hi >= 0xE000 { return allowsAny(state, lo, 0xD7FF, written: written) || allowsAny(state, 0xE000, hi, written: written) }
        if lo >= 0xD800, hi <= 0xDFFF { return false }
        let (a, b) = (lo >= 0xD800 && lo <= 0xDFFF ? 0xE000 : lo, hi >= 0xD800 && hi <= 0xDFFF ? 0xD7FF : hi)
        guard a <= b else { return false }
        let row = Int(state) * classCount
        for c in classOf(a)...classOf(b) where next[row + c] >= 0 && fits(next[row + c], written: written + 1) { return true }
        return false
    }

    public static let maxStates = 65_536
    /// Transition table entries at most (states × classes): 8 MB.
    public static let maxTableEntries = 2_000_000

    /// Why a pattern cannot be used.
    public struct Failure: Error, Equatable, CustomStringConvertible {
        public let description: String
    }

    /// Compiles `pattern`. Not anchored unless it starts with `^` and ends with `$` (JSON Schema finds a pattern
    /// anywhere in the string). Refused: backreferences, lookaround, word boundaries, anchors elsewhere.
    public static func compile(_ pattern: String) throws(Failure) -> PatternDFA {
        if let cached = PatternCache.shared.get(pattern) { return cached }
        let dfa = try build(pattern)
        PatternCache.shared.put(pattern, dfa)
        return dfa
    }

    /// Each top-level alternative carries its own anchors, as in ECMAScript (`^a|b$`: starts with a, or ends with b).
    private static func build(_ pattern: String) throws(Failure) -> PatternDFA {
        var nfa = NFA()
        let start = try nfa.state(), end = try nfa.state()
        for part in RegexParser.topLevelAlternatives(Array(pattern.unicodeScalars)) {
            var parser = RegexParser(part)
            let (regex, anchoredStart, anchoredEnd) = try parser.parseWhole()
            var (s, e) = try nfa.build(regex)
            if !anchoredStart { let loop = try nfa.anyLoop(); nfa.epsilon(loop.end, s); s = loop.start }
            if !anchoredEnd { let loop = try nfa.anyLoop(); nfa.epsilon(e, loop.start); e = loop.end }
            nfa.epsilon(start, s)
            nfa.epsilon(e, end)
        }
        return try nfa.determinize(start: start, accept: end)
    }
}

/// Compiled patterns by their text: clients send the same schema again and again, and a large pattern can take a
/// good part of a second to compile. Sized by table entries (4 bytes), the key counted too (a pattern of up to
/// 4,096 characters; a table can be tiny).
enum PatternCache {
    static let shared = SizedCache<String, PatternDFA>(capacity: 8_000_000) { pattern, dfa in
        dfa.next.count + dfa.bounds.count + pattern.utf8.count / 4 + 16
    }
}

/// A cache bounded by its entries' total size (as `size` reckons it); the oldest go first.
final class SizedCache<Key: Hashable & Sendable, Value: Sendable>: @unchecked Sendable {
    let capacity: Int
    private let size: @Sendable (Key, Value) -> Int
    private let lock = NSLock()
    private var values: [Key: Value] = [:]
    private var order: [Key] = []
    /// Keys before this index in `order` are gone.
    private var head = 0
    private var total = 0

    init(capacity: Int, size: @escaping @Sendable (Key, Value) -> Int) {
        self.capacity = capacity
        self.size = size
    }

    func get(_ key: Key) -> Value? { lock.withLock { values[key] } }

    func put(_ key: Key, _ value: Value) {
        let n = size(key, value)
        lock.withLock {
            guard values[key] == nil, n <= capacity else { return }
            values[key] = value
            order.append(key)
            total += n
            while total > capacity, head < order.count {
                let oldest = order[head]
                head += 1
                total -= values.removeValue(forKey: oldest).map { size(oldest, $0) } ?? 0
            }
            // The evicted keys leave the queue in bulk (removing the first of a long array one at a time is slow).
            if head > 1024, head * 2 > order.count { order.removeFirst(head); head = 0 }
        }
    }
}

/// Sets of scalars as sorted, disjoint closed ranges.
typealias ScalarSet = [ClosedRange<UInt32>]

indirect enum Regex {
    case set(ScalarSet)
    case sequence([Regex])
    case alternatives([Regex])
    case repeated(Regex, min: Int, max: Int?)
}

/// A recursive-descent parser of the ECMA-262 subset.
struct RegexParser {
    let s: [Unicode.Scalar]
    var i = 0
    var depth = 0

    init(_ s: [Unicode.Scalar]) { self.s = s }

    static let maxRepeat = 1000
    static let lineTerminators: ScalarSet = [0x0A...0x0A, 0x0D...0x0D, 0x2028...0x2029]
    static let all: ScalarSet = [0...0xD7FF, 0xE000...0x10FFFF]
    static let digits: ScalarSet = [0x30...0x39]
    static let word: ScalarSet = [0x30...0x39, 0x41...0x5A, 0x5F...0x5F, 0x61...0x7A]
    // The class escapes write only what both ECMAScript and Python's `re` (how vLLM users read guided_regex, and how
    // Python's jsonschema checks `pattern`) put in the class: `\s` leaves out U+FEFF (not space to Python), `\S`
    // the spaces of either, `\D` every Unicode decimal digit (Python's `\d`), `\W` all but ASCII punctuation,
    // Latin-1's signs and General Punctuation (Python's `\w` holds every letter and digit).
    static let space: ScalarSet = normalize([0x09...0x0D, 0x20...0x20, 0xA0...0xA0, 0x1680...0x1680, 0x2000...0x200A, 0x2028...0x2029,
                                             0x202F...0x202F, 0x205F...0x205F, 0x3000...0x3000])
    static let eitherSpace: ScalarSet = normalize(space + [0x1C...0x1F, 0x85...0x85, 0xFEFF...0xFEFF])
    /// Unicode's decimal digits (category Nd, up to Unicode 16).
    static let unicodeDigits: ScalarSet = normalize([
        0x30...0x39, 0x660...0x669, 0x6F0...0x6F9, 0x7C0...0x7C9, 0x966...0x96F, 0x9E6...0x9EF, 0xA66...0xA6F, 0xAE6...0xAEF, 0xB66...0xB6F,
        0xBE6...0xBEF, 0xC66...0xC6F, 0xCE6...0xCEF, 0xD66...0xD6F, 0xDE6...0xDEF, 0xE50...0xE59, 0xED0...0xED9, 0xF20...0xF29, 0x1040...0x1049,
        0x1090...0x1099, 0x17E0...0x17E9, 0x1810...0x1819, 0x1946...0x194F, 0x19D0...0x19D9, 0x1A80...0x1A89, 0x1A90...0x1A99, 0x1B50...0x1B59,
        0x1BB0...0x1BB9, 0x1C40...0x1C49, 0x1C50...0x1C59, 0xA620...0xA629, 0xA8D0...0xA8D9, 0xA900...0xA909, 0xA9D0...0xA9D9, 0xA9F0...0xA9F9,
        0xAA50...0xAA59, 0xABF0...0xABF9, 0xFF10...0xFF19, 0x104A0...0x104A9, 0x10D30...0x10D39, 0x10D40...0x10D49, 0x11066...0x1106F,
        0x110F0...0x110F9, 0x11136...0x1113F, 0x111D0...0x111D9, 0x112F0...0x112F9, 0x11450...0x11459, 0x114D0...0x114D9, 0x11650...0x11659,
        0x116C0...0x116C9, 0x116D0...0x116E3, 0x11730...0x11739, 0x118E0...0x118E9, 0x11950...0x11959, 0x11BF0...0x11BF9, 0x11C50...0x11C59,
        0x11D50...0x11D59, 0x11DA0...0x11DA9, 0x11F50...0x11F59, 0x16130...0x16139, 0x16A60...0x16A69, 0x16AC0...0x16AC9, 0x16B50...0x16B59,
        0x16D70...0x16D79, 0x1CCF0...0x1CCF9, 0x1D7CE...0x1D7FF, 0x1E140...0x1E149, 0x1E2F0...0x1E2F9, 0x1E4F0...0x1E4F9, 0x1E5F1...0x1E5FA,
        0x1E950...0x1E959, 0x1FBF0...0x1FBF9,
    ])
    /// Each class escape's characters under either dialect (for negated classes).
    static let eitherDialect: [Unicode.Scalar: ScalarSet] = [
        "d": unicodeDigits, "D": subtract(all, digits), "w": subtract(all, nonWord), "W": subtract(all, word),
        "s": eitherSpace, "S": subtract(all, space),
    ]
    static let nonWord: ScalarSet = normalize([0x00...0x2F, 0x3A...0x40, 0x5B...0x5E, 0x60...0x60, 0x7B...0xA9, 0xAB...0xB1, 0xB4...0xB4,
                                               0xB6...0xB8, 0xBB...0xBB, 0xBF...0xBF, 0xD7...0xD7, 0xF7...0xF7, 0x2000...0x206F])

    func fail(_ why: String) -> PatternDFA.Failure { PatternDFA.Failure(description: "\(why) (at character \(i + 1))") }

    /// The pattern cut at each '|' outside groups and classes (escapes skipped); a malformed pattern is cut
    /// anyhow and fails in the parser.
    static func topLevelAlternatives(_ s: [Unicode.Scalar]) -> [[Unicode.Scalar]] {
        var parts: [[Unicode.Scalar]] = [[]], depth = 0, inClass = false, i = 0
        while i < s.count {
            let c = s[i]
            if c == "\\", i + 1 < s.count {
                parts[parts.count - 1] += [c, s[i + 1]]
                i += 2
                continue
            }
            if inClass { if c == "]" { inClass = false } }
            else if c == "[" { inClass = true }
            else if c == "(" { depth += 1 }
            else if c == ")" { depth -= 1 }
            else if c == "|", depth == 0 { parts.append([]); i += 1; continue }
            parts[parts.count - 1].append(c)
            i += 1
        }
        return parts
    }

    mutating func parseWhole() throws(PatternDFA.Failure) -> (Regex, Bool, Bool) {
        var anchoredStart = false, anchoredEnd = false
        var end = s.count
        if s.first == "^" { anchoredStart = true; i = 1 }
        if end > i, s[end - 1] == "$" {
            // Not an escaped dollar: count the backslashes before it.
            var k = end - 2, slashes = 0
            while k >= i, s[k] == "\\" { slashes += 1; k -= 1 }
            if slashes % 2 == 0 { anchoredEnd = true; end -= 1 }
        }
        var sub = RegexParser(Array(s[i..<end]))
        let r = try sub.alternatives()
        guard sub.i == sub.s.count else { throw sub.fail("unexpected ')'") }
        return (r, anchoredStart, anchoredEnd)
    }

    var atEnd: Bool { i >= s.count }
    var peek: Unicode.Scalar? { atEnd ? nil : s[i] }

    mutating func alternatives() throws(PatternDFA.Failure) -> Regex {
        depth += 1
        defer { depth -= 1 }
        guard depth <= 64 else { throw fail("groups nest too deep") }
        var options = [try sequence()]
        while peek == "|" {
            i += 1
            options.append(try sequence())
        }
        return options.count == 1 ? options[0] : .alternatives(options)
    }

    mutating func sequence() throws(PatternDFA.Failure) -> Regex {
        var items: [Regex] = []
        while let c = peek, c != "|", c != ")" {
            var atom = try self.atom()
            if let q = try quantifier() {
                atom = .repeated(atom, min: q.0, max: q.1)
                // ECMAScript (and Python) refuse a quantifier on a quantifier: a** is an error, not (a*)*.
                if try quantifier() != nil { throw fail("a quantifier cannot follow another; group the first: (?:a*)*") }
            }
            items.append(atom)
        }
        return items.count == 1 ? items[0] : .sequence(items)
    }

    mutating func quantifier() throws(PatternDFA.Failure) -> (Int, Int?)? {
        guard let c = peek else { return nil }
        var q: (Int, Int?)
        switch c {
        case "*": q = (0, nil); i += 1
        case "+": q = (1, nil); i += 1
        case "?": q = (0, 1); i += 1
        case "{":
            let save = i
            i += 1
            // `{,n}`: a repeat to Python's `re`, the text itself to ECMAScript; neither reading is safe.
            if peek == ",", i + 1 < s.count, ("0"..."9").contains(s[i + 1]) {
                var j = i + 1
                while j < s.count, ("0"..."9").contains(s[j]) { j += 1 }
                if j < s.count, s[j] == "}" { throw fail("'{,n}' is a repeat to Python and text to ECMAScript; write {0,n}, or \\{ for the text") }
            }
            guard let lo = number() else { i = save; return nil }   // a literal '{'
            var hi: Int? = lo
            if peek == "," { i += 1; hi = number() }
            guard peek == "}" else { i = save; return nil }
            i += 1
            if let hi, hi < lo { throw fail("a {min,max} has max below min") }
            guard lo <= Self.maxRepeat, (hi ?? 0) <= Self.maxRepeat else { throw fail("a repeat count is above \(Self.maxRepeat)") }
            q = (lo, hi)
        default: return nil
        }
        if peek == "?" { i += 1 }   // lazy: the same strings match
        return q
    }

    mutating func number() -> Int? {
        var v = 0, any = false
        while let c = peek, ("0"..."9").contains(c) { v = min(v * 10 + Int(c.value - 48), 1_000_000); any = true; i += 1 }
        return any ? v : nil
    }

    mutating func atom() throws(PatternDFA.Failure) -> Regex {
        let c = s[i]
        i += 1
        switch c {
        case "(":
            if peek == "?" {
                i += 1
                if peek == ":" { i += 1 }
                else if peek == "<", i + 1 < s.count, s[i + 1] != "=", s[i + 1] != "!" {
                    while let n = peek, n != ">" { i += 1 }   // a named group: the name is no part of the match
                    guard peek == ">" else { throw fail("an unfinished group name") }
                    i += 1
                } else if let n = peek, n == "=" || n == "!" || n == "<" {
                    throw fail("lookahead and lookbehind are not supported")
                } else { throw fail("inline flags and other (?…) groups are not supported") }
            }
            let inner = try alternatives()
            guard peek == ")" else { throw fail("a '(' without its ')'") }
            i += 1
            return inner
        case ".": return .set(Self.subtract(Self.all, Self.lineTerminators))
        case "[": return .set(try characterClass())
        case "\\": return .set(try escape(inClass: false))
        case "^", "$": throw fail("'\(c)' is supported only at the very start and end of the pattern")
        case "*", "+", "?": throw fail("'\(c)' has nothing to repeat")
        case ")": throw fail("unexpected ')'")
        default: return .set([c.value...c.value])
        }
    }

    /// `negated`: inside a negated class, whose complement must still keep to what both dialects agree on, a
    /// class escape stands for what either dialect puts in it (`[^\\d]` writes no Unicode digit).
    mutating func escape(inClass: Bool, negated: Bool = false) throws(PatternDFA.Failure) -> ScalarSet {
        guard let c = peek else { throw fail("a pattern cannot end with '\\'") }
        i += 1
        func one(_ v: UInt32) -> ScalarSet { [v...v] }
        if negated, let either = Self.eitherDialect[c] { return either }
        switch c {
        case "d": return Self.digits
        case "D": return Self.subtract(Self.all, Self.unicodeDigits)
        case "w": return Self.word
        case "W": return Self.nonWord
        case "s": return Self.space
        case "S": return Self.subtract(Self.all, Self.eitherSpace)
        case "t": return one(9)
        case "n": return one(10)
        case "v": return one(11)
        case "f": return one(12)
        case "r": return one(13)
        case "0": return one(0)
        case "b" where inClass: return one(8)
        case "b", "B": throw fail("word boundaries are not supported")
        case "x", "u":
            let n = c == "x" ? 2 : 4
            guard i + n <= s.count, let v = UInt32(String(String.UnicodeScalarView(s[i..<(i + n)])), radix: 16) else {
                throw fail("'\\\(c)' needs \(n) hex digits")
            }
            i += n
            return one(v)
        case "1"..."9": throw fail("backreferences are not supported")
        case "p", "P": throw fail("Unicode property escapes (\\p{…}) are not supported; list the characters in a class")
        case "k": throw fail("named backreferences are not supported")
        default:
            guard !(("a"..."z").contains(c) || ("A"..."Z").contains(c)) else { throw fail("unknown escape '\\\(c)'") }
            return one(c.value)
        }
    }

    mutating func characterClass() throws(PatternDFA.Failure) -> ScalarSet {
        var negate = false
        if peek == "^" { negate = true; i += 1 }
        var set: ScalarSet = []
        while let c = peek, c != "]" {
            i += 1
            var lo: ScalarSet
            if c == "\\" { lo = try escape(inClass: true, negated: negate) } else { lo = [c.value...c.value] }
            // A range a-b (a '-' last, or next to a class escape, is itself).
            if peek == "-", i + 1 < s.count, s[i + 1] != "]", lo.count == 1, lo[0].count == 1 {
                i += 1
                let d = s[i]
                i += 1
                var hi: ScalarSet = [d.value...d.value]
                if d == "\\" { hi = try escape(inClass: true) }
                guard hi.count == 1, hi[0].count == 1 else { throw fail("a range must end with one character") }
                guard lo[0].lowerBound <= hi[0].lowerBound else { throw fail("a range's end is before its start") }
                lo = [lo[0].lowerBound...hi[0].lowerBound]
            }
            set += lo
        }
        guard peek == "]" else { throw fail("a '[' without its ']'") }
        i += 1
        let normalized = Self.normalize(set)
        return negate ? Self.subtract(Self.all, normalized) : normalized
    }

    static func normalize(_ set: ScalarSet) -> ScalarSet {
        var out: ScalarSet = []
        for r in set.sorted(by: { $0.lowerBound < $1.lowerBound }) {
            if let last = out.last, r.lowerBound <= last.upperBound &+ 1 {
                out[out.count - 1] = last.lowerBound...max(last.upperBound, r.upperBound)
            } else { out.append(r) }
        }
        return out
    }

    static func subtract(_ a: ScalarSet, _ b: ScalarSet) -> ScalarSet {
        var out: ScalarSet = []
        for r in a {
            var lo = r.lowerBound
            var done = false
            for x in b where x.upperBound >= lo && x.lowerBound <= r.upperBound {
                if x.lowerBound > lo { out.append(lo...(x.lowerBound - 1)) }
                if x.upperBound >= r.upperBound { done = true; break }
                lo = x.upperBound + 1
            }
            if !done { out.append(lo...r.upperBound) }
        }
        return out
    }
}

/// Thompson's construction, then the subset construction over scalar classes.
struct NFA {
    var sets: [ScalarSet] = []            // per edge kind: the set it reads
    var edges: [[(set: Int, to: Int)]] = []
    var eps: [[Int]] = []

    static let maxStates = 50_000

    mutating func state() throws(PatternDFA.Failure) -> Int {
        guard edges.count < Self.maxStates else { throw PatternDFA.Failure(description: "the pattern is too large") }
        edges.append([])
        eps.append([])
        return edges.count - 1
    }

    mutating func epsilon(_ a: Int, _ b: Int) { eps[a].append(b) }

    /// `.*` over every scalar (for unanchored ends).
    mutating func anyLoop() throws(PatternDFA.Failure) -> (start: Int, end: Int) {
        let s = try state()
        sets.append(RegexParser.all)
        edges[s].append((sets.count - 1, s))
        return (s, s)
    }

    mutating func build(_ r: Regex) throws(PatternDFA.Failure) -> (Int, Int) {
        switch r {
        case let .set(set):
            let a = try state(), b = try state()
            sets.append(set)
            edges[a].append((sets.count - 1, b))
            return (a, b)
        case let .sequence(items):
            let start = try state()
            var end = start
            for item in items {
                let (s, e) = try build(item)
                epsilon(end, s)
                end = e
            }
            return (start, end)
        case let .alternatives(options):
            let a = try state(), b = try state()
            for o in options {
                let (s, e) = try build(o)
                epsilon(a, s)
                epsilon(e, b)
            }
            return (a, b)
        case let .repeated(inner, minimum, maximum):
            let start = try state()
            var end = start
            for _ in 0..<minimum {
                let (s, e) = try build(inner)
                epsilon(end, s)
                end = e
            }
            if let maximum {
                let exit = try state()
                epsilon(end, exit)
                for _ in minimum..<maximum {
                    let (s, e) = try build(inner)
                    epsilon(end, s)
                    epsilon(e, exit)
                    end = e
                }
                return (start, exit)
            }
            let (s, e) = try build(inner)
            epsilon(end, s)
            epsilon(e, s)
            let exit = try state()
            epsilon(end, exit)
            epsilon(e, exit)
            return (start, exit)
        }
    }

    func closure(_ states: [Int]) -> [Int] {
        var seen = Set(states), stack = states
        while let s = stack.popLast() {
            for t in eps[s] where seen.insert(t).inserted { stack.append(t) }
        }
        return seen.sorted()
    }

    /// The characters a pattern string can hold: raw, or by a short escape (`\b \t \n \f \r`); other control
    /// characters, DEL and surrogates would need `\u` escapes, which pattern strings do not use.
    static let writable: ScalarSet = [0x08...0x0A, 0x0C...0x0D, 0x20...0x7E, 0x80...0xD7FF, 0xE000...0x10FFFF]

    /// Steps of work the subset construction may take (class visits and closure steps) before the pattern is refused
    /// as too complex: well under a second.
    static let maxWork = 30_000_000

    func determinize(start: Int, accept: Int) throws(PatternDFA.Failure) -> PatternDFA {
        // Classes: cut the scalar range at every set's bounds, and where writable characters begin and end.
        var cuts: Set<UInt32> = [0]
        for set in sets + [Self.writable] {
            for r in set { cuts.insert(r.lowerBound); if r.upperBound < 0x10FFFF { cuts.insert(r.upperBound + 1) } }
        }
        let bounds = cuts.sorted()
        func classOf(_ v: UInt32) -> Int { PatternDFA.classOf(v, in: bounds) }
        let writable = bounds.map { b in Self.writable.contains { $0.contains(b) } }
        // Per set: the writable classes it covers (each range is a run of whole classes).
        var work = 0
        let classesOf: [[Int32]] = sets.map { set in
            var out: [Int32] = []
            for r in set { for c in classOf(r.lowerBound)...classOf(r.upperBound) where writable[c] { out.append(Int32(c)) } }
            return out
        }
        let classes = bounds.count
        var index: [[Int]: Int32] = [:]
        var states: [[Int]] = []
        var next: [Int32] = []
        let first = closure([start])
        index[first] = 0
        states.append(first)
        var k = 0
        while k < states.count {
            var targets = [[Int]](repeating: [], count: classes)
            for s in states[k] {
                for e in edges[s] {
                    work += classesOf[e.set].count
                    for c in classesOf[e.set] { targets[Int(c)].append(e.to) }
                }
            }
            // Classes with the same targets share one closure (a class of 4,000 characters is one step, not 4,000).
            var known: [[Int]: Int32] = [:]
            for c in 0..<classes {
                guard !targets[c].isEmpty else { next.append(-1); continue }
                if let n = known[targets[c]] { next.append(n); continue }
                let t = closure(targets[c])
                work += t.count
                guard work <= Self.maxWork else { throw PatternDFA.Failure(description: "the pattern is too complex to compile") }
                let n: Int32
                if let existing = index[t] { n = existing } else {
                    guard states.count < PatternDFA.maxStates else {
                        throw PatternDFA.Failure(description: "the pattern needs more than \(PatternDFA.maxStates) states")
                    }
                    guard (states.count + 1) * classes <= PatternDFA.maxTableEntries else {
                        throw PatternDFA.Failure(description: "the pattern's table would pass \(PatternDFA.maxTableEntries) entries (\(classes) character classes)")
                    }
                    n = Int32(states.count)
                    index[t] = n
                    states.append(t)
                }
                known[targets[c]] = n
                next.append(n)
            }
            k += 1
        }
        let accepting = states.map { $0.contains(accept) }
        try Self.pruneDead(&next, accepting: accepting, classes: classes)
        return PatternDFA(bounds: bounds, next: next, accepting: accepting, start: 0)
    }

    /// Cuts the transitions into states from which no accepting state is reachable (found backwards from the
    /// accepting ones), so a string begun can always be finished.
    static func pruneDead(_ next: inout [Int32], accepting: [Bool], classes: Int) throws(PatternDFA.Failure) {
        let n = accepting.count
        var into = [[Int32]](repeating: [], count: n)
        for s in 0..<n {
            var seen = Set<Int32>()
            for c in 0..<classes { let t = next[s * classes + c]; if t >= 0, seen.insert(t).inserted { into[Int(t)].append(Int32(s)) } }
        }
        var live = accepting
        var queue = (0..<n).filter { live[$0] }
        while let t = queue.popLast() {
            for s in into[t] where !live[Int(s)] { live[Int(s)] = true; queue.append(Int(s)) }
        }
        guard live[0] else { throw PatternDFA.Failure(description: "no string this server can write matches the pattern (control characters other than \\b \\t \\n \\f \\r are not written)") }
        for i in next.indices where next[i] >= 0 && !live[Int(next[i])] { next[i] = -1 }
    }
}
