/// A lexical token of a Jinja template.
struct Token: Sendable, Equatable {
    enum Kind: Sendable, Equatable {
        case text(String)
        case variableBegin, variableEnd, blockBegin, blockEnd
        case name(String)
        case string(String)
        case integer(Int)
        case float(Double)
        case op(String)
        case eof
    }

    var kind: Kind
    var position: SourcePosition
}

/// Whitespace options of the jinja2 `Environment` that change how text around tags is kept.
public struct JinjaOptions: Sendable, Equatable {
    /// Remove the first newline after a block or comment tag.
    public var trimBlocks: Bool
    /// Strip spaces and tabs from the start of a line up to a block or comment tag.
    public var lstripBlocks: Bool

    public init(trimBlocks: Bool = false, lstripBlocks: Bool = false) {
        self.trimBlocks = trimBlocks
        self.lstripBlocks = lstripBlocks
    }

    /// The settings Hugging Face `apply_chat_template` uses.
    public static let huggingFace = JinjaOptions(trimBlocks: true, lstripBlocks: true)
}

/// Splits template source into text and tag tokens, following jinja2's lexer rules for
/// whitespace control (`-`/`+` markers, `trim_blocks`, `lstrip_blocks`), comments and raw blocks.
///
/// Works on Unicode scalars so positions and stripping match Python's code-point strings.
struct JinjaLexer {
    private let src: [Unicode.Scalar]
    private let options: JinjaOptions
    private var pos = 0
    private var tokens: [Token] = []
    private let lineStarts: [Int]

    init(source: String, options: JinjaOptions) {
        src = JinjaLexer.normalizeNewlines(source)
        self.options = options
        var starts = [0]
        for (i, c) in src.enumerated() where c == "\n" { starts.append(i + 1) }
        lineStarts = starts
    }

    /// jinja2 turns `\r\n` and `\r` into `\n` and drops one trailing newline
    /// (`keep_trailing_newline=False`).
    static func normalizeNewlines(_ source: String) -> [Unicode.Scalar] {
        var out: [Unicode.Scalar] = []
        out.reserveCapacity(source.unicodeScalars.count)
        var previousCR = false
        for s in source.unicodeScalars {
            if s == "\r" {
                out.append("\n")
                previousCR = true
                continue
            }
            if s == "\n", previousCR {
                previousCR = false
                continue
            }
            previousCR = false
            out.append(s)
        }
        if out.last == "\n" { out.removeLast() }
        return out
    }

    mutating func tokenize() throws -> [Token] {
        var lineStarting = true
        while pos < src.count {
            guard let tag = findNextTag(from: pos) else {
                emitText(pos, src.count)
                pos = src.count
                break
            }
            emitText(pos, textEnd(tagStart: tag.start, sign: tag.sign, isVariable: tag.kind == .variable,
                                  textStart: pos, lineStarting: lineStarting))
            pos = tag.contentStart
            switch tag.kind {
            case .comment: try skipComment(openedAt: tag.start)
            case .raw(let bodyStart): try lexRaw(bodyStart: bodyStart, openedAt: tag.start)
            case .block: try lexTag(isBlock: true, openedAt: tag.start)
            case .variable: try lexTag(isBlock: false, openedAt: tag.start)
            }
            lineStarting = pos > 0 && src[pos - 1] == "\n"
        }
        tokens.append(Token(kind: .eof, position: position(of: src.count)))
        return tokens
    }

    // MARK: - Text and tag starts

    private enum TagKind: Equatable {
        case comment, block, variable
        case raw(bodyStart: Int)
    }

    private struct TagStart {
        var start: Int
        var contentStart: Int
        var sign: Unicode.Scalar?
        var kind: TagKind
    }

    private func findNextTag(from start: Int) -> TagStart? {
        var i = start
        while i + 1 < src.count {
            guard src[i] == "{" else { i += 1; continue }
            let kind: TagKind
            switch src[i + 1] {
            case "{": kind = .variable
            case "%": kind = .block
            case "#": kind = .comment
            default: i += 1; continue
            }
            var content = i + 2
            var sign: Unicode.Scalar?
            if content < src.count, src[content] == "-" || src[content] == "+" {
                sign = src[content]
                content += 1
            }
            if kind == .block, let bodyStart = rawBodyStart(after: content) {
                return TagStart(start: i, contentStart: content, sign: sign, kind: .raw(bodyStart: bodyStart))
            }
            return TagStart(start: i, contentStart: content, sign: sign, kind: kind)
        }
        return nil
    }

