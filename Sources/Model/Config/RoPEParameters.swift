import Device
import Foundation

/// RoPE settings as `config.json` spells them: the newer `rope_parameters` object, or the legacy
/// `rope_scaling` object (`type` or `rope_type`) beside a top-level `rope_theta`.
public struct RoPEParameters: Codable, Sendable, Equatable {
    public var rope_type: String?
    public var type: String?
    public var rope_theta: Double?
    public var factor: Double?
    public var original_max_position_embeddings: Int?
    public var beta_fast: Double?
    public var beta_slow: Double?
    public var mscale: Double?
    public var mscale_all_dim: Double?
    public var attention_factor: Double?
    public var low_freq_factor: Double?
    public var high_freq_factor: Double?
    public var truncate: Bool?

    public init(rope_type: String? = nil, rope_theta: Double? = nil) {
        self.rope_type = rope_type
        self.rope_theta = rope_theta
    }

    /// `rope_parameters` wins; else `rope_scaling` with the top-level `rope_theta`; else plain RoPE.
    public static func resolve(parameters: RoPEParameters?, scaling: RoPEParameters?, theta: Double?) -> RoPEParameters {
        var p = parameters ?? scaling ?? RoPEParameters()
        p.rope_type = p.rope_type ?? p.type ?? "default"
        p.rope_theta = p.rope_theta ?? theta ?? 10_000
        return p
    }

    var kind: String { rope_type ?? type ?? "default" }

    /// YaRN's softmax-scale correction, as DeepSeek applies it: mscale(factor, mscale_all_dim)².
    public var softmaxScaleFactor: Float {
        guard kind == "yarn", let factor, let all = mscale_all_dim, all != 0 else { return 1 }
        let m = Self.yarnMscale(factor, all)
        return Float(m * m)
    }

    static func yarnMscale(_ scale: Double, _ m: Double = 1) -> Double { scale <= 1 ? 1 : 0.1 * m * Foundation.log(scale) + 1 }

    /// Inverse frequencies for a rotary width `dim`, computed in fp32 as transformers does.
    public func table(dim: Int, maxPositionEmbeddings: Int) throws -> RoPETable {
        let base = Float(rope_theta ?? 10_000)
        let plain = (0..<(dim / 2)).map { 1 / Foundation.powf(base, Float(2 * $0) / Float(dim)) }
        switch kind {
        case "default":
            return RoPETable(inverseFrequencies: plain)
        case "linear":
            return RoPETable(inverseFrequencies: plain.map { $0 / Float(factor ?? 1) })
        case "llama3":
            return try llama3(plain)
        case "yarn":
            return try yarn(dim: dim, base: base, maxPositionEmbeddings: maxPositionEmbeddings)
        default:
            throw CheckpointError.unsupported("rope type '\(kind)' (supported: default, linear, llama3, yarn)")
        }
    }

    private func llama3(_ plain: [Float]) throws -> RoPETable {
        guard let factor, let low = low_freq_factor, let high = high_freq_factor, let old = original_max_position_embeddings else {
            throw CheckpointError.missingMetadata("llama3 rope factor/low_freq_factor/high_freq_factor/original_max_position_embeddings")
        }
        let (f, lo, hi, ctx) = (Float(factor), Float(low), Float(high), Float(old))
        let (lowWavelen, highWavelen) = (ctx / lo, ctx / hi)
        return RoPETable(inverseFrequencies: plain.map { inv in
            let wavelen = 2 * Float.pi / inv
            let scaled = wavelen > lowWavelen ? inv / f : inv
            guard !(wavelen < highWavelen), !(wavelen > lowWavelen) else { return scaled }
            let smooth = (ctx / wavelen - lo) / (hi - lo)
            return (1 - smooth) * scaled / f + smooth * scaled
        })
    }

    private func yarn(dim: Int, base: Float, maxPositionEmbeddings: Int) throws -> RoPETable {
        guard let original = original_max_position_embeddings else {
            throw CheckpointError.missingMetadata("yarn rope original_max_position_embeddings")
        }
        let factor = self.factor ?? Double(maxPositionEmbeddings) / Double(original)
        var attention = attention_factor
        if attention == nil {
            if let m = mscale, let all = mscale_all_dim, m != 0, all != 0 {
                attention = Self.yarnMscale(factor, m) / Self.yarnMscale(factor, all)
            } else {
                attention = Self.yarnMscale(factor)
            }
        }
        func correctionDim(_ rotations: Double) -> Double {
            Double(dim) * Foundation.log(Double(original) / (rotations * 2 * Double.pi)) / (2 * Foundation.log(Double(base)))
        }
        var low = correctionDim(beta_fast ?? 32), high = correctionDim(beta_slow ?? 1)
        if truncate ?? true { (low, high) = (Foundation.floor(low), Foundation.ceil(high)) }
        (low, high) = (max(low, 0), min(high, Double(dim - 1)))
        if low == high { high += 0.001 }
        let inverse = (0..<(dim / 2)).map { i -> Float in
            let posFreq = Foundation.powf(base, Float(2 * i) / Float(dim))
            let (extrapolation, interpolation) = (1 / posFreq, 1 / (Float(factor) * posFreq))
            let ramp = min(max((Float(i) - Float(low)) / (Float(high) - Float(low)), 0), 1)
            let extrapolationFactor = 1 - ramp
            return interpolation * (1 - extrapolationFactor) + extrapolation * extrapolationFactor
        }
        return RoPETable(inverseFrequencies: inverse, attentionFactor: Float(attention ?? 1))
    }
}
