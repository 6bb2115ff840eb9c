/// Finds stop strings in streamed text, even when split across tokens. Text that might be the start
/// of a stop string is held back until it is known not to be; the stop string itself is not emitted unless
/// the request keeps it (`keepingMatch`).
struct StopStringMatcher {
    let stops: [[Unicode.Scalar]]
    let holdBack: Int
    let keepingMatch: Bool
    private var pending: [Unicode.Scalar] = []
    /// A match must end past this many scalars of `pending` (text fed while matching was off, under `min_tokens`).
    private var searchFrom = 0

    init(_ stops: [String], keepingMatch: Bool = false) {
        self.stops = stops.filter { !$0.isEmpty }.map { Array($0.unicodeScalars) }
        holdBack = max(0, (self.stops.map(\.count).max() ?? 0) - 1)
        self.keepingMatch = keepingMatch
    }

    /// Adds text; returns what is safe to emit, and the stop string that completed, if one did (then the text
    /// before it, and the stop string if kept, is returned and everything after is dropped). With `matching`
    /// off, no stop string ends the text, neither now nor later with what was fed now.
    mutating func feed(_ text: String, matching: Bool = true) -> (String, String?) {
        guard !stops.isEmpty else { return (text, nil) }
        pending += text.unicodeScalars
        if matching, let (start, length) = firstMatch() {
            let out = String(String.UnicodeScalarView(pending[..<(keepingMatch ? start + length : start)]))
            let matched = String(String.UnicodeScalarView(pending[start..<(start + length)]))
            pending.removeAll()
            searchFrom = 0
            return (out, matched)
        }
        if !matching { searchFrom = pending.count }
        let safe = max(0, pending.count - holdBack)
        let out = String(String.UnicodeScalarView(pending[..<safe]))
        pending.removeFirst(safe)
        searchFrom = max(0, searchFrom - safe)
        return (out, nil)
    }

    /// Releases held-back text at the end of generation.
    mutating func drain() -> String {
        defer { pending.removeAll(); searchFrom = 0 }
        return String(String.UnicodeScalarView(pending))
    }

    /// Start and length of the earliest stop-string occurrence in `pending` that ends past `searchFrom`.
    private func firstMatch() -> (Int, Int)? {
        var best: (Int, Int)?
        for s in stops where s.count <= pending.count {
            // Starts from which the match would end past `searchFrom`: none when the held text is all old.
            let first = max(0, searchFrom - s.count + 1), last = pending.count - s.count
            guard first <= last else { continue }
            for start in first...last where pending[start] == s[0] {
                if pending[start..<(start + s.count)].elementsEqual(s) {
                    if best == nil || start < best!.0 { best = (start, s.count) }
                    break
                }
            }
        }
        return best
    }
}