    /// Where the text before a tag ends after `-` stripping or `lstrip_blocks`.
    private func textEnd(tagStart: Int, sign: Unicode.Scalar?, isVariable: Bool, textStart: Int,
                         lineStarting: Bool) -> Int {
        var end = tagStart
        if sign == "-" {
            while end > textStart, PythonString.isSpace(src[end - 1]) { end -= 1 }
            return end
        }
        guard sign != "+", options.lstripBlocks, !isVariable else { return end }
        var lineStart = end
        while lineStart > textStart, src[lineStart - 1] != "\n" { lineStart -= 1 }
        let atLineStart = lineStart > textStart || lineStarting
        let onlySpace = lineStart < end && (lineStart..<end).allSatisfy { PythonString.isSpace(src[$0]) }
        return atLineStart && onlySpace ? lineStart : end
    }

    private mutating func emitText(_ start: Int, _ end: Int) {
        guard start < end else { return }
        var s = String.UnicodeScalarView()
        s.append(contentsOf: src[start..<end])
        tokens.append(Token(kind: .text(String(s)), position: position(of: start)))
    }

    // MARK: - Comments and raw blocks

    private mutating func skipComment(openedAt start: Int) throws {
        var i = pos
        while i < src.count {
            if let end = closing(at: i, "#}", trimsNewline: options.trimBlocks) {
                pos = end
                return
            }
            i += 1
        }
        throw JinjaError.syntax("Missing end of comment tag", at: position(of: start))
    }

    /// If `i` starts a closing delimiter (`+X`, `-X` or `X`), the index after it and the
    /// whitespace it swallows.
    private func closing(at i: Int, _ delimiter: String, trimsNewline: Bool) -> Int? {
        let d = Array(delimiter.unicodeScalars)
        if (src[i] == "-" || src[i] == "+"), matches(d, at: i + 1) {
            var end = i + 1 + d.count
            if src[i] == "-" { while end < src.count, PythonString.isSpace(src[end]) { end += 1 } }
            return end
        }
        guard matches(d, at: i) else { return nil }
        var end = i + d.count
        if trimsNewline, end < src.count, src[end] == "\n" { end += 1 }
        return end
    }

    private func matches(_ literal: [Unicode.Scalar], at i: Int) -> Bool {
        guard i + literal.count <= src.count else { return false }
        for (k, c) in literal.enumerated() where src[i + k] != c { return false }
        return true
    }

    private func matchesWord(_ word: String, at i: Int) -> Int? {
        let w = Array(word.unicodeScalars)
        guard matches(w, at: i) else { return nil }
        let end = i + w.count
        if end < src.count, isNameContinue(src[end]) { return nil }
        return end
    }

    /// `{% raw %}`: returns where the raw body begins, or nil if this block tag is not `raw`.
    private func rawBodyStart(after content: Int) -> Int? {
        var i = content
        while i < src.count, PythonString.isSpace(src[i]) { i += 1 }
        guard var j = matchesWord("raw", at: i) else { return nil }
        while j < src.count, PythonString.isSpace(src[j]) { j += 1 }
        if matches(Array("-%}".unicodeScalars), at: j) {
            j += 3
            while j < src.count, PythonString.isSpace(src[j]) { j += 1 }
            return j
        }
        return matches(Array("%}".unicodeScalars), at: j) ? j + 2 : nil
    }

    private mutating func lexRaw(bodyStart: Int, openedAt start: Int) throws {
        var i = bodyStart
        while i + 1 < src.count {
            if src[i] == "{", src[i + 1] == "%", let (sign, end) = endRawTag(at: i + 2) {
                let textEnd = self.textEnd(tagStart: i, sign: sign, isVariable: false, textStart: bodyStart,
                                           lineStarting: bodyStart > 0 && src[bodyStart - 1] == "\n")
                emitText(bodyStart, textEnd)
                pos = end
                return
            }
            i += 1
        }
        throw JinjaError.syntax("Missing end of raw directive", at: position(of: start))
    }

