/// Turns a growing list of token ids into text deltas for streaming: text is emitted only at valid
/// UTF-8 boundaries, so a multi-byte character split across tokens (or across `<0xE2>` byte-fallback
/// tokens) is never sent in halves, and the deltas concatenate to exactly the full decode (once
/// `flush()` is called at the end).
public struct IncrementalDetokenizer {
    private let decodeBytes: ([Int], _ first: Bool) -> [UInt8]
    private var pending: [UInt8] = []
    private var started = false

    /// Decodes each token with `decodeBytes([id])`; the deltas concatenate to `decodeBytes(all ids)`.
    public init(decodeBytes: @escaping ([Int]) -> [UInt8]) {
        self.decodeBytes = { ids, _ in decodeBytes(ids) }
    }

    /// Deltas concatenate to `tokenizer.decode(all ids)`: the first token is decoded as the start of the
    /// text (a SentencePiece `▁` there is dropped), later ones as continuations.
    public init(tokenizer: some TextTokenizer) {
        self.decodeBytes = { ids, first in tokenizer.decodeBytes(ids, continuing: !first) }
    }

    /// Adds one token and returns the text that became complete ("" while inside a character).
    public mutating func add(_ id: Int) -> String {
        pending.append(contentsOf: decodeBytes([id], !started))
        started = true
        let cut = Self.completePrefixLength(pending)
        guard cut > 0 else { return "" }
        let text = String(decoding: pending[..<cut], as: UTF8.self)
        pending.removeFirst(cut)
        return text
    }

    /// Whatever is left (an incomplete sequence decodes to U+FFFD, like a full decode would).
    public mutating func flush() -> String {
        defer { pending.removeAll() }
        return pending.isEmpty ? "" : String(decoding: pending, as: UTF8.self)
    }

    /// Length of the longest prefix that does not end inside an incomplete UTF-8 sequence.
    static func completePrefixLength(_ b: [UInt8]) -> Int {
        var i = b.count - 1
        var back = 0
        // walk back over at most 3 continuation bytes to the lead byte
        while i >= 0, back < 4, b[i] & 0xC0 == 0x80 { i -= 1; back += 1 }
        guard i >= 0 else { return b.count }
        let lead = b[i]
        let need: Int
        if lead < 0x80 { need = 1 } else if lead & 0xE0 == 0xC0 { need = 2 } else if lead & 0xF0 == 0xE0 { need = 3 } else if lead & 0xF8 == 0xF0 { need = 4 } else { return b.count }
        let have = b.count - i
        return have < need ? i : b.count
    }
}
