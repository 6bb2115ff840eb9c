/// Fast lookups of the Unicode properties tokenizer regexes use: general category (`\p{L}`, `\p{N}`,
/// …) and White_Space (`\s`). Categories of the BMP come from a table built once from the standard
/// library's Unicode data; other planes ask the standard library directly.
enum UnicodeClasses {
    /// General categories as bit positions, so a class like `\p{L}` is one mask test.
    enum Category: UInt8, CaseIterable {
        case Lu, Ll, Lt, Lm, Lo, Mn, Mc, Me, Nd, Nl, No, Pc, Pd, Ps, Pe, Pi, Pf, Po, Sm, Sc, Sk, So
        case Zs, Zl, Zp, Cc, Cf, Cs, Co, Cn

        var mask: UInt32 { 1 << UInt32(rawValue) }
    }

    static let letterMask: UInt32 = mask(.Lu, .Ll, .Lt, .Lm, .Lo)
    static let markMask: UInt32 = mask(.Mn, .Mc, .Me)
    static let numberMask: UInt32 = mask(.Nd, .Nl, .No)
    static let punctuationMask: UInt32 = mask(.Pc, .Pd, .Ps, .Pe, .Pi, .Pf, .Po)
    static let symbolMask: UInt32 = mask(.Sm, .Sc, .Sk, .So)
    static let separatorMask: UInt32 = mask(.Zs, .Zl, .Zp)
    static let otherMask: UInt32 = mask(.Cc, .Cf, .Cs, .Co, .Cn)

    static func mask(_ categories: Category...) -> UInt32 { categories.reduce(0) { $0 | $1.mask } }

    /// Mask for a `\p{…}` name: one letter (`L`, `N`, …) or two (`Lu`, `Nd`, …), or a long alias.
    static func mask(named name: String) -> UInt32? {
        switch name {
        case "L", "Letter": return letterMask
        case "M", "Mark", "Combining_Mark": return markMask
        case "N", "Number": return numberMask
        case "P", "Punctuation", "Punct": return punctuationMask
        case "S", "Symbol": return symbolMask
        case "Z", "Separator": return separatorMask
        case "C", "Other": return otherMask
        case "LC", "L&", "Cased_Letter": return mask(.Lu, .Ll, .Lt)
        default: return Category.allCases.first { "\($0)" == name }?.mask
        }
    }

    private static let bmp: [UInt8] = (0..<0x10000).map { v in
        guard let s = Unicode.Scalar(UInt32(v)) else { return Category.Cs.rawValue }
        return category(of: s).rawValue
    }

    @inline(__always)
    static func categoryMask(_ v: UInt32) -> UInt32 {
        if v < 0x10000 { return 1 << UInt32(bmp[Int(v)]) }
        guard let s = Unicode.Scalar(v) else { return Category.Cn.mask }
        return category(of: s).mask
    }

    @inline(__always) static func isLetter(_ v: UInt32) -> Bool {
        if v < 0x80 { return (v | 0x20) &- 0x61 < 26 }
        return categoryMask(v) & letterMask != 0
    }

    @inline(__always) static func isNumber(_ v: UInt32) -> Bool {
        if v < 0x80 { return v &- 0x30 < 10 }
        return categoryMask(v) & numberMask != 0
    }

    /// `\s`: the White_Space property.
    @inline(__always) static func isWhitespace(_ v: UInt32) -> Bool {
        if v < 0x80 { return v == 0x20 || (v &- 0x09) < 5 }
        switch v {
        case 0x85, 0xA0, 0x1680, 0x2000...0x200A, 0x2028, 0x2029, 0x202F, 0x205F, 0x3000: return true
        default: return false
        }
    }

    /// Rust `regex`'s `\w`: alphabetic, marks, decimal numbers, connector punctuation, join controls.
    static func isWordCharacter(_ v: UInt32) -> Bool {
        if v < 0x80 { return isLetter(v) || isNumber(v) || v == 0x5F }
        guard let s = Unicode.Scalar(v) else { return false }
        if s.properties.isAlphabetic || s.properties.isJoinControl { return true }
        return categoryMask(v) & (markMask | Category.Nd.mask | Category.Pc.mask) != 0
    }

