/// Splits text into words before BPE. Hand-written scanners for the regexes the models ship, on
/// Unicode scalars, with the same leftmost-first alternation semantics as the original regexes.
public struct PreTokenizer: Sendable {
    /// One splitting pass; passes run in order, each over the pieces of the previous one.
    public enum Pass: Sendable {
        /// `\p{N}`: every number character becomes its own piece (HF `Digits(individual_digits: true)`).
        case individualDigits
        /// GPT-2: `'s|'t|'re|'ve|'m|'ll|'d| ?\p{L}+| ?\p{N}+| ?[^\s\p{L}\p{N}]+|\s+(?!\S)|\s+`
        case gpt2
    }

    public let passes: [Pass]

    public init(passes: [Pass]) { self.passes = passes }

    /// The pre-tokenizer llama.cpp selects for a `tokenizer.ggml.pre` name.
    public init(llamaCppName name: String) throws {
        switch name {
        case "gpt-2", "gpt2", "phi-2", "jina-es", "jina-de", "jina-v2-es", "jina-v2-de", "roberta-bpe", "poro-chat", "viking":
            passes = [.gpt2]
        case "smollm", "starcoder", "refact", "command-r", "codeshell", "exaone", "minerva-7b":
            passes = [.individualDigits, .gpt2]
        default:
            throw TokenizerError("pre-tokenizer '\(name)' is not supported yet (supported: gpt-2, smollm, starcoder, refact, command-r, codeshell, exaone, minerva-7b)")
        }
    }

    /// Splits `text` into pieces (substrings, in order, covering all of it).
    public func split(_ text: String) -> [Substring.UnicodeScalarView] {
        var pieces: [Substring.UnicodeScalarView] = [Substring(text).unicodeScalars]
        for pass in passes {
            var next: [Substring.UnicodeScalarView] = []
            for piece in pieces {
                switch pass {
                case .individualDigits: Self.splitDigits(piece, into: &next)
                case .gpt2: Self.splitGPT2(piece, into: &next)
                }
            }
            pieces = next
        }
        return pieces
    }

    static func splitDigits(_ s: Substring.UnicodeScalarView, into out: inout [Substring.UnicodeScalarView]) {
        var start = s.startIndex
        var i = s.startIndex
        while i < s.endIndex {
            if s[i].isNumberChar {
                if start < i { out.append(s[start..<i]) }
                let n = s.index(after: i)
                out.append(s[i..<n])
                start = n
            }
            i = s.index(after: i)
        }
        if start < s.endIndex { out.append(s[start..<s.endIndex]) }
    }

    static func splitGPT2(_ s: Substring.UnicodeScalarView, into out: inout [Substring.UnicodeScalarView]) {
        var i = s.startIndex
        while i < s.endIndex {
            let end = gpt2Match(s, at: i)
            out.append(s[i..<end])
            i = end
        }
    }

    /// End of the GPT-2 regex match starting at `i` (always past `i`).
    static func gpt2Match(_ s: Substring.UnicodeScalarView, at i: String.UnicodeScalarIndex) -> String.UnicodeScalarIndex {
        let c = s[i]
        let next = s.index(after: i)
        // 's 't 're 've 'm 'll 'd (lowercase only, as in GPT-2)
        if c == "'", next < s.endIndex {
            let c1 = s[next]
            let after1 = s.index(after: next)
            if c1 == "s" || c1 == "t" || c1 == "m" || c1 == "d" { return after1 }
            if after1 < s.endIndex {
                let c2 = s[after1]
                if (c1 == "r" && c2 == "e") || (c1 == "v" && c2 == "e") || (c1 == "l" && c2 == "l") { return s.index(after: after1) }
            }
        }
        // optional single space, then a run of one class
        let body = (c == " " && next < s.endIndex) ? next : i
        if body < s.endIndex, body != i || c != " " {
            let b = s[body]
            if b.isLetterChar { return run(s, from: body) { $0.isLetterChar } }
            if b.isNumberChar { return run(s, from: body) { $0.isNumberChar } }
            if !b.isWhitespaceChar { return run(s, from: body) { !$0.isWhitespaceChar && !$0.isLetterChar && !$0.isNumberChar } }
        }
        // whitespace: \s+(?!\S) leaves the last space for the next word; else \s+
        let wsEnd = run(s, from: i) { $0.isWhitespaceChar }
        if wsEnd == s.endIndex { return wsEnd }
        let runLength = s.distance(from: i, to: wsEnd)
        return runLength > 1 ? s.index(before: wsEnd) : wsEnd
    }

    @inline(__always)
    static func run(_ s: Substring.UnicodeScalarView, from i: String.UnicodeScalarIndex, while pred: (Unicode.Scalar) -> Bool) -> String.UnicodeScalarIndex {
        var j = i
        while j < s.endIndex, pred(s[j]) { j = s.index(after: j) }
        return j
    }
}

extension Unicode.Scalar {
    /// `\p{L}`
    var isLetterChar: Bool {
        if value < 0x80 { return (value | 0x20) >= 0x61 && (value | 0x20) <= 0x7A }
        switch properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    /// `\p{N}`
    var isNumberChar: Bool {
        if value < 0x80 { return value >= 0x30 && value <= 0x39 }
        switch properties.generalCategory {
        case .decimalNumber, .letterNumber, .otherNumber: return true
        default: return false
        }
    }

    /// `\s` (Unicode White_Space)
    var isWhitespaceChar: Bool {
        if value < 0x80 { return value == 0x20 || (value >= 0x09 && value <= 0x0D) }
        return properties.isWhitespace
    }
}
