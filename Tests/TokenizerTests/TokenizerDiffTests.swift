import Foundation
import Model
import Testing
@testable import Tokenizer

/// One reference fixture of Fixtures/tokenizer-diff (made by scripts/reference/make_tokenizer_fixtures.py
/// with Hugging Face `tokenizers`).
struct DiffFixture {
    let name: String
    let source: String
    let ids: [[Int]]
    let idsSpecial: [[Int]]
    let decoded: [String]
    let idsWithSpecialTokens: [[Int]]

    static let directory = TestPaths.fixtures.appendingPathComponent("tokenizer-diff")
    // NOTE: read with the tokenizer's own JSON parser: Foundation's drops a leading U+FEFF from strings.
    static let strings: [String] = try! JSONNode.parse(Data(contentsOf: directory.appendingPathComponent("strings.json")),
                                                       file: "strings.json").array().map { try $0.string() }

    init(_ name: String) throws {
        let o = try JSONNode.parse(Data(contentsOf: Self.directory.appendingPathComponent("\(name).json")), file: name)
        func idLists(_ key: String) throws -> [[Int]] { try o.required(key).array().map { try $0.array().map { try $0.int() } } }
        self.name = name
        source = try o.required("source").string()
        ids = try idLists("ids")
        idsSpecial = try idLists("ids_special")
        decoded = try o.required("decoded").array().map { try $0.string() }
        idsWithSpecialTokens = try idLists("ids_with_special_tokens")
    }

    /// The tokenizer under test: the committed `tokenizer.json`, or the GGUF vocabulary.
    func tokenizer() throws -> BPETokenizer? {
        if source.hasSuffix("tokenizer.json") {
            let dir = TestPaths.fixtures.appendingPathComponent(source).deletingLastPathComponent()
            return try BPETokenizer(definition: TokenizerDefinition(directory: dir))
        }
        if source.hasPrefix("models/") {
            let path = TestPaths.tests.deletingLastPathComponent().appendingPathComponent(source).path
            guard FileManager.default.fileExists(atPath: path) else { return nil }  // scripts/setup not run
            return try BPETokenizer(vocabulary: try GGUFFile(path: path).tokenizerVocabulary())
        }
        return try GGUFVocab.tokenizer(String(source.dropFirst("tokenizer-vectors/ggml-vocab-".count).dropLast(".gguf".count)))
    }
}

@Suite struct TokenizerDiffTests {
    static let jsonNames = ["bytelevel-llama3", "bytelevel-gpt2-digits", "bytelevel-deepseek-v3",
                            "metaspace-bpe", "metaspace-legacy", "metaspace-split"]
    static let names = jsonNames + TokenizerVectorTests.names + ["starcoder", "smollm2"].filter { !TokenizerVectorTests.names.contains($0) }

    @Test func fixturesCoverEnough() throws {
        #expect(DiffFixture.strings.count >= 300)
        #expect(Self.names.count >= 5)
    }

    @Test(arguments: names)
    func idsAndDecodeMatchHuggingFace(name: String) throws {
        let f = try DiffFixture(name)
        guard let tok = try f.tokenizer() else { return }
        let strings = DiffFixture.strings
        try #require(f.ids.count == strings.count)
        var failures = 0
        for (k, s) in strings.enumerated() where failures < 10 {
            let plain = tok.encode(s, parseSpecial: false)
            let special = tok.encode(s, parseSpecial: true)
            let decoded = tok.decode(plain)
            // NOTE: from GGUF, user-defined tokens decode as their text (llama.cpp's rule), where Hugging
            // Face runs them through the ByteLevel decoder and mangles non-ASCII ones ("ü" → "\u{FFFD}").
            let verbatim = tok.definition.addedTokensDecodeVerbatim && plain.contains { tok.vocabulary.tokenTypes[$0] == .userDefined }
            let expectedText = verbatim ? s : f.decoded[k]
            if plain != f.ids[k] || special != f.idsSpecial[k] || decoded != expectedText { failures += 1 }
            #expect(plain == f.ids[k], "\(name) ids of \(s.debugDescription)")
            #expect(special == f.idsSpecial[k], "\(name) ids (special parsed) of \(s.debugDescription)")
            #expect(decoded == expectedText, "\(name) decode of \(s.debugDescription)")
        }
        for (k, s) in strings.prefix(f.idsWithSpecialTokens.count).enumerated() {
            #expect(tok.encodeWithSpecialTokens(s) == f.idsWithSpecialTokens[k], "\(name) with BOS/EOS: \(s.debugDescription)")
        }
    }

    /// Streaming: the deltas of the incremental detokenizer concatenate to the full decode, and a
    /// delta never ends inside a character.
    @Test(arguments: names)
    func incrementalDecodeEqualsFullDecode(name: String) throws {
        let f = try DiffFixture(name)
        guard let tok = try f.tokenizer() else { return }
        for ids in f.ids + f.idsSpecial {
            var d = IncrementalDetokenizer(tokenizer: tok)
            var text = ""
            for id in ids {
                let delta = d.add(id)
                #expect(!delta.unicodeScalars.contains("\u{FFFD}") || tok.decode(ids).contains("\u{FFFD}"))
                text += delta
            }
            text += d.flush()
            #expect(text == tok.decode(ids), "\(name): \(ids)")
        }
    }
}