    private func endRawTag(at start: Int) -> (Unicode.Scalar?, Int)? {
        var i = start
        var sign: Unicode.Scalar?
        if i < src.count, src[i] == "-" || src[i] == "+" { sign = src[i]; i += 1 }
        while i < src.count, PythonString.isSpace(src[i]) { i += 1 }
        guard var j = matchesWord("endraw", at: i) else { return nil }
        while j < src.count, PythonString.isSpace(src[j]) { j += 1 }
        guard j < src.count, let end = closing(at: j, "%}", trimsNewline: options.trimBlocks) else { return nil }
        return (sign, end)
    }

    // MARK: - Inside {{ }} and {% %}

    private mutating func lexTag(isBlock: Bool, openedAt start: Int) throws {
        tokens.append(Token(kind: isBlock ? .blockBegin : .variableBegin, position: position(of: start)))
        var brackets: [Unicode.Scalar] = []
        while true {
            while pos < src.count, PythonString.isSpace(src[pos]) { pos += 1 }
            guard pos < src.count else {
                let what = isBlock ? "end of statement block" : "end of print statement"
                throw JinjaError.syntax("unexpected end of template, expected '\(what)'", at: position(of: pos))
            }
            if brackets.isEmpty, let end = tagEnd(isBlock: isBlock) {
                tokens.append(Token(kind: isBlock ? .blockEnd : .variableEnd, position: position(of: pos)))
                pos = end
                return
            }
            try lexToken(brackets: &brackets)
        }
    }

    private func tagEnd(isBlock: Bool) -> Int? {
        if isBlock { return closing(at: pos, "%}", trimsNewline: options.trimBlocks) }
        if src[pos] == "+" { return nil }  // `+}}` is not a variable end in jinja2
        return closing(at: pos, "}}", trimsNewline: false)
    }

    private mutating func lexToken(brackets: inout [Unicode.Scalar]) throws {
        let start = pos
        let c = src[pos]
        let kind: Token.Kind
        if c == "'" || c == "\"" {
            kind = .string(try lexString(quote: c))
        } else if isDigit(c) {
            kind = lexNumber()
        } else if isNameStart(c) {
            while pos < src.count, isNameContinue(src[pos]) { pos += 1 }
            kind = .name(string(start, pos))
        } else {
            kind = .op(try lexOperator(brackets: &brackets))
        }
        tokens.append(Token(kind: kind, position: position(of: start)))
    }

    /// Longest first, so `**` wins over `*`.
    private static let operators = ["//", "**", "==", "!=", ">=", "<=",
                                    "+", "-", "/", "*", "%", "~", "[", "]", "(", ")", "{", "}",
                                    ">", "<", "=", ".", ":", "|", ",", ";"].map { Array($0.unicodeScalars) }

    private mutating func lexOperator(brackets: inout [Unicode.Scalar]) throws -> String {
        guard let op = JinjaLexer.operators.first(where: { matches($0, at: pos) }).map({ PyStr.string($0) }) else {
            throw JinjaError.syntax("unexpected char \(PythonString.repr(String(src[pos])))", at: position(of: pos))
        }
        let c = src[pos]
        let pairs: [Unicode.Scalar: Unicode.Scalar] = [")": "(", "]": "[", "}": "{"]
        if c == "(" || c == "[" || c == "{" {
            brackets.append(c)
        } else if let opener = pairs[c] {
            guard let last = brackets.last else {
                throw JinjaError.syntax("unexpected '\(c)'", at: position(of: pos))
            }
            guard last == opener else {
                let expected = pairs.first { $0.value == last }?.key ?? c
                throw JinjaError.syntax("unexpected '\(c)', expected '\(expected)'", at: position(of: pos))
            }
            brackets.removeLast()
        }
        pos += op.unicodeScalars.count
        return op
    }

    private mutating func lexString(quote: Unicode.Scalar) throws -> String {
        let start = pos
        var i = pos + 1
        while i < src.count, src[i] != quote {
            i += src[i] == "\\" ? 2 : 1
        }
        guard i < src.count else {
            throw JinjaError.syntax("unexpected char \(PythonString.repr(String(quote)))", at: position(of: start))
        }
        pos = i + 1
        return try PythonEscapes.decode(src[(start + 1)..<i], at: position(of: start))
    }

