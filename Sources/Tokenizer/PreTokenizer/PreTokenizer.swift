/// Splits normalized text into pieces before BPE (Hugging Face `pre_tokenizers`), on UTF-8 bytes.
///
/// NOTE: `ByteLevel` maps every byte to a printable scalar (`ByteLevel.encoder`). When it is the last
/// step — as in every shipped byte-level tokenizer but Falcon's — the mapping is left to the BPE model,
/// which looks raw bytes up directly (`mapsBytesInModel`); otherwise the step really rewrites the text.
public struct PreTokenizer: Sendable {
    /// What a split does with the matched delimiters (HF `SplitDelimiterBehavior`).
    public enum SplitBehavior: String, Sendable {
        case removed, isolated, mergedWithPrevious, mergedWithNext, contiguous
    }

    /// When `Metaspace` puts its replacement in front of a piece.
    public enum PrependScheme: String, Sendable {
        /// Only at the start of the input (not after an added token).
        case first
        case always, never
    }

    public enum Step: Sendable {
        case split(TextPattern, behavior: SplitBehavior, invert: Bool)
        /// GPT-2 byte-level: optional leading space, the GPT-2 regex, byte → scalar mapping.
        case byteLevel(addPrefixSpace: Bool, useRegex: Bool)
        /// `\p{N}` characters: each alone (`individual`) or in runs.
        case digits(individual: Bool)
        case punctuation(SplitBehavior)
        /// Spaces become `replacement` (`▁`), which is prepended per `prependScheme`; `split` cuts
        /// before each replacement.
        case metaspace(replacement: Unicode.Scalar, prependScheme: PrependScheme, split: Bool)
        /// Split on whitespace, dropping it.
        case whitespaceSplit
    }

    public let steps: [Step]
    /// The last step is `ByteLevel`; the model maps raw bytes itself.
    public let mapsBytesInModel: Bool
    private let scanners: [PatternScanner?]

    public init(steps: [Step]) {
        self.steps = steps
        if case .byteLevel? = steps.last { mapsBytesInModel = true } else { mapsBytesInModel = false }
        scanners = steps.map { step in
            switch step {
            case let .split(.regex(r), .isolated, false): return PatternScanner(pattern: r.pattern)
            case .byteLevel(_, true): return .gpt2
            default: return nil
            }
        }
    }

    /// Pieces of `text`: byte ranges into `bytes` (which may differ from `text` when a step rewrites it).
    public struct Pieces: Sendable {
        public var bytes: [UInt8]
        public var ranges: [Range<Int>]

        /// The pieces as strings (tests and debugging).
        public var strings: [String] { ranges.map { String(decoding: bytes[$0], as: UTF8.self) } }
    }

    /// Splits `text`; `atStart` says whether it begins the input (for `PrependScheme.first`).
    public func split(_ text: String, atStart: Bool = true) -> Pieces {
        var p = Pieces(bytes: Array(text.utf8), ranges: [])
        if !p.bytes.isEmpty { p.ranges = [0..<p.bytes.count] }
        for (k, step) in steps.enumerated() {
            apply(step, scanner: scanners[k], isLast: k == steps.count - 1, to: &p, atStart: atStart)
        }
        return p
    }

    private func apply(_ step: Step, scanner: PatternScanner?, isLast: Bool, to p: inout Pieces, atStart: Bool) {
        switch step {
        case let .split(pattern, behavior, invert):
            if let scanner { p.ranges = Self.scan(p, scanner) } else {
                p.ranges = Self.splitMatches(p, behavior, invert: invert) { pattern.matches(in: $0) }
            }
        case let .byteLevel(addPrefixSpace, useRegex):
            if addPrefixSpace { Self.prefixSpace(&p) }
            if useRegex { p.ranges = Self.scan(p, scanner ?? .gpt2) }
            if !isLast { Self.mapBytes(&p) }
        case let .digits(individual):
            p.ranges = Self.splitPredicate(p, individual ? .isolated : .contiguous, UnicodeClasses.isNumber)
        case let .punctuation(behavior):
            p.ranges = Self.splitPredicate(p, behavior) { c in
                (c < 0x80 && c > 0x20 && !UnicodeClasses.isLetter(c) && !UnicodeClasses.isNumber(c) && c != 0x7F)
                    || UnicodeClasses.categoryMask(c) & UnicodeClasses.punctuationMask != 0
            }
        case let .metaspace(replacement, scheme, split):
            Self.metaspace(&p, replacement.value, scheme, atStart: atStart)
            if split { p.ranges = Self.splitPredicate(p, .mergedWithNext) { $0 == replacement.value } }
        case .whitespaceSplit:
            p.ranges = Self.splitPredicate(p, .removed, UnicodeClasses.isWhitespace)
        }
    }

    private static func scan(_ p: Pieces, _ scanner: PatternScanner) -> [Range<Int>] {
        var out: [Range<Int>] = []
        out.reserveCapacity(p.ranges.count * 4)
        p.bytes.withUnsafeBufferPointer { b in
            for r in p.ranges { scanner.split(b, r, into: &out) }
        }
        return out
    }

