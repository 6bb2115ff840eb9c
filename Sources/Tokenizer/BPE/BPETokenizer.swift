import Foundation

/// Byte-level BPE (GPT-2 family: SmolLM, StarCoder, GPT-2; later Qwen, Llama-3, DeepSeek).
///
/// encode = split special tokens out of the text → pre-tokenize each stretch into words → map each
/// word's UTF-8 bytes to the byte-level alphabet → merge symbol pairs by rank until none applies.
public final class BPETokenizer: @unchecked Sendable {
    public let vocabulary: TokenizerVocabulary
    public let preTokenizer: PreTokenizer
    private let tokenToID: [String: Int]
    /// (left id << 32 | right id) → (rank, merged id)
    private let mergeTable: [UInt64: (rank: Int32, id: Int32)]
    /// id of each single byte's symbol
    private let byteIDs: [Int]
    /// Tokens matched verbatim in text when `parseSpecial` is on, grouped by first scalar, longest first.
    private let specialsByFirst: [Unicode.Scalar: [(scalars: [Unicode.Scalar], id: Int)]]
    private let decodeAsText: [Bool]
    private let cache = WordCache()

    public init(vocabulary: TokenizerVocabulary) throws {
        guard vocabulary.model == "gpt2" else {
            throw TokenizerError("tokenizer model '\(vocabulary.model)' is not supported yet (supported: gpt2)")
        }
        guard vocabulary.tokenTypes.count == vocabulary.tokens.count else {
            throw TokenizerError("vocabulary has \(vocabulary.tokens.count) tokens but \(vocabulary.tokenTypes.count) token types")
        }
        self.vocabulary = vocabulary
        preTokenizer = try PreTokenizer(llamaCppName: vocabulary.preTokenizer)
        var t2i: [String: Int] = [:]
        t2i.reserveCapacity(vocabulary.tokens.count)
        for (i, t) in vocabulary.tokens.enumerated() where t2i[t] == nil { t2i[t] = i }
        tokenToID = t2i
        // A vocabulary may lack symbols for bytes that (almost) never occur, such as 0xC0 or 0xF1;
        // such a byte becomes the unknown token, or is dropped when there is none (as in HF `tokenizers`).
        byteIDs = ByteLevel.encoder.map { t2i[String($0)] ?? vocabulary.unknownTokenID ?? -1 }
        mergeTable = try Self.buildMerges(vocabulary.merges, tokenToID: t2i)
        var specials: [Unicode.Scalar: [(scalars: [Unicode.Scalar], id: Int)]] = [:]
        var asText = [Bool](repeating: false, count: vocabulary.tokens.count)
        for (i, type) in vocabulary.tokenTypes.enumerated() where type == .control || type == .userDefined {
            asText[i] = true
            let scalars = Array(vocabulary.tokens[i].unicodeScalars)
            guard let first = scalars.first else { continue }
            specials[first, default: []].append((scalars, i))
        }
        for k in specials.keys { specials[k]!.sort { $0.scalars.count > $1.scalars.count } }
        specialsByFirst = specials
        decodeAsText = asText
    }

    private static func buildMerges(_ merges: [String], tokenToID: [String: Int]) throws -> [UInt64: (rank: Int32, id: Int32)] {
        var table: [UInt64: (rank: Int32, id: Int32)] = [:]
        table.reserveCapacity(merges.count)
        for (rank, merge) in merges.enumerated() {
            // Split at the first space that is not the first character (a symbol is never empty).
            let scalars = Array(merge.unicodeScalars)
            guard let sp = scalars.indices.dropFirst().first(where: { scalars[$0] == " " }) else {
                throw TokenizerError("merge \(rank) '\(merge)' is not two symbols separated by a space")
            }
            let left = String(String.UnicodeScalarView(scalars[..<sp]))
            let right = String(String.UnicodeScalarView(scalars[(sp + 1)...]))
            guard let l = tokenToID[left], let r = tokenToID[right], let m = tokenToID[left + right] else { continue }
            let key = UInt64(l) << 32 | UInt64(r)
            if table[key] == nil { table[key] = (Int32(rank), Int32(m)) }
        }
        return table
    }

