/// Pattern strings: the characters are decoded as they arrive (raw UTF-8, or the short escapes; `\u` escapes are
/// not written in them) and run through the pattern's DFA, counted in `top.b` when the pattern has length bounds.
/// A byte is refused when no character it can start or finish leads anywhere (within the bounds), so a string let
/// through can always be finished.
extension GrammarMatcher {
    /// The short escapes and the characters they stand for.
    static let shortEscapes: [(UInt8, UInt32)] = [(0x22, 0x22), (0x5C, 0x5C), (0x2F, 0x2F), (0x62, 8), (0x66, 12), (0x6E, 10), (0x72, 13), (0x74, 9)]

    /// Steps `top` (a pattern string's frame, `top.a` still the state before `byte`) past `byte`; false to refuse it.
    /// The caller has checked `byte` against the string's own byte rules and applies the new string state.
    func patternStep(_ dfa: PatternDFA, _ top: inout GrammarConfig.Frame, _ byte: UInt8) -> Bool {
        let prev = top.a, due = prev & 3, esc = (prev >> 5) & 7
        let written = Int(top.b)
        func take(_ scalar: UInt32) -> Bool {
            guard let next = dfa.step(top.d, scalar), dfa.fits(next, written: written + 1) else { return false }
            top.d = next
            top.magnitude = 0
            if dfa.length != nil { top.b += 1 }
            return true
        }
        if esc == 1 {
            guard let e = Self.shortEscapes.first(where: { $0.0 == byte }) else { return false }   // no \u here
            return take(e.1)
        }
        if due > 0 {
            let acc = top.magnitude << 6 | Int64(byte & 0x3F)
            if due == 1 { return take(UInt32(acc)) }
            top.magnitude = acc
            return dfa.allowsAny(top.d, Self.lowest(acc, due - 1), Self.highest(acc, due - 1), written: written)
        }
        switch byte {
        case UInt8(ascii: "\""): return dfa.accepts(top.d, written: written)
        case UInt8(ascii: "\\"): return Self.shortEscapes.contains { e in dfa.step(top.d, e.1).map { dfa.fits($0, written: written + 1) } ?? false }
        case 0..<0x80: return take(UInt32(byte))
        default:
            // A lead byte: its payload bits, and the scalars it can still become.
            let (bits, more): (Int64, Int32) = byte >= 0xF0 ? (Int64(byte & 0x07), 3) : byte >= 0xE0 ? (Int64(byte & 0x0F), 2) : (Int64(byte & 0x1F), 1)
            top.magnitude = bits
            return dfa.allowsAny(top.d, Self.lowest(bits, more), Self.highest(bits, more), written: written)
        }
    }

    /// The least and greatest scalars a partial character `acc` becomes with `more` continuation bytes (each 6 bits).
    /// Right after a lead byte, a sequence of `more` + 1 bytes encodes at least 0x80, 0x800 or 0x10000 (shorter
    /// forms are overlong: the string's byte rules refuse them); later, the bits so far already say as much.
    static func lowest(_ acc: Int64, _ more: Int32) -> UInt32 {
        max(UInt32(acc << (6 * Int64(more))), [0, 0x80, 0x800, 0x10000][Int(more)])
    }

    static func highest(_ acc: Int64, _ more: Int32) -> UInt32 {
        min(UInt32(acc << (6 * Int64(more))) | ((1 << (6 * UInt32(more))) - 1), 0x10FFFF)
    }
}

/// Raw text (`guided_regex`, `guided_choice`): UTF-8 decoded byte by byte, well-formed only (no overlong forms,
/// surrogates or scalars past U+10FFFF: a lead byte narrows the next byte's range as Unicode's table does), each
/// character run through the DFA; a byte is refused when no character it can begin or finish leads anywhere.
extension GrammarMatcher {
    func rawStep(_ dfa: PatternDFA, _ top: inout GrammarConfig.Frame, _ byte: UInt8) -> Bool {
        let written = Int(top.c)
        func take(_ scalar: UInt32) -> Bool {
            guard let next = dfa.step(top.d, scalar), dfa.fits(next, written: written + 1) else { return false }
            (top.d, top.magnitude, top.a, top.b) = (next, 0, 0, 0)
            top.c += 1
            return true
        }
        if top.a > 0 {
            let low: UInt8 = top.b != 0 ? UInt8(top.b & 0xFF) : 0x80, high: UInt8 = top.b != 0 ? UInt8(top.b >> 8) : 0xBF
            guard byte >= low, byte <= high else { return false }
            let acc = top.magnitude << 6 | Int64(byte & 0x3F)
            if top.a == 1 { return take(UInt32(acc)) }
            (top.magnitude, top.a, top.b) = (acc, top.a - 1, 0)
            return dfa.allowsAny(top.d, Self.lowest(acc, top.a), Self.highest(acc, top.a), written: written)
        }
        switch byte {
        case 0..<0x80: return take(UInt32(byte))
        case 0xC2...0xF4:
            let (bits, more): (Int64, Int32) = byte >= 0xF0 ? (Int64(byte & 0x07), 3) : byte >= 0xE0 ? (Int64(byte & 0x0F), 2) : (Int64(byte & 0x1F), 1)
            // The second byte's range (low | high << 8) where Unicode narrows it; 0: 0x80...0xBF.
            let range: Int32 = switch byte { case 0xE0: 0xBFA0; case 0xED: 0x9F80; case 0xF0: 0xBF90; case 0xF4: 0x8F80; default: 0 }
            (top.magnitude, top.a, top.b) = (bits, more, range)
            return dfa.allowsAny(top.d, Self.lowest(bits, more), Self.highest(bits, more), written: written)
        default: return false
        }
    }
}