    private mutating func lexNumber() -> Token.Kind {
        let start = pos
        skipDigits()
        var isFloat = false
        if pos + 1 < src.count, src[pos] == ".", isDigit(src[pos + 1]), !(start > 0 && src[start - 1] == ".") {
            pos += 1
            skipDigits()
            isFloat = true
        }
        if pos < src.count, src[pos] == "e" || src[pos] == "E" {
            var j = pos + 1
            if j < src.count, src[j] == "+" || src[j] == "-" { j += 1 }
            if j < src.count, isDigit(src[j]) {
                pos = j
                skipDigits()
                isFloat = true
            }
        }
        let text = string(start, pos).replacingOccurrences(of: "_", with: "")
        if !isFloat, let value = Int(text) { return .integer(value) }
        return .float(Double(text) ?? .infinity)
    }

    private mutating func skipDigits() {
        while pos < src.count, isDigit(src[pos]) || (src[pos] == "_" && pos + 1 < src.count && isDigit(src[pos + 1])) {
            pos += 1
        }
    }

    // MARK: - Helpers

    private func isDigit(_ c: Unicode.Scalar) -> Bool { c.value >= 0x30 && c.value <= 0x39 }

    private func isNameStart(_ c: Unicode.Scalar) -> Bool {
        c == "_" || (c.value < 0x80 ? (c.value | 0x20 >= 0x61 && c.value | 0x20 <= 0x7A) : c.properties.isXIDStart)
    }

    private func isNameContinue(_ c: Unicode.Scalar) -> Bool {
        isNameStart(c) || isDigit(c) || (c.value >= 0x80 && c.properties.isXIDContinue)
    }

    private func string(_ start: Int, _ end: Int) -> String {
        var s = String.UnicodeScalarView()
        s.append(contentsOf: src[start..<end])
        return String(s)
    }

    private func position(of offset: Int) -> SourcePosition {
        var lo = 0
        var hi = lineStarts.count - 1
        while lo < hi {
            let mid = (lo + hi + 1) / 2
            if lineStarts[mid] <= offset { lo = mid } else { hi = mid - 1 }
        }
        return SourcePosition(line: lo + 1, column: offset - lineStarts[lo] + 1)
    }
}

/// Python's `unicode-escape` decoding, which jinja2 applies to string literals.
enum PythonEscapes {
    static func decode(_ raw: ArraySlice<Unicode.Scalar>, at position: SourcePosition) throws -> String {
        var out = String.UnicodeScalarView()
        var i = raw.startIndex
        while i < raw.endIndex {
            let c = raw[i]
            guard c == "\\", i + 1 < raw.endIndex else {
                out.append(c)
                i += 1
                continue
            }
            let e = raw[i + 1]
            i += 2
            if let simple = simpleEscapes[e] {
                out.append(simple)
            } else if e == "\n" {
                continue  // line continuation
            } else if let width = hexWidths[e] {
                let digits = raw[i..<min(i + width, raw.endIndex)]
                guard digits.count == width, let v = UInt32(String(String.UnicodeScalarView(digits)), radix: 16),
                      let scalar = Unicode.Scalar(v)
                else {
                    throw JinjaError.syntax("truncated \\\(e) escape in string literal", at: position)
                }
                out.append(scalar)
                i += width
            } else if e.value >= 0x30, e.value <= 0x37 {
                var v = e.value - 0x30
                var n = 1
                while n < 3, i < raw.endIndex, raw[i].value >= 0x30, raw[i].value <= 0x37 {
                    v = v * 8 + raw[i].value - 0x30
                    i += 1
                    n += 1
                }
                out.append(Unicode.Scalar(v) ?? "?")
            } else {
                out.append("\\")
                out.append(e)
            }
        }
        return String(out)
    }

    private static let simpleEscapes: [Unicode.Scalar: Unicode.Scalar] = [
        "\\": "\\", "'": "'", "\"": "\"", "a": "\u{07}", "b": "\u{08}", "f": "\u{0C}",
        "n": "\n", "r": "\r", "t": "\t", "v": "\u{0B}",
    ]
    private static let hexWidths: [Unicode.Scalar: Int] = ["x": 2, "u": 4, "U": 8]
}
