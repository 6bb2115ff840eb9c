/// Text the output may write where its value would start, instead of the value: a think block the model opens
/// itself (Qwen3's `<think>`; the grammar then waits for the block's end), or a tool call in the model's own
/// format (`<tool_call>`; the grammar then ends and the calls are free text, read by the API).
public struct GrammarMarker: Sendable, Hashable {
    public enum Then: Sendable, Hashable {
        /// The grammar no longer applies: the rest of the output is free.
        case free
        /// The grammar waits until these bytes are written, then the value (or another marker) may start.
        case waitFor([UInt8])
    }

    public var text: [UInt8]
    public var then: Then

    public init(_ text: String, then: Then) {
        self.text = Array(text.utf8)
        self.then = then
    }
}

/// The tokens that can write a marker, by how much of it is already written: at offset k, the tokens whose bytes
/// continue `text[k...]` (a prefix of it, or it and more). At offset 0 a tokenizer that holds the whole marker as
/// one token (an added or special token, as real ones do) offers only those tokens: the marker's pieces would
/// let a model stumble into it one character at a time.
struct MarkerTokens: Sendable {
    /// Per offset into the marker: token id → its bytes.
    let candidates: [[Int: [UInt8]]]

    /// `tokenBytes(id)`: a token's whole text, special tokens' included.
    init(marker: [UInt8], vocabularySize: Int, tokenBytes: (Int) -> [UInt8]) {
        var byOffset = [[Int: [UInt8]]](repeating: [:], count: marker.count)
        var whole: [Int: [UInt8]] = [:]
        for id in 0..<vocabularySize {
            let b = tokenBytes(id)
            guard !b.isEmpty else { continue }
            if b.starts(with: marker) { whole[id] = b }
            for k in marker.indices where marker[k] == b[0] {
                let rest = marker[k...]
                if rest.starts(with: b) || b.starts(with: rest) { byOffset[k][id] = b }
            }
        }
        if !whole.isEmpty { byOffset[0] = whole }
        candidates = byOffset
    }
}

/// Where a request with a grammar stands when the grammar does not simply apply from the first token.
enum GatePhase: Equatable {
    /// Free text until `close` is written (a think block); `seen` holds the last bytes, to find it across tokens.
    /// The request may not end meanwhile: its value must still come.
    case waiting(close: [UInt8], seen: [UInt8])
    /// The value's start (nothing but whitespace written): a marker may come instead of it.
    case start
    /// Writing a marker: these bytes of it are out (markers may share them, as `<think>` and `<tool_call>` do).
    case marker(written: [UInt8])
    /// The grammar applies.
    case value
    /// A marker ended the grammar: the rest is free text.
    case free

    static func isWhitespace(_ bytes: [UInt8]) -> Bool { bytes.allSatisfy(JSONScalars.isWhitespace) }
}

extension Generation {
    /// The next token under the request's grammar and where the output stands in it; nil when no token can
    /// continue. Without a grammar, any token.
    mutating func pick(_ logits: [Float]) -> Int? {
        guard structured != nil else { return sampler.sample(logits, history: request.promptTokenIDs, generated: generated) }
        switch gate {
        case .value:
            return sampler.sample(logits, history: request.promptTokenIDs, generated: generated, output: &structured!)
        case .start:
            structured!.alsoAllowed = Set(markerTokens.flatMap { $0.candidates[0].keys })
            defer { structured!.alsoAllowed = [] }
            return sampler.sample(logits, history: request.promptTokenIDs, generated: generated, output: &structured!)
        case let .marker(written):
            // A marker's rest, and nothing else: not even a stop token.
            var only = [Float](repeating: -.infinity, count: logits.count)
            var any = false
            for i in markers.indices where markers[i].text.starts(with: written) {
                for id in markerTokens[i].candidates[written.count].keys where id < only.count { only[id] = logits[id]; any = true }
            }
            guard any else { return nil }
            let id = sampler.sample(only, history: request.promptTokenIDs, generated: generated)
            return id < only.count && only[id] > -.infinity ? id : nil
        case let .waiting(close, seen):
            // The value must still come after the think block: the model may not end the request before it (a
            // request's own stop token still may, as asked). A token that ends the block and goes on with text the
            // value cannot begin is refused (that text would stand outside the value): drawn again without it.
            var open = logits
            for id in modelStopTokenIDs where id >= 0 && id < open.count { open[id] = -.infinity }
            for _ in 0..<64 {
                let id = sampler.sample(open, history: request.promptTokenIDs, generated: generated)
                guard id < open.count, open[id] > -.infinity || logits[id] == -.infinity else { return nil }
                let bytes = decodeBytes([id])
                guard endsBlockBadly(bytes, close: close, seen: seen) else {
                    pickedBytes = (id, bytes)   // `accept` reads them again
                    return id
                }
                open[id] = -.infinity
            }
            return nil
        case .free:
            return sampler.sample(logits, history: request.promptTokenIDs, generated: generated)
        }
    }

