import Foundation
import Model
import Testing
@testable import Tokenizer

/// Paths shared by this target's tests: the committed fixtures and the model `scripts/setup` fetches.
enum TestPaths {
    static let tests = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    static let fixtures = tests.appendingPathComponent("Fixtures")
    static let defaultModel = tests.deletingLastPathComponent().appendingPathComponent("models/SmolLM2-135M-Instruct.Q4_1.gguf").path
}

/// llama.cpp's vectors: strings and the ids Hugging Face produced, special-token text not parsed.
struct VocabVectors {
    let strings: [String]
    let ids: [[Int]]

    init(name: String) throws {
        let dir = TestPaths.fixtures.appendingPathComponent("tokenizer-vectors")
        let inp = try String(contentsOf: dir.appendingPathComponent("ggml-vocab-\(name).gguf.inp"), encoding: .utf8)
        var pieces = inp.components(separatedBy: "\n__ggml_vocab_test__\n")
        if pieces.last == "" { pieces.removeLast() }
        strings = pieces
        let out = try String(contentsOf: dir.appendingPathComponent("ggml-vocab-\(name).gguf.out"), encoding: .utf8)
        var lines = out.components(separatedBy: "\n")
        if lines.last == "" { lines.removeLast() }
        ids = lines.map { $0.split(separator: " ").compactMap { Int($0) } }
    }
}

@Suite struct TokenizerVectorTests {
    static let names = ["gpt-2", "starcoder", "refact", "mpt", "falcon", "llama-bpe", "qwen2",
                        "deepseek-llm", "deepseek-coder", "llama-spm", "phi-3"]

    @Test(arguments: names)
    func idsMatchHuggingFace(name: String) throws {
        let tok = try GGUFVocab.tokenizer(name)
        let v = try VocabVectors(name: name)
        #expect(v.strings.count == v.ids.count)
        #expect(v.strings.count >= 40)
        for (s, expected) in zip(v.strings, v.ids) {
            let got = tok.encode(s, parseSpecial: false)
            #expect(got == expected, "\(name): \(s.debugDescription)")
            // Both kinds of BPE here are lossless (byte level or byte fallback): decoding gives the text
            // back, except that SentencePiece drops the space it added at the start.
            #expect(tok.decode(got) == s, "\(name) round trip: \(s.debugDescription)")
        }
    }
}

/// The GGUF vocabularies in Fixtures/tokenizer-vectors, each loaded once.
enum GGUFVocab {
    nonisolated(unsafe) private static var loaded: [String: BPETokenizer] = [:]
    private static let lock = NSLock()

    static func tokenizer(_ name: String) throws -> BPETokenizer {
        lock.lock(); defer { lock.unlock() }
        if let t = loaded[name] { return t }
        let gguf = try GGUFFile(path: TestPaths.fixtures.appendingPathComponent("tokenizer-vectors/ggml-vocab-\(name).gguf").path)
        let t = try BPETokenizer(vocabulary: try gguf.tokenizerVocabulary())
        loaded[name] = t
        return t
    }
}