    public var vocabularySize: Int { vocabulary.tokens.count }

    /// Token ids for `text`. With `parseSpecial`, control and user-defined tokens written in the text
    /// become their ids (what Hugging Face does for added tokens); otherwise they are plain text.
    public func encode(_ text: String, parseSpecial: Bool = true) -> [Int] {
        var ids: [Int] = []
        for segment in segments(text, parseSpecial: parseSpecial) {
            switch segment {
            case let .special(id): ids.append(id)
            case let .text(t):
                for word in preTokenizer.split(t) { ids.append(contentsOf: encodeWord(String(word))) }
            }
        }
        return ids
    }

    enum Segment { case text(String), special(Int) }

    func segments(_ text: String, parseSpecial: Bool) -> [Segment] {
        guard parseSpecial, !specialsByFirst.isEmpty else { return text.isEmpty ? [] : [.text(text)] }
        let scalars = Array(text.unicodeScalars)
        var out: [Segment] = []
        var start = 0, i = 0
        while i < scalars.count {
            if let candidates = specialsByFirst[scalars[i]],
               let hit = candidates.first(where: { i + $0.scalars.count <= scalars.count && scalars[i..<(i + $0.scalars.count)].elementsEqual($0.scalars) }) {
                if start < i { out.append(.text(String(String.UnicodeScalarView(scalars[start..<i])))) }
                out.append(.special(hit.id))
                i += hit.scalars.count
                start = i
            } else {
                i += 1
            }
        }
        if start < scalars.count { out.append(.text(String(String.UnicodeScalarView(scalars[start...])))) }
        return out
    }

    /// BPE on one pre-tokenized word: start from byte symbols and repeatedly merge the lowest-ranked
    /// adjacent pair (leftmost on ties) until no pair has a merge.
    func encodeWord(_ word: String) -> [Int] {
        if let hit = cache.get(word) { return hit }
        var symbols = word.utf8.map { byteIDs[Int($0)] }.filter { $0 >= 0 }
        while symbols.count > 1 {
            var best: (rank: Int32, pos: Int, id: Int32)? = nil
            for p in 0..<(symbols.count - 1) {
                if let m = mergeTable[UInt64(symbols[p]) << 32 | UInt64(symbols[p + 1])], best == nil || m.rank < best!.rank {
                    best = (m.rank, p, m.id)
                }
            }
            guard let b = best else { break }
            symbols[b.pos] = Int(b.id)
            symbols.remove(at: b.pos + 1)
        }
        cache.put(word, symbols)
        return symbols
    }

    /// Raw bytes of `ids` (special tokens as their text). May end inside a UTF-8 sequence.
    public func decodeBytes(_ ids: [Int]) -> [UInt8] {
        var out: [UInt8] = []
        for id in ids where id >= 0 && id < vocabulary.tokens.count {
            if decodeAsText[id] { out.append(contentsOf: Array(vocabulary.tokens[id].utf8)) } else { ByteLevel.decode(vocabulary.tokens[id], into: &out) }
        }
        return out
    }

    /// Text of `ids`; invalid UTF-8 becomes U+FFFD, like Hugging Face's decode.
    public func decode(_ ids: [Int]) -> String {
        String(decoding: decodeBytes(ids), as: UTF8.self)
    }

    public func isSpecial(_ id: Int) -> Bool { id >= 0 && id < decodeAsText.count && vocabulary.tokenTypes[id] == .control }

    public func id(of token: String) -> Int? { tokenToID[token] }
}

/// Bounded, thread-safe memo of word → ids (words repeat a lot in real text).
final class WordCache: @unchecked Sendable {
    private var map: [String: [Int]] = [:]
    private let lock = NSLock()
    private let capacity = 65_536

    func get(_ w: String) -> [Int]? { lock.lock(); defer { lock.unlock() }; return map[w] }
    func put(_ w: String, _ ids: [Int]) {
        lock.lock(); defer { lock.unlock() }
        if map.count >= capacity { map.removeAll(keepingCapacity: true) }
        map[w] = ids
    }
}
