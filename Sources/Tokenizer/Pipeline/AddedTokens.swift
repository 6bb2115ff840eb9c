/// A token matched verbatim in the input before the model runs (HF `AddedToken`).
public struct AddedToken: Sendable, Equatable {
    public var content: String
    public var id: Int
    /// Special tokens are matched only when special-token text is parsed, and may be skipped in decode.
    public var special: Bool
    /// Also swallow whitespace on the left / right.
    public var lstrip: Bool
    public var rstrip: Bool
    /// Matched in the normalized text (else in the raw text).
    public var normalized: Bool
    /// Matched only when not inside a word.
    public var singleWord: Bool

    public init(content: String, id: Int, special: Bool, lstrip: Bool = false, rstrip: Bool = false,
                normalized: Bool = false, singleWord: Bool = false) {
        self.content = content
        self.id = id
        self.special = special
        self.lstrip = lstrip
        self.rstrip = rstrip
        self.normalized = normalized
        self.singleWord = singleWord
    }
}

/// A stretch of input: text for the model, or an added token already resolved.
enum Segment: Equatable {
    /// `atStart`: the text begins the input (for `Metaspace` prepend scheme `first`).
    case text(String, atStart: Bool)
    case token(Int)
}

/// Finds added tokens in text with Hugging Face's rules: leftmost-longest, non-overlapping; special
/// tokens skipped when not parsing special text; `single_word`, `lstrip` and `rstrip` applied to
/// each match.
struct AddedTokenMatcher: Sendable {
    private struct Candidate: Sendable {
        var bytes: [UInt8]
        var token: AddedToken
    }

    /// Candidates by first byte, longest first.
    private var byFirstByte: [[Candidate]] = Array(repeating: [], count: 256)
    let isEmpty: Bool

    /// `patterns` pairs each token with the text it matches (its content, normalized if it is).
    init(_ patterns: [(text: String, token: AddedToken)]) {
        for (text, token) in patterns where !text.isEmpty {
            let bytes = Array(text.utf8)
            byFirstByte[Int(bytes[0])].append(Candidate(bytes: bytes, token: token))
        }
        for k in byFirstByte.indices { byFirstByte[k].sort { $0.bytes.count > $1.bytes.count } }
        isEmpty = patterns.allSatisfy { $0.text.isEmpty }
    }

    /// Splits `text` into text and token segments. `atStart` tells whether `text` begins the input.
    func split(_ text: String, atStart: Bool, parseSpecial: Bool) -> [Segment] {
        guard !isEmpty, !text.isEmpty else { return text.isEmpty ? [] : [.text(text, atStart: atStart)] }
        let bytes = Array(text.utf8)
        var out: [Segment] = []
        var startOffset = 0, i = 0
        bytes.withUnsafeBufferPointer { b in
            while i < b.count {
                guard let c = longestMatch(b, at: i) else { i += 1; continue }
                var start = i, stop = i + c.bytes.count
                i = stop
                if c.token.special && !parseSpecial { continue }
                if c.token.singleWord, !Self.isSingleWord(b, start, stop) { continue }
                if c.token.lstrip { start = max(Self.whitespaceStart(b, before: start), startOffset) }
                if c.token.rstrip { stop = Self.whitespaceEnd(b, after: stop) }
                if startOffset < start {
                    out.append(.text(String(decoding: b[startOffset..<start], as: UTF8.self), atStart: atStart && startOffset == 0))
                }
                out.append(.token(c.token.id))
                startOffset = stop
                i = stop
            }
            if startOffset < b.count {
                out.append(.text(String(decoding: b[startOffset...], as: UTF8.self), atStart: atStart && startOffset == 0))
            }
        }
        return out
    }

    private func longestMatch(_ b: UnsafeBufferPointer<UInt8>, at i: Int) -> Candidate? {
        let list = byFirstByte[Int(b[i])]
        guard !list.isEmpty else { return nil }
        for c in list where i + c.bytes.count <= b.count {
            var k = 1
            while k < c.bytes.count, b[i + k] == c.bytes[k] { k += 1 }
            if k == c.bytes.count { return c }
        }
        return nil
    }

    /// Neither the character before `start` nor the one at `stop` is a word character (`\w`).
    private static func isSingleWord(_ b: UnsafeBufferPointer<UInt8>, _ start: Int, _ stop: Int) -> Bool {
        if start > 0 {
            var j = start - 1
            while j > 0, b[j] & 0xC0 == 0x80 { j -= 1 }
            if UnicodeClasses.isWordCharacter(UTF8Scalars.decode(b, j).value) { return false }
        }
        if stop < b.count, UnicodeClasses.isWordCharacter(UTF8Scalars.decode(b, stop).value) { return false }
        return true
    }

    /// Start of the whitespace run that ends at `start`.
    private static func whitespaceStart(_ b: UnsafeBufferPointer<UInt8>, before start: Int) -> Int {
        var s = start
        while s > 0 {
            var j = s - 1
            while j > 0, b[j] & 0xC0 == 0x80 { j -= 1 }
            guard UnicodeClasses.isWhitespace(UTF8Scalars.decode(b, j).value) else { break }
            s = j
        }
        return s
    }

    /// End of the whitespace run that starts at `stop`.
    private static func whitespaceEnd(_ b: UnsafeBufferPointer<UInt8>, after stop: Int) -> Int {
        var e = stop
        while e < b.count {
            let (v, n) = UTF8Scalars.decode(b, e)
            guard UnicodeClasses.isWhitespace(v) else { break }
            e += n
        }
        return e
    }
}

/// Special tokens put around an encoded sequence (HF `TemplateProcessing` and friends, single
/// sequences only).
public struct PostProcessor: Sendable, Equatable {
    public var prefix: [Int]
    public var suffix: [Int]

    public init(prefix: [Int] = [], suffix: [Int] = []) {
        self.prefix = prefix
        self.suffix = suffix
    }

    public func apply(_ ids: [Int]) -> [Int] { prefix + ids + suffix }
}