    private static func category(of s: Unicode.Scalar) -> Category {
        switch s.properties.generalCategory {
        case .uppercaseLetter: .Lu
        case .lowercaseLetter: .Ll
        case .titlecaseLetter: .Lt
        case .modifierLetter: .Lm
        case .otherLetter: .Lo
        case .nonspacingMark: .Mn
        case .spacingMark: .Mc
        case .enclosingMark: .Me
        case .decimalNumber: .Nd
        case .letterNumber: .Nl
        case .otherNumber: .No
        case .connectorPunctuation: .Pc
        case .dashPunctuation: .Pd
        case .openPunctuation: .Ps
        case .closePunctuation: .Pe
        case .initialPunctuation: .Pi
        case .finalPunctuation: .Pf
        case .otherPunctuation: .Po
        case .mathSymbol: .Sm
        case .currencySymbol: .Sc
        case .modifierSymbol: .Sk
        case .otherSymbol: .So
        case .spaceSeparator: .Zs
        case .lineSeparator: .Zl
        case .paragraphSeparator: .Zp
        case .control: .Cc
        case .format: .Cf
        case .surrogate: .Cs
        case .privateUse: .Co
        case .unassigned: .Cn
        @unknown default: .Cn
        }
    }

    /// Simple case fold for `(?i)`: lowercase of uppercase when both are single scalars
    /// (so `ſ` and `K` (Kelvin) fold like `s` and `k`).
    static func fold(_ v: UInt32) -> UInt32 {
        if v < 0x80 { return (v &- 0x41 < 26) ? v | 0x20 : v }
        guard let s = Unicode.Scalar(v) else { return v }
        let upper = s.properties.uppercaseMapping.unicodeScalars
        guard upper.count == 1, let u = upper.first else { return v }
        let lower = u.properties.lowercaseMapping.unicodeScalars
        guard lower.count == 1, let l = lower.first else { return v }
        return l.value
    }
}

extension UnicodeClasses {
    /// Simple uppercase mapping (the scalar itself when it has none or a multi-scalar one).
    static func upper(_ v: UInt32) -> UInt32 {
        if v < 0x80 { return (v &- 0x61 < 26) ? v & ~0x20 : v }
        guard let s = Unicode.Scalar(v) else { return v }
        let upper = s.properties.uppercaseMapping.unicodeScalars
        guard upper.count == 1, let u = upper.first else { return v }
        return u.value
    }
}

/// UTF-8 decoding of valid text (bytes that came from a Swift `String`).
enum UTF8Scalars {
    /// The scalar starting at `i` and its length in bytes.
    @inline(__always)
    static func decode(_ b: UnsafeBufferPointer<UInt8>, _ i: Int) -> (value: UInt32, length: Int) {
        let b0 = UInt32(b[i])
        if b0 < 0x80 { return (b0, 1) }
        if b0 < 0xE0 { return ((b0 & 0x1F) << 6 | UInt32(b[i + 1] & 0x3F), 2) }
        if b0 < 0xF0 { return ((b0 & 0x0F) << 12 | UInt32(b[i + 1] & 0x3F) << 6 | UInt32(b[i + 2] & 0x3F), 3) }
        return ((b0 & 0x07) << 18 | UInt32(b[i + 1] & 0x3F) << 12 | UInt32(b[i + 2] & 0x3F) << 6 | UInt32(b[i + 3] & 0x3F), 4)
    }

    /// Appends the UTF-8 encoding of scalar `v`.
    @inline(__always)
    static func append(_ v: UInt32, to out: inout [UInt8]) {
        if v < 0x80 { out.append(UInt8(v)); return }
        if v < 0x800 { out.append(UInt8(0xC0 | v >> 6)); out.append(UInt8(0x80 | v & 0x3F)); return }
        if v < 0x10000 {
            out.append(UInt8(0xE0 | v >> 12)); out.append(UInt8(0x80 | (v >> 6) & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
            return
        }
        out.append(UInt8(0xF0 | v >> 18)); out.append(UInt8(0x80 | (v >> 12) & 0x3F))
        out.append(UInt8(0x80 | (v >> 6) & 0x3F)); out.append(UInt8(0x80 | v & 0x3F))
    }

    /// Length of the UTF-8 sequence that starts with byte `b`.
    @inline(__always)
    static func sequenceLength(_ b: UInt8) -> Int {
        b < 0x80 ? 1 : b < 0xE0 ? 2 : b < 0xF0 ? 3 : 4
    }
}
