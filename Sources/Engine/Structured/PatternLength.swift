/// Length bounds (`minLength`, `maxLength`, in characters) on a pattern string, kept exactly while it is written:
/// a character is refused when no ending of the pattern from where it leads has a length in bounds.
public struct PatternLength: Sendable, Hashable {
    public let min: Int
    public let max: Int?
    /// With a maximum: per state, `words` 64-bit words whose bit L says some accepted ending is exactly L
    /// characters away (L ≤ max).
    let reach: [UInt64]
    let words: Int
    /// Without one: per state, the most characters to an accepted ending (Int.max: no most).
    let longest: [Int]

    /// Work (ending lengths × distinct transitions) and table size allowed for a maximum: about 0.02 s and 2 MB.
    static let maxWork = 10_000_000
    static let maxWords = 250_000

    /// 64-bit words of its table (what it costs to hold).
    public var tableWords: Int { reach.count + longest.count }

    /// Whether some ending from `state` makes a string of `written` + its length characters, within the bounds.
    func fits(_ state: Int32, written n: Int) -> Bool {
        let lo = Swift.max(0, min - n)
        guard let max else { return longest[Int(state)] >= lo }
        let hi = max - n
        guard hi >= lo else { return false }
        let row = Int(state) * words
        var w = lo / 64
        while w <= hi / 64 {
            var bits = reach[row + w]
            if w == lo / 64 { bits &= ~0 << UInt64(lo % 64) }
            if w == hi / 64, hi % 64 < 63 { bits &= (1 << UInt64(hi % 64 + 1)) - 1 }
            if bits != 0 { return true }
            w += 1
        }
        return false
    }
}

extension PatternDFA {
    /// Why length bounds cannot be used with a pattern.
    public enum LengthFailure: Error, Equatable {
        /// No matching string is this long (`minLength` alone rules out every one).
        case tooLong
        /// No matching string has a length within both bounds.
        case noLengthFits
        /// The table for this maximum would be too large.
        case tableTooLarge
    }

    /// This pattern with length bounds, from a cache of recent ones (the same bounded property repeats within a
    /// schema and across requests). A maximum no matching string reaches is dropped: it costs no table.
    public func limited(minLength: Int, maxLength: Int?) throws(LengthFailure) -> PatternDFA {
        let key = LimitedPatternCache.Key(dfa: self, min: minLength, max: maxLength)
        if let cached = LimitedPatternCache.shared.get(key) { return cached }
        let limited = try buildLimited(minLength: minLength, maxLength: maxLength)
        LimitedPatternCache.shared.put(key, limited)
        return limited
    }

    private func buildLimited(minLength: Int, maxLength given: Int?) throws(LengthFailure) -> PatternDFA {
        let n = accepting.count
        // The states each one leads to (classes that lead to the same state count once).
        let successors: [[Int32]] = (0..<n).map { s in
            var seen = Set<Int32>()
            return (0..<classCount).compactMap { c in let t = next[s * classCount + c]; return t >= 0 && seen.insert(t).inserted ? t : nil }
        }
        let longest = Self.longestEndings(successors, accepting: accepting)
        guard longest[Int(start)] >= minLength else { throw .tooLong }
        let maxLength = given.flatMap { $0 >= longest[Int(start)] ? nil : $0 }
        if maxLength == nil, minLength == 0 { return self }   // bounds every matching string keeps
        let length: PatternLength
        if let maxLength {
            let words = maxLength / 64 + 1
            let edges = successors.reduce(0) { $0 + $1.count }
            guard n * words <= PatternLength.maxWords, maxLength * edges <= PatternLength.maxWork else { throw .tableTooLarge }
            var reach = [UInt64](repeating: 0, count: n * words)
            for s in 0..<n where accepting[s] { reach[s * words] = 1 }
            // Endings of length L from s: an ending of length L - 1 from a state s leads to.
            if maxLength > 0 {
                for l in 1...maxLength {
                    let (w, bit) = (l / 64, UInt64(1) << UInt64(l % 64))
                    let (pw, pbit) = ((l - 1) / 64, UInt64(1) << UInt64((l - 1) % 64))
                    for s in 0..<n where successors[s].contains(where: { reach[Int($0) * words + pw] & pbit != 0 }) { reach[s * words + w] |= bit }
                }
            }
            length = PatternLength(min: minLength, max: maxLength, reach: reach, words: words, longest: [])
        } else {
            length = PatternLength(min: minLength, max: nil, reach: [], words: 0, longest: longest)
        }
        guard length.fits(start, written: 0) else { throw .noLengthFits }
        var limited = self
        limited.length = length
        return limited
    }

    /// Per state, the most characters to an accepted ending: Int.max when a cycle can be reached (every state can
    /// reach an accepting one: dead ones are pruned). A depth-first walk without recursion.
    static func longestEndings(_ successors: [[Int32]], accepting: [Bool]) -> [Int] {
        let n = accepting.count
        var longest = [Int](repeating: Int.min, count: n)
        var state = [UInt8](repeating: 0, count: n)   // 0 unseen, 1 on the path, 2 done
        for root in 0..<n where state[root] == 0 {
            var stack: [(node: Int, next: Int)] = [(root, 0)]
            state[root] = 1
            while let (s, i) = stack.last {
                if i < successors[s].count {
                    stack[stack.count - 1].next += 1
                    let t = Int(successors[s][i])
                    switch state[t] {
                    case 0: state[t] = 1; stack.append((t, 0))
                    case 1: longest[s] = Int.max   // a cycle
                    default: longest[s] = Swift.max(longest[s], longest[t] == Int.max ? Int.max : longest[t] + 1)
                    }
                    continue
                }
                stack.removeLast()
                if accepting[s] { longest[s] = Swift.max(longest[s], 0) }
                state[s] = 2
                if let parent = stack.last?.node {
                    longest[parent] = Swift.max(longest[parent], longest[s] == Int.max ? Int.max : longest[s] + 1)
                }
            }
        }
        return longest
    }
}

/// Patterns with length bounds, by pattern and bounds. Sized in 32-bit words: the key's table (shared with the
/// pattern's cache entry, but counted, so bounds every matching string keeps are not free) and the length table.
enum LimitedPatternCache {
    struct Key: Hashable, Sendable {
        let dfa: PatternDFA
        let min: Int
        let max: Int?
    }

    static let shared = SizedCache<Key, PatternDFA>(capacity: 8_000_000) { key, dfa in
        key.dfa.next.count + 2 * (dfa.length?.tableWords ?? 0) + 16
    }
}
