/// Hand-written scanners for the split regexes that popular tokenizers ship, on UTF-8 bytes.
/// Each produces the same pieces as `TokenizerRegex` with `Split(behavior: isolated)` (the matches
/// tile the text), which the tests check; they exist because they are several times faster.
enum PatternScanner: Sendable {
    /// GPT-2 (`ByteLevel(use_regex: true)`):
    /// `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
    case gpt2
    /// Llama-3 (`digitGroup: 3`) and Qwen2 (`digitGroup: 1`):
    /// `(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+`
    case llama3(digitGroup: Int)

    static let gpt2Pattern = #"'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+"#
    static let llama3Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#
    static let qwen2Pattern = #"(?i:'s|'t|'re|'ve|'m|'ll|'d)|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+"#

    /// The scanner for a regex source, if there is one.
    init?(pattern: String) {
        switch pattern {
        case Self.gpt2Pattern: self = .gpt2
        case Self.llama3Pattern: self = .llama3(digitGroup: 3)
        case Self.qwen2Pattern: self = .llama3(digitGroup: 1)
        default: return nil
        }
    }

    /// Appends the pieces of `b[range]` to `out`.
    func split(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, into out: inout [Range<Int>]) {
        var i = range.lowerBound
        let end = range.upperBound
        while i < end {
            let e: Int
            switch self {
            case .gpt2: e = Self.gpt2Match(b, i, end)
            case let .llama3(group): e = Self.llama3Match(b, i, end, digitGroup: group)
            }
            out.append(i..<e)
            i = e
        }
    }

    @inline(__always)
    private static func at(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> (UInt32, Int) { UTF8Scalars.decode(b, i) }

    private typealias Props = UnicodeClasses

    /// End of the run of scalars satisfying `pred` from `i`, and the start of its last scalar.
    @inline(__always)
    private static func run(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, _ pred: (UInt32) -> Bool) -> (end: Int, last: Int) {
        var j = i, last = i
        while j < end {
            let (c, n) = at(b, j)
            guard pred(c) else { break }
            last = j
            j += n
        }
        return (j, last)
    }

    @inline(__always)
    private static func isOther(_ c: UInt32) -> Bool { !Props.isWhitespace(c) && !Props.isLetter(c) && !Props.isNumber(c) }

    /// `'s|'t|'re|'ve|'m|'ll|'d` at `i` (which holds `'`); 0 if none. `fold` for `(?i:…)`.
    @inline(__always)
    private static func contraction(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, fold: Bool) -> Int {
        let next = i + 1
        guard next < end else { return 0 }
        var (c1, n1) = at(b, next)
        if fold { c1 = Props.fold(c1) }
        if c1 == 0x73 || c1 == 0x74 || c1 == 0x6D || c1 == 0x64 { return next + n1 }  // s t m d
        let after = next + n1
        guard after < end else { return 0 }
        var (c2, n2) = at(b, after)
        if fold { c2 = Props.fold(c2) }
        if (c1 == 0x72 && c2 == 0x65) || (c1 == 0x76 && c2 == 0x65) || (c1 == 0x6C && c2 == 0x6C) { return after + n2 }  // re ve ll
        return 0
    }

    /// `\s+(?!\S)|\s+` from `i` (which holds whitespace).
    @inline(__always)
    private static func whitespace(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        let (wsEnd, last) = run(b, i, end, Props.isWhitespace)
        if wsEnd == end || last == i { return wsEnd }
        return last
    }

    static func gpt2Match(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int) -> Int {
        let (c, n) = at(b, i)
        if c == 0x27, case let e = contraction(b, i, end, fold: false), e > 0 { return e }
        let body = (c == 0x20 && i + n < end) ? i + n : i
        let (bc, _) = at(b, body)
        if body != i || c != 0x20 {
            if Props.isLetter(bc) { return run(b, body, end, Props.isLetter).end }
            if Props.isNumber(bc) { return run(b, body, end, Props.isNumber).end }
            if !Props.isWhitespace(bc) { return run(b, body, end, isOther).end }
        }
        return whitespace(b, i, end)
    }

    static func llama3Match(_ b: UnsafeBufferPointer<UInt8>, _ i: Int, _ end: Int, digitGroup: Int) -> Int {
        let (c, n) = at(b, i)
        if c == 0x27, case let e = contraction(b, i, end, fold: true), e > 0 { return e }
        // [^\r\n\p{L}\p{N}]?\p{L}+
        if Props.isLetter(c) { return run(b, i + n, end, Props.isLetter).end }
        if c != 0x0D, c != 0x0A, !Props.isNumber(c), i + n < end, Props.isLetter(at(b, i + n).0) {
            return run(b, i + n, end, Props.isLetter).end
        }
        // \p{N}{1,3}
        if Props.isNumber(c) {
            var j = i + n, count = 1
            while count < digitGroup, j < end, case let (d, dn) = at(b, j), Props.isNumber(d) { j += dn; count += 1 }
            return j
        }
        // ' ?[^\s\p{L}\p{N}]+[\r\n]*'
        let body = (c == 0x20 && i + n < end) ? i + n : i
        if body != i || c != 0x20, isOther(at(b, body).0) {
            var j = run(b, body, end, isOther).end
            while j < end, b[j] == 0x0D || b[j] == 0x0A { j += 1 }
            return j
        }
        // \s*[\r\n]+ : up to the last \r or \n in the whitespace run
        var j = i, lastNewline = -1, scalars = 0, lastStart = i
        while j < end {
            let (w, wn) = at(b, j)
            guard Props.isWhitespace(w) else { break }
            if w == 0x0D || w == 0x0A { lastNewline = j + 1 }
            lastStart = j
            scalars += 1
            j += wn
        }
        if lastNewline > 0 { return lastNewline }
        // \s+(?!\S)|\s+
        if scalars > 1, j < end { return lastStart }
        if scalars > 0 { return j }
        return i + n  // not reachable: every scalar matches one of the alternatives
    }
}
