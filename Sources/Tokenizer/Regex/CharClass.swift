/// A regex character class (`[^\s\p{L}]`, `\p{N}`, `.` …) over Unicode scalars. Membership of ASCII
/// scalars is precomputed into a 128-bit map; others are tested item by item.
struct CharClass: Sendable {
    enum Item: Sendable {
        case range(UInt32, UInt32)
        /// General-category mask (`\p{L}` …); `negated` for `\P{L}`.
        case categories(UInt32, negated: Bool)
        case whitespace(negated: Bool)
        case word(negated: Bool)
        case nested(CharClass)
    }

    var items: [Item] = []
    var negated = false
    var caseInsensitive = false
    private var asciiLow: UInt64 = 0
    private var asciiHigh: UInt64 = 0

    init(items: [Item] = [], negated: Bool = false, caseInsensitive: Bool = false) {
        self.items = items
        self.negated = negated
        self.caseInsensitive = caseInsensitive
        finalize()
    }

    /// Recomputes the ASCII map; call after changing `items` or flags.
    mutating func finalize() {
        asciiLow = 0
        asciiHigh = 0
        for v in UInt32(0)..<128 where slowContains(v) {
            if v < 64 { asciiLow |= 1 << UInt64(v) } else { asciiHigh |= 1 << UInt64(v - 64) }
        }
    }

    @inline(__always)
    func contains(_ v: UInt32) -> Bool {
        if v < 64 { return asciiLow & (1 << UInt64(v)) != 0 }
        if v < 128 { return asciiHigh & (1 << UInt64(v - 64)) != 0 }
        return slowContains(v)
    }

    private func slowContains(_ v: UInt32) -> Bool {
        var hit = itemsContain(v)
        if !hit, caseInsensitive {
            let lower = UnicodeClasses.fold(v), upper = UnicodeClasses.upper(v)
            hit = (lower != v && itemsContain(lower)) || (upper != v && itemsContain(upper))
        }
        return hit != negated
    }

    private func itemsContain(_ v: UInt32) -> Bool {
        for item in items {
            switch item {
            case let .range(lo, hi): if v >= lo && v <= hi { return true }
            case let .categories(mask, negated): if (UnicodeClasses.categoryMask(v) & mask != 0) != negated { return true }
            case let .whitespace(negated): if UnicodeClasses.isWhitespace(v) != negated { return true }
            case let .word(negated): if UnicodeClasses.isWordCharacter(v) != negated { return true }
            case let .nested(c): if c.contains(v) { return true }
            }
        }
        return false
    }
}
