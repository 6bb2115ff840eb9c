import Foundation
import Testing
import Device
@testable import Model

/// DeepSeek-V4's config.json: the schedules, legacy keys and RoPE split resolve as transformers resolves them.
@Suite struct DeepSeekV4ConfigTests {
    /// A V4 config.json with the required keys, plus `extra`.
    func config(_ extra: String = "") throws -> DeepSeekV4Config {
        let json = """
        {"vocab_size": 256, "hidden_size": 64, "moe_intermediate_size": 16, "num_hidden_layers": 6, "num_attention_heads": 4,
         "head_dim": 32, "q_lora_rank": 32, "num_experts_per_tok": 2, "n_routed_experts": 8, "max_position_embeddings": 512,
         "hc_mult": 4, "hc_sinkhorn_iters": 20, "hc_eps": 1e-6, "sliding_window": 8, "o_groups": 2, "o_lora_rank": 16,
         "index_n_heads": 8, "index_head_dim": 16, "index_topk": 3\(extra)}
        """
        return try JSONDecoder.decodeConfig(DeepSeekV4Config.self, from: Data(json.utf8))
    }

    @Test func defaultSchedulesAreTheProLayoutAndThreeHashLayers() throws {
        let c = try config()
        #expect(try c.attentionKinds() == [.heavilyCompressed, .heavilyCompressed, .heavilyCompressed, .compressedSparse,
                                           .heavilyCompressed, .compressedSparse])
        #expect(try c.routingKinds() == [.hash, .hash, .hash, .topK, .topK, .topK])
        #expect(c.compressRate(.compressedSparse) == 4 && c.compressRate(.heavilyCompressed) == 128 && c.compressRate(.sliding) == 0)
        #expect(c.ropeDim == 64)   // qk_rope_head_dim's default
    }

    @Test func legacyKeysFoldIn() throws {
        let c = try config(#", "compress_ratios": [0, 4, 128, 4, 128, 0], "num_hash_layers": 1, "compress_rate_hca": 64, "qk_rope_head_dim": 8"#)
        #expect(try c.attentionKinds() == [.sliding, .compressedSparse, .heavilyCompressed, .compressedSparse, .heavilyCompressed, .sliding])
        #expect(try c.routingKinds() == [.hash, .topK, .topK, .topK, .topK, .topK])
        #expect(c.compressRate(.heavilyCompressed) == 64)
        #expect(c.ropeDim == 8)
    }

    @Test func aFlatRopeScalingAppliesToTheCompressedBranchesOnly() throws {
        let c = try config(#", "rope_theta": 10000, "compress_rope_theta": 160000, "rope_scaling": {"type": "yarn", "factor": 16, "original_max_position_embeddings": 65536}"#)
        #expect(c.mainRoPE.rope_type == "default" && c.mainRoPE.rope_theta == 10000)
        #expect(c.compressRoPE.rope_type == "yarn" && c.compressRoPE.rope_theta == 160000 && c.compressRoPE.factor == 16)
        #expect(c.compressRoPE.attention_factor == 1)   // V4 never scales cos/sin by YaRN's mscale
    }

    @Test func badSchedulesAreClearErrors() throws {
        #expect(throws: CheckpointError.unsupported("layer type 'full_attention' (supported: [\"sliding_attention\", \"compressed_sparse_attention\", \"heavily_compressed_attention\"])")) {
            try self.config(#", "layer_types": ["full_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention", "sliding_attention"]"#).attentionKinds()
        }
        #expect(throws: CheckpointError.invalid("layer_types has 1 entries for 6 layers")) {
            try self.config(#", "layer_types": ["sliding_attention"]"#).attentionKinds()
        }
        #expect(throws: CheckpointError.unsupported("compress ratio 16 (supported: 0, 4, 128)")) {
            try self.config(#", "compress_ratios": [0, 16, 0, 0, 0, 0]"#).attentionKinds()
        }
        #expect(throws: CheckpointError.unsupported("mlp layer type 'dense' (supported: hash_moe, moe)")) {
            try self.config(#", "mlp_layer_types": ["dense", "moe", "moe", "moe", "moe", "moe"]"#).routingKinds()
        }
    }

    @Test func theFixtureReportsItsCachePerLayerType() throws {
        let model = try #require(try HuggingFaceModel.languageModel(directory: TestPaths.fixtures.appendingPathComponent("models/deepseek_v4"),
                                                                    device: CPUDevice()) as? DeepSeekV4Model)
        #expect(model.cacheLayout.bytesPerToken() == 4 * 4 * 272 && model.cacheLayout.bytesPerToken(.bf16) == 2 * 4 * 272)
        #expect(model.cacheLayout.layerSummary(.f16)[0] == "sliding window 8 ×1: 64 B/token for the last 8 tokens only")
        #expect(model.cacheLayout.layerSummary() == [
            "sliding window 8 ×1: 128 B/token for the last 8 tokens only",
            "compressed 1/4 ×2: 48.0 B/token + 128 B/token for the last 8 tokens + 768 B/token for the last 8",
            "compressed 1/8 ×1: 16.0 B/token + 128 B/token for the last 8 tokens + 256 B/token for the last 16",
        ])
    }
}
