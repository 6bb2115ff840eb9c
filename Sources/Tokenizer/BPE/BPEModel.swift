import Foundation

/// Byte-pair encoding of one pre-tokenized piece (Hugging Face `models.BPE`): start from one symbol
/// per character (or per byte, for byte-level vocabularies), then repeatedly apply the best-ranked
/// merge, leftmost on ties, until none applies.
final class BPEModel: @unchecked Sendable {
    /// (left id, right id) → (rank << 32 | merged id)
    private let merges: MergeTable
    private let vocab: [ExactString: Int]
    /// Raw byte → id of its byte-level symbol, or -1.
    private let byteLevelIDs: [Int32]
    /// Scalar (BMP) → id of the one-scalar token, or -1; `astralIDs` for the rest.
    private let bmpIDs: [Int32]
    private let astralIDs: [UInt32: Int32]
    /// `<0xAB>` token ids by byte, when `byte_fallback` is on.
    private let fallbackIDs: [Int32]?
    private let unknownID: Int32?
    private let fuseUnknown: Bool
    private let ignoreMerges: Bool
    private let cache = WordCache()

    /// `vocab`: (token, id) pairs (a repeated token keeps its last id, as llama.cpp and transformers
    /// build their maps); `merges`: pairs by rank. Merges whose parts or result are missing from the
    /// vocabulary are skipped.
    init(vocab pairs: [(String, Int)], merges: [(String, String)], unknownToken: String?, fuseUnknown: Bool,
         byteFallback: Bool, ignoreMerges: Bool) throws {
        var vocab: [ExactString: Int] = [:]
        vocab.reserveCapacity(pairs.count)
        for (t, i) in pairs { vocab[ExactString(t)] = i }
        self.vocab = vocab
        var table: [UInt64: UInt64] = [:]
        table.reserveCapacity(merges.count)
        for (rank, (l, r)) in merges.enumerated() {
            guard let a = vocab[ExactString(l)], let b = vocab[ExactString(r)], let m = vocab[ExactString(l + r)] else { continue }
            // NOTE: a repeated pair keeps its last rank, as HF builds its merge map.
            table[UInt64(a) << 32 | UInt64(b)] = UInt64(rank) << 32 | UInt64(m)
        }
        self.merges = MergeTable(table)
        var bmp = [Int32](repeating: -1, count: 0x10000)
        var astral: [UInt32: Int32] = [:]
        for (token, id) in pairs where vocab[ExactString(token)] == id {
            let scalars = token.unicodeScalars
            guard scalars.count == 1, let v = scalars.first?.value else { continue }
            if v < 0x10000 { bmp[Int(v)] = Int32(id) } else { astral[v] = Int32(id) }
        }
        bmpIDs = bmp
        astralIDs = astral
        byteLevelIDs = ByteLevel.encoder.map { s in s.value < 0x10000 ? bmp[Int(s.value)] : -1 }
        if byteFallback {
            fallbackIDs = (0..<256).map { b in Int32(vocab[ExactString(String(format: "<0x%02X>", b))] ?? -1) }
        } else {
            fallbackIDs = nil
        }
        if let unknownToken {
            guard let id = vocab[ExactString(unknownToken)] else { throw TokenizerError("unknown token '\(unknownToken)' is not in the vocabulary") }
            unknownID = Int32(id)
        } else {
            unknownID = nil
        }
        self.fuseUnknown = fuseUnknown
        self.ignoreMerges = ignoreMerges
    }

    /// Appends the ids of piece `b[range]`. `rawBytes`: the piece is raw UTF-8 to be read through the
    /// byte-level alphabet (the pre-tokenizer left that mapping to the model).
    func encode(_ b: UnsafeBufferPointer<UInt8>, _ range: Range<Int>, rawBytes: Bool, into out: inout [Int]) {
        let piece = UnsafeBufferPointer(rebasing: b[range])
        if let hit = cache.get(piece) { out.append(contentsOf: hit); return }
        let ids = encodeUncached(piece, rawBytes: rawBytes)
        cache.put(piece, ids)
        out.append(contentsOf: ids)
    }

    func encodeUncached(_ piece: UnsafeBufferPointer<UInt8>, rawBytes: Bool) -> [Int] {
        if ignoreMerges {
            let word = rawBytes ? ByteLevel.encode(piece) : String(decoding: piece, as: UTF8.self)
            if let id = vocab[ExactString(word)] { return [id] }
        }
        var symbols = initialSymbols(piece, rawBytes: rawBytes)
        if symbols.count > 1 { symbols = BPEMerge.mergeAll(symbols, merges) }
        return symbols.map { Int($0.id) }
    }

    /// One symbol per character (or byte), with byte fallback and (fused) unknown tokens.
    private func initialSymbols(_ piece: UnsafeBufferPointer<UInt8>, rawBytes: Bool) -> [BPEMerge.Symbol] {
        var symbols: [BPEMerge.Symbol] = []
        symbols.reserveCapacity(piece.count)
        var unknown: (id: Int32, length: Int32)? = nil
        func add(_ id: Int32, _ length: Int) {
            if let u = unknown { symbols.append(.init(id: u.id, length: u.length)); unknown = nil }
            symbols.append(.init(id: id, length: Int32(length)))
        }
        var i = 0
        while i < piece.count {
            let v: UInt32, n: Int
            if rawBytes {
                let byteID = byteLevelIDs[Int(piece[i])]
                if byteID >= 0 { add(byteID, 1); i += 1; continue }
                (v, n) = (ByteLevel.encoder[Int(piece[i])].value, 1)
            } else {
                (v, n) = UTF8Scalars.decode(piece, i)
                let id = v < 0x10000 ? bmpIDs[Int(v)] : (astralIDs[v] ?? -1)
                if id >= 0 { add(id, n); i += n; continue }
            }
            i += n
            if let fallback = fallbackIDs {
                var bytes: [UInt8] = []
                UTF8Scalars.append(v, to: &bytes)
                if bytes.allSatisfy({ fallback[Int($0)] >= 0 }) {
                    for byte in bytes { add(fallback[Int(byte)], 1) }
                    continue
                }
            }
            guard let unk = unknownID else { continue }  // no unknown token: the character is dropped
            if let u = unknown, fuseUnknown {
                unknown = (u.id, u.length + Int32(n))
            } else {
                if let u = unknown { symbols.append(.init(id: u.id, length: u.length)) }
                unknown = (unk, Int32(n))
            }
        }
        if let u = unknown { symbols.append(.init(id: u.id, length: u.length)) }
        return symbols
    }
}

/// Bounded, thread-safe memo of piece bytes → ids (words repeat a lot in real text).
final class WordCache: @unchecked Sendable {
    private var map: [Data: [Int]] = [:]
    private let lock = NSLock()
    private let capacity = 100_000
    /// Longer pieces are not worth keeping.
    private let maxKeyLength = 64

    func get(_ key: UnsafeBufferPointer<UInt8>) -> [Int]? {
        guard key.count <= maxKeyLength else { return nil }
        let k = Data(buffer: key)
        lock.lock(); defer { lock.unlock() }
        return map[k]
    }

    func put(_ key: UnsafeBufferPointer<UInt8>, _ ids: [Int]) {
        guard key.count <= maxKeyLength else { return }
        let k = Data(buffer: key)
        lock.lock(); defer { lock.unlock() }
        if map.count >= capacity { map.removeAll(keepingCapacity: true) }
        map[k] = ids
    }
}