    /// Moves the grammar and the gate past a chosen token (not a stop token); `bytes` are its text unless the
    /// gate is `.value` or `.free`.
    mutating func follow(_ token: Int, bytes: [UInt8]) {
        switch gate {
        case .value: structured!.advance(token)
        case .free: break
        case let .waiting(close, seen): wait(for: close, seen: seen + bytes)
        case .start:
            if structured!.continuesValue(token) {
                structured!.advance(token)
                if !GatePhase.isWhitespace(bytes) { gate = .value }
            } else {
                writeMarker([], bytes)
            }
        case let .marker(written): writeMarker(written, bytes)
        }
    }

    /// A token continues a marker (`written` of it before): once one is whole, what it leads to.
    mutating func writeMarker(_ written: [UInt8], _ bytes: [UInt8]) {
        let now = written + bytes
        guard let i = markers.firstIndex(where: { now.starts(with: $0.text) }) else {
            gate = .marker(written: now)
            return
        }
        let rest = Array(now[markers[i].text.count...])
        switch markers[i].then {
        case .free:
            gate = .free
        case let .waitFor(close):
            // A think block opens once.
            markers.remove(at: i)
            markerTokens.remove(at: i)
            wait(for: close, seen: rest)
        }
    }

    /// Whether a token (its bytes) would end the think block and go on with bytes that can neither begin the value
    /// nor (after whitespace) a marker.
    func endsBlockBadly(_ bytes: [UInt8], close: [UInt8], seen: [UInt8]) -> Bool {
        let all = seen + bytes
        guard let end = Self.firstEnd(of: close, in: all), end < all.count else { return false }
        let rest = Array(all[end...])
        if !structured!.matcher.advance(structured!.state, rest).isEmpty { return false }
        let word = rest.drop(while: JSONScalars.isWhitespace)
        return !markers.contains { $0.text.starts(with: word) || word.starts(with: $0.text) }
    }

    /// Looks for `close` in the last bytes written; once it is out, the value (or a marker) may start, and the rest
    /// of this token begins it: value bytes, or whitespace and a marker (`endsBlockBadly` kept out anything else).
    private mutating func wait(for close: [UInt8], seen: [UInt8]) {
        guard let end = Self.firstEnd(of: close, in: seen) else {
            gate = .waiting(close: close, seen: Array(seen.suffix(close.count - 1)))
            return
        }
        gate = markers.isEmpty ? .value : .start
        let rest = Array(seen[end...])
        guard !rest.isEmpty else { return }
        if structured!.advance(bytes: rest) {
            if !GatePhase.isWhitespace(rest) { gate = .value }
            return
        }
        let space = rest.prefix(while: JSONScalars.isWhitespace)
        guard gate == .start, structured!.advance(bytes: Array(space)) || space.isEmpty else { return }
        writeMarker([], Array(rest.dropFirst(space.count)))
    }
}
