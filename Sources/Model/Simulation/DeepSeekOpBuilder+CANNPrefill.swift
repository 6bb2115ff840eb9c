import Device

// Huawei's DeepSeek-R1 W8A8 prefill recipe, kernel for kernel: cann-recipes-infer (github hicann/cann-recipes-infer,
// read at commit fbc225d), config models/deepseek_r1/config/prefill_r1_rank_32_32dp_32ep_a8w8.yaml, code
// models/deepseek_r1/models/modeling_deepseek.py (DeepseekV3Attention.forward_page_attention_normal, DeepseekV3MoE,
// DeepseekV3SharedExpert, DeepseekV3DenseMLP), models/deepseek_r1/models/modules.py (DeepseekV3RMSNorm) and
// module/quantization/compressed_tensors/{compressed_tensors_w8a8_int8.py, compressed_tensors_moe_gmm.py}.
// This is the run behind the published A3 prefill measurement the calibration compares against
// (config/ascend/CALIBRATION.md); where it differs from the generic sequence in DeepSeekOpBuilder:
// - every W8A8 linear quantises its bf16 input in its own `npu_dynamic_quant` pass (CompressedTensorsW8A8Int8LinearMethod
//   .apply_weights), so q_a_proj and kv_a_proj_with_mqa each quantise the same hidden states, and o_proj's input is
//   quantised too; the norms write bf16 (npu_rms_norm / npu_add_rms_norm, the residual add fused into the norm);
// - kv_b_proj stays bf16 (utils/convert_model.py `generate_ignore_item` leaves `self_attn.kv_b_proj` unquantised) and
//   runs as two bf16 matmuls (keys, values) over every position; k_rope is repeated per head; q_pe gets its own
//   `npu_interleave_rope`; `npu_kv_rmsnorm_rope_cache_v2(is_output_kv=True)` writes the cache and returns k_rope/k_nope;
// - the attention is `npu_fused_infer_attention_score` on bf16 q/k/v with sparse_mode=3 (causal), as costed;
// - the router casts the hidden states to fp32 and runs an fp32 linear (`_forward_gate`: `.to(torch.float32)`,
//   `params_dtype=torch.float32`, `quant_config=None`);
// - gate/up matmuls (experts, shared expert, dense MLP) output int32 (`output_dtype=torch.int32`) for
//   `npu_dequant_swiglu_quant`, which writes the int8 input of the down matmul.
// Prefill runs eagerly (executor/core/model_worker/model_worker.py: graph mode only for decode); launches are
// asynchronous and this step is device-bound, so no launch cost is added.
extension DeepSeekOpBuilder {
    /// The MLA attention block as the recipe's prefill runs it (`forward_page_attention_normal`), `tokens` new tokens
    /// of `seqs` sequences, each attending to its cached prefix and itself.
    func cannAttention(seqs: Int, tokens: Int) -> [CostOp] {
        let ta = tokens * plan.tp, sa = seqs * plan.tp, r = c.kv_lora_rank, rope = c.qk_rope_head_dim
        let length = tokens / max(seqs, 1), cached = max(0, plan.context - length), positions = sa * (cached + length)
        var ops = [addNorm("attn_add_norm", tokens)]
        if let qLora = c.q_lora_rank {
            ops += [quant("q_a_quant", ta, width: h),
                    CostOp("q_a_proj", .matmul(m: ta, n: qLora, k: h, a: w, b: w, out: .bf16)),
                    rmsNorm("q_norm", ta, width: qLora),
                    quant("q_b_quant", ta, width: qLora),
                    CostOp("q_b_proj", .matmul(m: ta, n: heads * qkDim, k: qLora, a: w, b: w, out: .bf16))]
        } else {
            ops += [quant("q_quant", ta, width: h), CostOp("q_proj", .matmul(m: ta, n: heads * qkDim, k: h, a: w, b: w, out: .bf16))]
        }
        let qRope = Double(ta * heads * rope), latent = Double(ta * cacheWidth) * 2
        ops += [
            quant("kv_a_quant", ta, width: h),
            CostOp("kv_a_proj", .matmul(m: ta, n: cacheWidth, k: h, a: w, b: w, out: .bf16)),
            CostOp("q_rope", .vector(bytesIn: qRope * 2, bytesOut: qRope * 2, ops: qRope * 3, type: .bf16)),
            // Reads the latent, writes the paged cache (bf16: W8A8 is C16) and returns k_rope/k_nope (is_output_kv).
            CostOp("kv_norm+rope+cache", .vector(bytesIn: latent, bytesOut: 2 * latent, ops: latent / 2 * 5, type: .fp32)),
            // k_nope·W_UK and k_nope·W_UV per head: bf16 (kv_b_proj is left unquantised); one matmul of both widths.
            CostOp("kv_b_proj", .matmul(m: positions, n: heads * (c.qk_nope_head_dim + c.v_head_dim), k: r, a: .bf16, b: .bf16, out: .bf16)),
            CostOp("k_rope_repeat", .vector(bytesIn: Double(positions * rope) * 2, bytesOut: Double(heads * positions * rope) * 2,
                                            ops: 0, type: .bf16)),
            CostOp("attention", .attentionPrefill(seqs: sa, length: length, cached: cached, heads: heads,
                                                  qkDim: qkDim, vDim: c.v_head_dim, type: .bf16)),
            quant("o_quant", ta, width: heads * c.v_head_dim),
            CostOp("o_proj", .matmul(m: ta, n: h, k: heads * c.v_head_dim, a: w, b: w, out: .bf16)),
        ]
        if plan.tp > 1 { ops.append(CostOp("tp_reduce", .allReduce(bytes: Double(ta * h) * 2, chips: plan.tp))) }
        ops.append(addNorm("ffn_add_norm", tokens))
        return ops
    }

