/// Python `str` methods on code points (Python strings are sequences of code points, so
/// lengths, indices and splitting must not use Swift's grapheme clusters).
enum PyStr {
    typealias Scalars = [Unicode.Scalar]

    static func scalars(_ s: String) -> Scalars { Array(s.unicodeScalars) }

    static func string<C: Collection>(_ scalars: C) -> String where C.Element == Unicode.Scalar {
        var view = String.UnicodeScalarView()
        view.append(contentsOf: scalars)
        return String(view)
    }

    /// First index of `needle` in `haystack` at or after `start`.
    static func find(_ haystack: Scalars, _ needle: Scalars, from start: Int = 0) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        guard !needle.isEmpty else { return start <= haystack.count ? start : nil }
        var i = max(start, 0)
        let first = needle[0]
        while i + needle.count <= haystack.count {
            if haystack[i] == first, haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i += 1
        }
        return nil
    }

    static func rfind(_ haystack: Scalars, _ needle: Scalars) -> Int? {
        guard needle.count <= haystack.count else { return nil }
        var i = haystack.count - needle.count
        while i >= 0 {
            if haystack[i..<(i + needle.count)].elementsEqual(needle) { return i }
            i -= 1
        }
        return nil
    }

    /// Non-overlapping occurrences (`len + 1` for the empty string, like Python).
    static func count(_ haystack: Scalars, _ needle: Scalars) -> Int {
        if needle.isEmpty { return haystack.count + 1 }
        var n = 0
        var i = 0
        while let found = find(haystack, needle, from: i) {
            n += 1
            i = found + needle.count
        }
        return n
    }

    static func split(_ s: String, separator: String?, maxSplit: Int) throws -> [String] {
        let text = scalars(s)
        var remaining = maxSplit < 0 ? Int.max : maxSplit
        guard let separator else { return splitWhitespace(text, maxSplit: remaining) }
        let sep = scalars(separator)
        guard !sep.isEmpty else { throw JinjaError.runtime("empty separator") }
        var parts: [String] = []
        var i = 0
        while remaining > 0, let found = find(text, sep, from: i) {
            parts.append(string(text[i..<found]))
            i = found + sep.count
            remaining -= 1
        }
        parts.append(string(text[i...]))
        return parts
    }

    private static func splitWhitespace(_ text: Scalars, maxSplit: Int) -> [String] {
        var parts: [String] = []
        var remaining = maxSplit
        var i = 0
        while remaining > 0 {
            while i < text.count, PythonString.isSpace(text[i]) { i += 1 }
            if i == text.count { break }
            let start = i
            while i < text.count, !PythonString.isSpace(text[i]) { i += 1 }
            parts.append(string(text[start..<i]))
            remaining -= 1
        }
        while i < text.count, PythonString.isSpace(text[i]) { i += 1 }
        if i < text.count { parts.append(string(text[i...])) }
        return parts
    }

    /// `str.rsplit`: like `split`, but the `maxSplit` splits are taken from the right.
    static func rsplit(_ s: String, separator: String?, maxSplit: Int) throws -> [String] {
        if maxSplit < 0 { return try split(s, separator: separator, maxSplit: -1) }
        let reversedParts = try split(string(scalars(s).reversed()),
                                      separator: separator.map { string(scalars($0).reversed()) },
                                      maxSplit: maxSplit)
        return reversedParts.reversed().map { string(scalars($0).reversed()) }
    }

    static func strip(_ s: String, characters: String?, leading: Bool = true, trailing: Bool = true) -> String {
        let text = s.unicodeScalars
        let set = characters.map { Set($0.unicodeScalars) }
        let strip = { (c: Unicode.Scalar) in set.map { $0.contains(c) } ?? PythonString.isSpace(c) }
        var start = text.startIndex
        var end = text.endIndex
        if leading { while start < end, strip(text[start]) { start = text.index(after: start) } }
        if trailing {
            while end > start, strip(text[text.index(before: end)]) { end = text.index(before: end) }
        }
        if start == text.startIndex, end == text.endIndex { return s }
        return String(text[start..<end])
    }

    static func replace(_ s: String, _ old: String, _ new: String, count: Int, limit: Int = Int.max) throws -> String {
        let text = scalars(s)
        let target = scalars(old)
        let occurrences = min(count < 0 ? Int.max : count, PyStr.count(text, target))
        let growth = occurrences.multipliedReportingOverflow(by: new.unicodeScalars.count)
        guard !growth.overflow, text.count + growth.partialValue <= limit else {
            throw JinjaError.runtime("replace result is too large")
        }
        var remaining = count < 0 ? Int.max : count
        var out = String.UnicodeScalarView()
        if target.isEmpty {
            for c in text {
                if remaining > 0 { out.append(contentsOf: new.unicodeScalars); remaining -= 1 }
                out.append(c)
            }
            if remaining > 0 { out.append(contentsOf: new.unicodeScalars) }
            return String(out)
        }
        var i = 0
        while remaining > 0, let found = find(text, target, from: i) {
            out.append(contentsOf: text[i..<found])
            out.append(contentsOf: new.unicodeScalars)
            i = found + target.count
            remaining -= 1
        }
        out.append(contentsOf: text[i...])
        return String(out)
    }

    static func splitLines(_ s: String, keepEnds: Bool = false) -> [String] {
        let text = scalars(s)
        var lines: [String] = []
        var start = 0
        var i = 0
        while i < text.count {
            guard PythonString.isLineBreak(text[i]) else { i += 1; continue }
            var end = i + 1
            if text[i] == "\r", end < text.count, text[end] == "\n" { end += 1 }
            lines.append(string(text[start..<(keepEnds ? end : i)]))
            start = end
            i = end
        }
        if start < text.count { lines.append(string(text[start...])) }
        return lines
    }

    // MARK: - Case

    static func title(_ s: String) -> String {
        var out = ""
        var previousCased = false
        for c in s.unicodeScalars {
            out += previousCased ? c.properties.lowercaseMapping : c.properties.titlecaseMapping
            previousCased = c.properties.isCased
        }
        return out
    }

    static func capitalize(_ s: String) -> String {
        guard let first = s.unicodeScalars.first else { return s }
        return first.properties.titlecaseMapping + string(s.unicodeScalars.dropFirst()).lowercased()
    }

    static func swapCase(_ s: String) -> String {
        var out = ""
        for c in s.unicodeScalars {
            if c.properties.isUppercase {
                out += c.properties.lowercaseMapping
            } else if c.properties.isLowercase {
                out += c.properties.uppercaseMapping
            } else {
                out.unicodeScalars.append(c)
            }
        }
        return out
    }

    /// Python `str.islower` / `str.isupper`: at least one cased character, none of the other case.
    static func isCase(_ s: String, lower: Bool) -> Bool {
        var sawCased = false
        for c in s.unicodeScalars {
            if lower ? (c.properties.isUppercase || (c.properties.generalCategory == .titlecaseLetter)) : (c.properties.isLowercase || (c.properties.generalCategory == .titlecaseLetter)) {
                return false
            }
            if c.properties.isCased { sawCased = true }
        }
        return sawCased
    }

    static func allScalars(_ s: String, _ predicate: (Unicode.Scalar) -> Bool) -> Bool {
        !s.unicodeScalars.isEmpty && s.unicodeScalars.allSatisfy(predicate)
    }

    static func isDigit(_ c: Unicode.Scalar) -> Bool {
        c.properties.numericType == .decimal || c.properties.numericType == .digit
    }

    static func isAlpha(_ c: Unicode.Scalar) -> Bool {
        switch c.properties.generalCategory {
        case .uppercaseLetter, .lowercaseLetter, .titlecaseLetter, .modifierLetter, .otherLetter: return true
        default: return false
        }
    }

    // MARK: - Padding

    /// Widths beyond this are refused, so `'x'.center(10**12)` fails instead of allocating.
    static let maxWidth = 1 << 20

    static func checkedWidth(_ width: Int) throws -> Int {
        guard width <= maxWidth else { throw JinjaError.runtime("width \(width) is too large (limit \(maxWidth))") }
        return width
    }

    /// `str.center`, with CPython's placement of the odd padding character.
    static func center(_ s: String, width: Int, fill: String = " ") -> String {
        let length = s.unicodeScalars.count
        guard width > length else { return s }
        let margin = width - length
        let left = margin / 2 + (margin & width & 1)
        return String(repeating: fill, count: left) + s + String(repeating: fill, count: margin - left)
    }

    static func pad(_ s: String, width: Int, fill: String = " ", leftAlign: Bool) -> String {
        let length = s.unicodeScalars.count
        guard width > length else { return s }
        let padding = String(repeating: fill, count: width - length)
        return leftAlign ? s + padding : padding + s
    }
}
