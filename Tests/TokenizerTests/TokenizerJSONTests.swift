import Foundation
import Testing
@testable import Tokenizer

/// Loading `tokenizer.json` / `tokenizer_config.json`: what is read, and that every malformed input
/// is a clear `TokenizerError` rather than a crash.
@Suite struct TokenizerJSONTests {
    static let minimal = #"""
    {"added_tokens": [{"id": 3, "content": "<s>", "special": true}],
     "normalizer": null, "pre_tokenizer": {"type": "ByteLevel", "add_prefix_space": false, "use_regex": true},
     "post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<s>", "type_id": 0}}, {"Sequence": {"id": "A", "type_id": 0}}],
                        "special_tokens": {"<s>": {"id": "<s>", "ids": [3], "tokens": ["<s>"]}}},
     "decoder": {"type": "ByteLevel"},
     "model": {"type": "BPE", "vocab": {"a": 0, "b": 1, "ab": 2, "<s>": 3}, "merges": ["a b"]}}
    """#

    func load(_ json: String, config: String? = nil) throws -> BPETokenizer {
        try BPETokenizer(definition: TokenizerDefinition(tokenizerJSON: Data(json.utf8), config: config.map { Data($0.utf8) }))
    }

    @Test func minimalFileWorks() throws {
        let t = try load(Self.minimal)
        #expect(t.encode("abab", parseSpecial: false) == [2, 2])
        #expect(t.encode("a<s>b") == [0, 3, 1])
        #expect(t.encode("a<s>b", parseSpecial: false) == [0, 1])  // "<", "s", ">" are not in the vocabulary: dropped
        #expect(t.encodeWithSpecialTokens("ab") == [3, 2])
        #expect(t.bosTokenID == 3)
        #expect(t.addsBOS)
        #expect(t.decode([3, 2, 1]) == "<s>abb")
        #expect(t.decode([3, 2], skipSpecialTokens: true) == "ab")
        #expect(t.id(of: "<s>") == 3)
        #expect(t.token(of: 2) == "ab")
    }

    @Test func mergesAsPairsAndIgnoreMerges() throws {
        let pairs = Self.minimal.replacingOccurrences(of: #""merges": ["a b"]"#, with: #""merges": [["a", "b"]], "ignore_merges": true"#)
        let t = try load(pairs)
        #expect(t.encode("ab") == [2])
        #expect(t.definition.ignoreMerges)
    }

    @Test func configSetsSpecialTokensTemplateAndBOS() throws {
        let config = #"""
        {"bos_token": {"content": "<s>", "special": true}, "eos_token": "<s>", "add_bos_token": false,
         "chat_template": [{"name": "tool_use", "template": "T"}, {"name": "default", "template": "{{ messages }}"}],
         "added_tokens_decoder": {"4": {"content": "<extra>", "special": false, "normalized": false}}}
        """#
        let t = try load(Self.minimal, config: config)
        #expect(t.bosTokenID == 3 && t.eosTokenID == 3)
        #expect(!t.addsBOS)
        #expect(t.encodeWithSpecialTokens("ab") == [2])
        #expect(t.definition.chatTemplate == "{{ messages }}")
        #expect(t.encode("a<extra>", parseSpecial: false) == [0, 4])
        #expect(t.vocabularySize == 5)
    }

    static let malformed: [(String, String)] = [
        ("not JSON", "{"),
        ("array at top", "[1, 2]"),
        ("no model", #"{"added_tokens": []}"#),
        ("WordPiece", #"{"model": {"type": "WordPiece", "vocab": {}}}"#),
        ("Unigram", #"{"model": {"type": "Unigram", "vocab": []}}"#),
        ("vocab not an object", #"{"model": {"type": "BPE", "vocab": [], "merges": []}}"#),
        ("negative id", #"{"model": {"type": "BPE", "vocab": {"a": -1}, "merges": []}}"#),
        ("fractional id", #"{"model": {"type": "BPE", "vocab": {"a": 1.5}, "merges": []}}"#),
        ("huge id", #"{"model": {"type": "BPE", "vocab": {"a": 1e12}, "merges": []}}"#),
        ("merge is a number", #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [7]}}"#),
        ("merge without space", #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": ["ab"]}}"#),
        ("merge triple", #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [["a", "b", "c"]]}}"#),
        ("unk not in vocab", #"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "unk_token": "<unk>"}}"#),
        ("subword prefix", ###"{"model": {"type": "BPE", "vocab": {"a": 0}, "merges": [], "continuing_subword_prefix": "##"}}"###),
        ("added token without id", #"{"added_tokens": [{"content": "x"}], "model": {"type": "BPE", "vocab": {}, "merges": []}}"#),
        ("added token empty", #"{"added_tokens": [{"id": 0, "content": ""}], "model": {"type": "BPE", "vocab": {}, "merges": []}}"#),
        ("unknown normalizer", #"{"normalizer": {"type": "BertNormalizer"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#),
        ("normalizer without type", #"{"normalizer": {}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#),
        ("unknown pre-tokenizer", #"{"pre_tokenizer": {"type": "UnicodeScripts"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#),
        ("lookbehind regex", #"{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "(?<=a)b"}, "behavior": "Isolated", "invert": false}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#),
        ("bad regex", #"{"pre_tokenizer": {"type": "Split", "pattern": {"Regex": "[a-"}, "behavior": "Isolated", "invert": false}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#),
        ("bad behavior", #"{"pre_tokenizer": {"type": "Split", "pattern": {"String": " "}, "behavior": "Sideways", "invert": false}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#),
        ("metaspace two chars", #"{"pre_tokenizer": {"type": "Metaspace", "replacement": "__"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#),
        ("unknown decoder", #"{"decoder": {"type": "WordPiece"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#),
        ("strip without stop", #"{"decoder": {"type": "Strip", "content": " ", "start": 1}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#),
        ("template names unknown token", #"{"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>", "type_id": 0}}], "special_tokens": {}}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#),
        ("template id out of range", #"{"post_processor": {"type": "TemplateProcessing", "single": [{"SpecialToken": {"id": "<x>", "type_id": 0}}], "special_tokens": {"<x>": {"id": "<x>", "ids": [99], "tokens": ["<x>"]}}}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#),
        ("unknown post-processor", #"{"post_processor": {"type": "Magic"}, "model": {"type": "BPE", "vocab": {}, "merges": []}}"#),
        ("string with raw control", "{\"model\": {\"type\": \"BPE\", \"vocab\": {\"a\u{1}\": 0}, \"merges\": []}}"),
        ("deep nesting", String(repeating: "[", count: 10_000)),
    ]

    @Test(arguments: malformed)
    func malformedIsAClearError(name: String, json: String) {
        #expect(throws: TokenizerError.self, "\(name)") { try load(json) }
    }

    @Test func invalidUTF8IsAnError() {
        var bytes = Array(#"{"model": {"type": "BPE", "vocab": {"x": 0}, "merges": []}}"#.utf8)
        bytes[27] = 0xFF
        #expect(throws: TokenizerError.self) { try TokenizerDefinition(tokenizerJSON: Data(bytes)) }
    }

    /// Every truncation of a valid file fails cleanly.
    @Test func truncatedFilesThrow() throws {
        let bytes = Array(Self.minimal.utf8)
        for n in stride(from: 0, to: bytes.count - 1, by: 7) {
            #expect(throws: TokenizerError.self) { try TokenizerDefinition(tokenizerJSON: Data(bytes[..<n])) }
        }
    }

    @Test func malformedConfigIsAClearError() {
        for config in [#"{"bos_token": "<nope>"}"#, #"{"add_bos_token": "yes"}"#, #"{"chat_template": 5}"#, "[", #"{"added_tokens_decoder": {"x": {}}}"#] {
            #expect(throws: TokenizerError.self, "\(config)") { try load(Self.minimal, config: config) }
        }
    }

    @Test func missingDirectoryIsAClearError() {
        #expect(throws: TokenizerError.self) { try TokenizerDefinition(directory: URL(fileURLWithPath: "/nonexistent/dir")) }
    }

    /// Canonically equivalent tokens stay distinct (Llama-2 has "ί" as U+1F77 and as U+03AF).
    @Test func canonicallyEquivalentTokensStayDistinct() throws {
        let json = #"{"model": {"type": "BPE", "vocab": {"\u1f77": 0, "\u03af": 1}, "merges": []}}"#
        let t = try load(json)
        #expect(t.encode("\u{1F77}\u{03AF}") == [0, 1])
        #expect(t.id(of: "\u{03AF}") == 1)
    }
}