    /// Splits each piece at the scalar ranges `find` reports (with whether each is a match).
    private static func splitMatches(_ p: Pieces, _ behavior: SplitBehavior, invert: Bool,
                                     _ find: (UnsafeBufferPointer<UInt32>) -> [Range<Int>]) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var scalars: [UInt32] = []
        var offsets: [Int] = []  // byte offset of each scalar, plus the end
        p.bytes.withUnsafeBufferPointer { b in
            for r in p.ranges {
                scalars.removeAll(keepingCapacity: true)
                offsets.removeAll(keepingCapacity: true)
                var i = r.lowerBound
                while i < r.upperBound {
                    let (c, n) = UTF8Scalars.decode(b, i)
                    scalars.append(c); offsets.append(i); i += n
                }
                offsets.append(r.upperBound)
                let found = scalars.withUnsafeBufferPointer(find)
                let tiles = tile(found, count: scalars.count, invert: invert)
                for t in applyBehavior(tiles, behavior) where !t.isEmpty { out.append(offsets[t.lowerBound]..<offsets[t.upperBound]) }
            }
        }
        return out
    }

    /// Matches plus the gaps between them, in order, each with whether it is a match (HF `find_matches`;
    /// `invert` flips the flags, HF's `Invert` pattern).
    private static func tile(_ found: [Range<Int>], count: Int, invert: Bool) -> [(Range<Int>, Bool)] {
        guard count > 0 else { return [] }
        var out: [(Range<Int>, Bool)] = []
        var prev = 0
        let isMatch = !invert
        for m in found {
            if prev < m.lowerBound { out.append((prev..<m.lowerBound, !isMatch)) }
            out.append((m, isMatch))
            prev = m.upperBound
        }
        if prev < count { out.append((prev..<count, !isMatch)) }
        return out
    }

    private static func splitPredicate(_ p: Pieces, _ behavior: SplitBehavior, _ pred: (UInt32) -> Bool) -> [Range<Int>] {
        var out: [Range<Int>] = []
        var tiles: [(Range<Int>, Bool)] = []
        p.bytes.withUnsafeBufferPointer { b in
            for r in p.ranges {
                tiles.removeAll(keepingCapacity: true)
                var i = r.lowerBound, gap = r.lowerBound
                while i < r.upperBound {
                    let (c, n) = UTF8Scalars.decode(b, i)
                    if pred(c) {
                        if gap < i { tiles.append((gap..<i, false)) }
                        tiles.append((i..<(i + n), true))
                        gap = i + n
                    }
                    i += n
                }
                if gap < r.upperBound { tiles.append((gap..<r.upperBound, false)) }
                out.append(contentsOf: applyBehavior(tiles, behavior).filter { !$0.isEmpty })
            }
        }
        return out
    }

    /// HF `NormalizedString::split` given tiles `(range, isMatch)`.
    static func applyBehavior(_ tiles: [(Range<Int>, Bool)], _ behavior: SplitBehavior) -> [Range<Int>] {
        switch behavior {
        case .isolated: return tiles.map(\.0)
        case .removed: return tiles.filter { !$0.1 }.map(\.0)
        case .contiguous, .mergedWithPrevious:
            var out: [Range<Int>] = []
            var previous = false
            for (r, isMatch) in tiles {
                let merge = behavior == .contiguous ? isMatch == previous : (isMatch && !previous)
                if merge, let last = out.last { out[out.count - 1] = last.lowerBound..<r.upperBound } else { out.append(r) }
                previous = isMatch
            }
            return out
        case .mergedWithNext:
            var out: [Range<Int>] = []
            var previous = false
            for (r, isMatch) in tiles.reversed() {
                if isMatch && !previous, let last = out.last { out[out.count - 1] = r.lowerBound..<last.upperBound } else { out.append(r) }
                previous = isMatch
            }
            return out.reversed()
        }
    }

    /// Rewrites each piece with `body`, which appends the new bytes of the piece.
    private static func rewrite(_ p: inout Pieces, _ body: (Int, ArraySlice<UInt8>, inout [UInt8]) -> Void) {
        var bytes: [UInt8] = []
        bytes.reserveCapacity(p.bytes.count + p.ranges.count * 3)
        var ranges: [Range<Int>] = []
        ranges.reserveCapacity(p.ranges.count)
        for (k, r) in p.ranges.enumerated() {
            let start = bytes.count
            body(k, p.bytes[r], &bytes)
            if bytes.count > start { ranges.append(start..<bytes.count) }
        }
        p = Pieces(bytes: bytes, ranges: ranges)
    }

    private static func prefixSpace(_ p: inout Pieces) {
        guard p.ranges.contains(where: { p.bytes[$0.lowerBound] != 0x20 }) else { return }
        rewrite(&p) { _, piece, out in
            if piece.first != 0x20 { out.append(0x20) }
            out.append(contentsOf: piece)
        }
    }

    private static func mapBytes(_ p: inout Pieces) {
        rewrite(&p) { _, piece, out in
            for b in piece { UTF8Scalars.append(ByteLevel.encoder[Int(b)].value, to: &out) }
        }
    }

    private static func metaspace(_ p: inout Pieces, _ replacement: UInt32, _ scheme: PrependScheme, atStart: Bool) {
        var rep: [UInt8] = []
        UTF8Scalars.append(replacement, to: &rep)
        rewrite(&p) { k, piece, out in
            let startsWithReplacement = piece.starts(with: rep) || piece.first == 0x20
            let prepend = scheme == .always || (scheme == .first && k == 0 && atStart)
            if prepend, !startsWithReplacement { out.append(contentsOf: rep) }
            for b in piece { if b == 0x20 { out.append(contentsOf: rep) } else { out.append(b) } }
        }
    }
}
