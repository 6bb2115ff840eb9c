import Foundation

/// A BPE tokenizer with Hugging Face's pipeline: added tokens → normalizer → pre-tokenizer → BPE model,
/// and decoder for the way back. Covers byte-level vocabularies (GPT-2, Llama-3, Qwen2/3, DeepSeek,
/// SmolLM) and SentencePiece-style ones (`▁` and byte fallback: Llama-2, Mistral/Mixtral), built from
/// a `tokenizer.json` or from GGUF metadata.
public final class BPETokenizer: TextTokenizer, @unchecked Sendable {
    public let definition: TokenizerDefinition
    /// Plain-value summary (tokens, types, special ids, `addBOS`).
    public let vocabulary: TokenizerVocabulary
    public var preTokenizer: PreTokenizer { definition.preTokenizer }
    private let model: BPEModel
    private let tokenToID: [ExactString: Int]
    private let rawMatcher: AddedTokenMatcher
    private let normalizedMatcher: AddedTokenMatcher
    private let special: [Bool]
    private let verbatim: [Bool]

    /// From GGUF metadata (`tokenizer.ggml.*`).
    public convenience init(vocabulary: TokenizerVocabulary) throws {
        try self.init(definition: TokenizerDefinition(llamaCpp: vocabulary), vocabulary: vocabulary)
    }

    public convenience init(definition: TokenizerDefinition) throws {
        try self.init(definition: definition, vocabulary: definition.vocabulary)
    }

    private init(definition d: TokenizerDefinition, vocabulary: TokenizerVocabulary) throws {
        definition = d
        self.vocabulary = vocabulary
        let modelVocab = d.modelVocab ?? d.tokens.enumerated().compactMap { i, t in t.isEmpty ? nil : (t, i) }
        model = try BPEModel(vocab: modelVocab, merges: d.merges, unknownToken: d.unknownToken, fuseUnknown: d.fuseUnknown,
                             byteFallback: d.byteFallback, ignoreMerges: d.ignoreMerges)
        var all: [ExactString: Int] = [:]
        for (t, i) in modelVocab { all[ExactString(t)] = i }
        for t in d.addedTokens { all[ExactString(t.content)] = t.id }
        tokenToID = all
        let patterns = d.addedTokens.map { t in (text: t.normalized ? (d.normalizer?.apply(t.content) ?? t.content) : t.content, token: t) }
        rawMatcher = AddedTokenMatcher(patterns.filter { !$0.token.normalized })
        normalizedMatcher = AddedTokenMatcher(patterns.filter { $0.token.normalized })
        var special = [Bool](repeating: false, count: d.tokens.count)
        var verbatim = special
        for t in d.addedTokens where t.id >= 0 && t.id < d.tokens.count {
            special[t.id] = t.special
            verbatim[t.id] = d.addedTokensDecodeVerbatim
        }
        self.special = special
        self.verbatim = verbatim
    }

    public var vocabularySize: Int { definition.tokens.count }
    public var bosTokenID: Int? { definition.bosTokenID }
    public var eosTokenID: Int? { definition.eosTokenID }
    public var addsBOS: Bool { definition.addsBOS }

    // MARK: encoding

    public func encode(_ text: String, parseSpecial: Bool = true) -> [Int] {
        var ids: [Int] = []
        ids.reserveCapacity(text.utf8.count / 3)
        for segment in segments(text, parseSpecial: parseSpecial) {
            switch segment {
            case let .token(id): ids.append(id)
            case let .text(t, atStart): encodeText(t, atStart: atStart, into: &ids)
            }
        }
        return ids
    }

    /// `encode` plus the post-processor's special tokens (HF `add_special_tokens=True`).
    public func encodeWithSpecialTokens(_ text: String, parseSpecial: Bool = true) -> [Int] {
        definition.postProcessor.apply(encode(text, parseSpecial: parseSpecial))
    }

    /// Added tokens out of the raw text, then normalization, then added tokens out of the normalized text.
    func segments(_ text: String, parseSpecial: Bool) -> [Segment] {
        var out: [Segment] = []
        for s in rawMatcher.split(text, atStart: true, parseSpecial: parseSpecial) {
            guard case let .text(t, atStart) = s else { out.append(s); continue }
            let normalized = definition.normalizer?.apply(t) ?? t
            out.append(contentsOf: normalizedMatcher.split(normalized, atStart: atStart, parseSpecial: parseSpecial))
        }
        return out
    }

    private func encodeText(_ text: String, atStart: Bool, into ids: inout [Int]) {
        let pieces = definition.preTokenizer.split(text, atStart: atStart)
        let raw = definition.preTokenizer.mapsBytesInModel
        pieces.bytes.withUnsafeBufferPointer { b in
            for r in pieces.ranges { model.encode(b, r, rawBytes: raw, into: &ids) }
        }
    }

    // MARK: decoding

    public func decodeBytes(_ ids: [Int], continuing: Bool) -> [UInt8] {
        run(ids, skipSpecial: false, mode: TokenDecoder.Mode(continuing: continuing, exact: false))
    }

    /// Raw bytes of `ids` as a continuation of earlier output: concatenating the results for
    /// consecutive slices gives the bytes of the whole (what streaming by closure needs).
    public func decodeBytes(_ ids: [Int]) -> [UInt8] { decodeBytes(ids, continuing: true) }

    public func decode(_ ids: [Int], skipSpecialTokens: Bool) -> String {
        String(decoding: run(ids, skipSpecial: skipSpecialTokens, mode: TokenDecoder.Mode(exact: true)), as: UTF8.self)
    }

    /// The decoder over runs of tokens; verbatim tokens (GGUF control/user-defined) go straight out.
    private func run(_ ids: [Int], skipSpecial: Bool, mode: TokenDecoder.Mode) -> [UInt8] {
        var out: [UInt8] = []
        var chunk: [[UInt8]] = []
        var mode = mode
        func flush() {
            guard !chunk.isEmpty else { return }
            var m = mode
            let pieces = definition.decoder?.decodeChain(chunk, &m) ?? [Array(chunk.joined(separator: [0x20]))]
            for p in pieces { out.append(contentsOf: p) }
            chunk.removeAll()
            mode.continuing = true
        }
        for id in ids where id >= 0 && id < definition.tokens.count {
            if skipSpecial && special[id] { continue }
            if verbatim[id] {
                flush()
                out.append(contentsOf: definition.tokens[id].utf8)
                mode.continuing = true
            } else {
                chunk.append(Array(definition.tokens[id].utf8))
            }
        }
        flush()
        return out
    }

    public func isSpecial(_ id: Int) -> Bool { id >= 0 && id < special.count && special[id] }

    public func id(of token: String) -> Int? { tokenToID[ExactString(token)] }

    public func token(of id: Int) -> String? {
        id >= 0 && id < definition.tokens.count && !definition.tokens[id].isEmpty ? definition.tokens[id] : nil
    }
}
