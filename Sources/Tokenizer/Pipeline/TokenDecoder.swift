/// Turns token strings back into text (Hugging Face `decoders`), as UTF-8 bytes.
public indirect enum TokenDecoder: Sendable {
    /// GPT-2 byte-level alphabet back to bytes.
    case byteLevel
    /// `▁` back to spaces; the first token's are dropped unless `prependScheme` is `never`.
    case metaspace(replacement: Unicode.Scalar, prependScheme: PreTokenizer.PrependScheme)
    /// `<0xAB>` tokens back to bytes.
    case byteFallback
    /// Joins all tokens into one.
    case fuse
    /// Removes up to `start` leading and `stop` trailing `content` characters from each token.
    case strip(content: Unicode.Scalar, start: Int, stop: Int)
    case replace(TextPattern, content: String)
    case sequence([TokenDecoder])

    /// How a decode runs.
    struct Mode {
        /// The tokens follow earlier ones (streaming): no start-of-text handling.
        var continuing = false
        /// Byte-fallback runs that are not valid UTF-8 become one U+FFFD per byte, as Hugging Face's
        /// string decode does; otherwise raw bytes pass through (for `decodeBytes`).
        var exact = false
        /// A `fuse` (or byte-level) step has joined the tokens into one.
        var fused = false
    }

    /// HF `decode_chain`: tokens in, tokens out.
    func decodeChain(_ tokens: [[UInt8]], _ mode: inout Mode) -> [[UInt8]] {
        switch self {
        case .byteLevel:
            mode.fused = true
            var out: [UInt8] = []
            for t in tokens { ByteLevel.decodeToken(t, into: &out) }
            return [out]
        case let .metaspace(replacement, scheme):
            let rep = Array(String(replacement).utf8)
            return tokens.enumerated().map { i, t in
                let drop = i == 0 && scheme != .never && !mode.continuing
                return Self.replaceBytes(t, rep, with: drop ? [] : [0x20])
            }
        case .byteFallback:
            return Self.byteFallback(tokens, exact: mode.exact)
        case .fuse:
            mode.fused = true
            return [Array(tokens.joined())]
        case let .strip(content, start, stop):
            let c = Array(String(content).utf8)
            let keepStart = mode.continuing && mode.fused
            return tokens.map { Self.strip($0, c, start: keepStart ? 0 : start, stop: keepStart ? 0 : stop) }
        case let .replace(pattern, content):
            if case let .literal(s) = pattern { return tokens.map { Self.replaceBytes($0, Array(s.utf8), with: Array(content.utf8)) } }
            return tokens.map { Array(pattern.replaceAll(in: String(decoding: $0, as: UTF8.self), with: content).utf8) }
        case let .sequence(steps):
            return steps.reduce(tokens) { $1.decodeChain($0, &mode) }
        }
    }

    static func replaceBytes(_ t: [UInt8], _ pattern: [UInt8], with content: [UInt8]) -> [UInt8] {
        guard !pattern.isEmpty, t.count >= pattern.count else { return t }
        var out: [UInt8] = []
        out.reserveCapacity(t.count)
        var i = 0
        while i < t.count {
            if t[i] == pattern[0], i + pattern.count <= t.count, t[i..<(i + pattern.count)].elementsEqual(pattern) {
                out.append(contentsOf: content)
                i += pattern.count
            } else {
                out.append(t[i])
                i += 1
            }
        }
        return out
    }

    private static func strip(_ t: [UInt8], _ c: [UInt8], start: Int, stop: Int) -> [UInt8] {
        var lo = 0, hi = t.count
        for _ in 0..<start where hi - lo >= c.count && t[lo..<(lo + c.count)].elementsEqual(c) { lo += c.count }
        for _ in 0..<stop where hi - lo >= c.count && t[(hi - c.count)..<hi].elementsEqual(c) { hi -= c.count }
        return Array(t[lo..<hi])
    }

    /// The byte of a `<0xAB>` token.
    static func fallbackByte(_ t: [UInt8]) -> UInt8? {
        guard t.count == 6, t[0] == 0x3C, t[1] == 0x30, t[2] == 0x78, t[5] == 0x3E else { return nil }
        guard let hi = hexValue(t[3]), let lo = hexValue(t[4]) else { return nil }
        return hi << 4 | lo
    }

    private static func hexValue(_ c: UInt8) -> UInt8? {
        switch c {
        case 0x30...0x39: return c - 0x30
        case 0x41...0x46: return c - 0x41 + 10
        case 0x61...0x66: return c - 0x61 + 10
        default: return nil
        }
    }

    private static func byteFallback(_ tokens: [[UInt8]], exact: Bool) -> [[UInt8]] {
        var out: [[UInt8]] = []
        var pending: [UInt8] = []
        func flush() {
            guard !pending.isEmpty else { return }
            if !exact || String(validating: pending, as: UTF8.self) != nil {
                out.append(pending)
            } else {
                for _ in pending { out.append(Array("\u{FFFD}".utf8)) }
            }
            pending.removeAll()
        }
        for t in tokens {
            if let b = fallbackByte(t) { pending.append(b); continue }
            flush()
            out.append(t)
        }
        flush()
        return out
    }
}