    /// A W8A8 SwiGLU MLP (shared expert, dense layer): quantise the input, gate/up to int32, dequant-SwiGLU-quant, down.
    func cannMLP(_ prefix: String, tokens: Int, width: Int) -> [CostOp] {
        [quant("\(prefix)_quant", tokens, width: h),
         CostOp("\(prefix)_gate_up", .matmul(m: tokens, n: 2 * width, k: h, a: w, b: w, out: .fp32)),
         dequantSwiGLUQuant("\(prefix)_swiglu", tokens, width: width),
         CostOp("\(prefix)_down", .matmul(m: tokens, n: h, k: width, a: w, b: w, out: .bf16))]
    }

    /// The router in fp32: cast the bf16 hidden states, then an fp32 × fp32 linear. The cost model has no fp32 cube
    /// rate (no source gives one), so its cube time is the bf16 rate's: a lower bound; the bytes are fp32's.
    func cannRouter(tokens: Int) -> [CostOp] {
        let n = Double(tokens * h)
        return [CostOp("router_cast", .vector(bytesIn: n * 2, bytesOut: n * 4, ops: n, type: .fp32)),
                CostOp("router", .matmul(m: tokens, n: c.n_routed_experts ?? 0, k: h, a: .fp32, b: .fp32, out: .fp32))]
    }

    /// `npu_dynamic_quant` (per-token, smoothed): read bf16, write int8 and one fp32 scale per token; per element a
    /// smoothing multiply, |x|, the row max, the scale multiply and the cast.
    func quant(_ name: String, _ tokens: Int, width: Int) -> CostOp {
        let n = Double(tokens * width)
        return CostOp(name, .vector(bytesIn: n * 2, bytesOut: n + Double(tokens) * 4, ops: n * 5, type: .fp32))
    }

    /// `npu_add_rms_norm(residual, x)`: reads both, writes the normalised output and the new residual (all bf16).
    func addNorm(_ name: String, _ tokens: Int) -> CostOp {
        let n = Double(tokens * h)
        return CostOp(name, .vector(bytesIn: n * 4, bytesOut: n * 4, ops: n * 6, type: .fp32))
    }

    /// `npu_rms_norm` bf16 → bf16.
    func rmsNorm(_ name: String, _ tokens: Int, width: Int) -> CostOp {
        let n = Double(tokens * width)
        return CostOp(name, .vector(bytesIn: n * 2, bytesOut: n * 2, ops: n * 5, type: .fp32))
    }

    /// `npu_dequant_swiglu_quant`: reads the int32 gate and up halves (4 B each), writes the int8 activation and one
    /// fp32 scale per row; SwiGLU's 8 ops per element plus dequantising both halves and re-quantising (4).
    func dequantSwiGLUQuant(_ name: String, _ rows: Int, width: Int) -> CostOp {
        let n = Double(rows * width)
        return CostOp(name, .vector(bytesIn: n * 8, bytesOut: n + Double(rows) * 4, ops: n * 12, type: .fp32))
    }
}
