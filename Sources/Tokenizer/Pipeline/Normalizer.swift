import Foundation

/// Text normalization before pre-tokenization (Hugging Face `normalizers`).
public indirect enum Normalizer: Sendable {
    case nfc, nfd, nfkc, nfkd
    case lowercase
    /// Removes leading/trailing whitespace.
    case strip(left: Bool, right: Bool)
    /// Puts `prefix` in front of non-empty text (SentencePiece's `▁`).
    case prepend(String)
    /// Replaces every match of the pattern with `content`.
    case replace(TextPattern, content: String)
    case sequence([Normalizer])

    /// The normalized form of `text`.
    public func apply(_ text: String) -> String {
        switch self {
        case .nfc: return Self.isASCII(text) ? text : text.precomposedStringWithCanonicalMapping
        case .nfd: return Self.isASCII(text) ? text : text.decomposedStringWithCanonicalMapping
        case .nfkc: return Self.isASCII(text) ? text : text.precomposedStringWithCompatibilityMapping
        case .nfkd: return Self.isASCII(text) ? text : text.decomposedStringWithCompatibilityMapping
        case .lowercase: return text.lowercased()
        case let .strip(left, right):
            var scalars = Substring(text).unicodeScalars
            if left { while let f = scalars.first, UnicodeClasses.isWhitespace(f.value) { scalars.removeFirst() } }
            if right { while let l = scalars.last, UnicodeClasses.isWhitespace(l.value) { scalars.removeLast() } }
            return String(scalars)
        case let .prepend(prefix): return text.isEmpty ? text : prefix + text
        case let .replace(pattern, content): return pattern.replaceAll(in: text, with: content)
        case let .sequence(steps): return steps.reduce(text) { $1.apply($0) }
        }
    }

    private static func isASCII(_ s: String) -> Bool { s.utf8.allSatisfy { $0 < 0x80 } }
}

/// A `Split`/`Replace` pattern: a literal string or a regex.
public enum TextPattern: Sendable {
    case literal(String)
    case regex(TokenizerRegex)

    /// Match ranges (scalar indices) in `scalars`.
    func matches(in scalars: UnsafeBufferPointer<UInt32>) -> [Range<Int>] {
        switch self {
        case let .regex(r): return r.matches(in: scalars)
        case let .literal(s):
            let needle = s.unicodeScalars.map(\.value)
            guard !needle.isEmpty, needle.count <= scalars.count else { return [] }
            var out: [Range<Int>] = []
            var i = 0
            while i + needle.count <= scalars.count {
                if scalars[i] == needle[0], (1..<needle.count).allSatisfy({ scalars[i + $0] == needle[$0] }) {
                    out.append(i..<(i + needle.count))
                    i += needle.count
                } else {
                    i += 1
                }
            }
            return out
        }
    }

    func replaceAll(in text: String, with content: String) -> String {
        // A literal is replaced on UTF-8 bytes: a valid UTF-8 needle can only match at scalar boundaries.
        if case let .literal(needle) = self {
            return String(decoding: TokenDecoder.replaceBytes(Array(text.utf8), Array(needle.utf8), with: Array(content.utf8)), as: UTF8.self)
        }
        let scalars = text.unicodeScalars.map(\.value)
        return scalars.withUnsafeBufferPointer { b in
            var out = String.UnicodeScalarView()
            var last = 0
            for m in matches(in: b) {
                out.append(contentsOf: b[last..<m.lowerBound].map { Unicode.Scalar($0)! })
                out.append(contentsOf: content.unicodeScalars)
                last = m.upperBound
            }
            out.append(contentsOf: b[last...].map { Unicode.Scalar($0)! })
            return String(out)
        }
    }
}
