import Device
import Foundation
import Testing
import Tokenizer
@testable import Model

/// Parity with Hugging Face transformers/tokenizers on the default model (fixtures from
/// scripts/reference/make_smollm2_fixtures.py).
@Suite(.serialized) struct SmolLM2ReferenceTests {
    static let gguf: Result<GGUFFile, Error> = Result { try GGUFFile(path: try TestPaths.requireModel()) }

    @Test func tokenizerIDsMatchHuggingFace() throws {
        let tok = try BPETokenizer(vocabulary: try Self.gguf.get().tokenizerVocabulary())
        let cases = try #require(try TestPaths.json("smollm2/tokenizer_ids.json") as? [[String: Any]])
        #expect(cases.count >= 100)
        for c in cases {
            let text = try #require(c["text"] as? String)
            // NOTE: transformers' GGUF loader drops SmolLM2's Digits pre-tokenizer; where that changes the
            // ids, the fixture also records `ids_upstream` from SmolLM2's own tokenizer (Digits + ByteLevel,
            // the rule llama.cpp's `smollm` pre-type applies too). That is the tokenizer the model was trained with.
            let ids = try #require((c["ids_upstream"] ?? c["ids"]) as? [Int])
            #expect(tok.encode(text, parseSpecial: true) == ids, "\(text.debugDescription)")
        }
    }

    @Test func logitsMatchTransformers() throws {
        let file = try Self.gguf.get()
        let model = try LlamaModel(gguf: file, device: CPUDevice())
        let ref = try #require(try TestPaths.json("smollm2/logits.json") as? [String: Any])
        let prompt = try #require(ref["prompt_ids"] as? [Int])
        let positions = try #require(ref["positions"] as? [[String: Any]])
        var cache = model.makeCache(capacity: prompt.count + 16)
        let logits = model.forward(prompt, cache: &cache, logits: .all)
        #expect(logits.rows == prompt.count && logits.cols == 49152)
        for p in positions {
            let pos = try #require(p["position"] as? Int)
            let top = try #require(p["top"] as? [[String: Any]])
            let row = logits.row(pos)
            var worst: Float = 0
            for entry in top {
                let id = try #require(entry["id"] as? Int)
                let value = Float(try #require(entry["logit"] as? Double))
                worst = max(worst, abs(row[id] - value))
            }
            #expect(worst <= 5e-3, "position \(pos): max |Δlogit| = \(worst)")
            let ours = row.indices.sorted { row[$0] > row[$1] }.prefix(5)
            let theirs = top.prefix(5).compactMap { $0["id"] as? Int }
            #expect(Array(ours) == theirs, "position \(pos): top-5 ids")
        }
    }

    @Test func greedyDecodeThroughTheCacheMatchesTransformers() throws {
        let file = try Self.gguf.get()
        let model = try LlamaModel(gguf: file, device: CPUDevice())
        let ref = try #require(try TestPaths.json("smollm2/logits.json") as? [String: Any])
        let prompt = try #require(ref["prompt_ids"] as? [Int])
        let expected = try #require(ref["greedy_continuation_ids"] as? [Int])
        var cache = model.makeCache(capacity: prompt.count + expected.count)
        var input = prompt
        var out: [Int] = []
        for _ in expected.indices {
            let row = model.forward(input, cache: &cache, logits: .last).data
            let next = row.indices.max { row[$0] < row[$1] }!
            out.append(next)
            input = [next]
        }
        #expect(out == expected)
        let tok = try BPETokenizer(vocabulary: file.tokenizerVocabulary())
        #expect(tok.decode(out).contains("Paris"))
    }
}
