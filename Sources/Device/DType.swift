/// Element types a weight tensor can arrive in. Raw values are ggml's type ids, so a GGUF
/// tensor-info type maps straight onto this enum; types ggml lacks get ids far above ggml's range.
public enum DType: UInt32, Sendable, CaseIterable, CustomStringConvertible {
    case f32 = 0
    case f16 = 1
    case q4_0 = 2
    case q4_1 = 3
    case q8_0 = 8
    case bf16 = 30
    /// FP8 E4M3 ("fn": no infinities, one NaN pattern), as in DeepSeek-V3's release. Not a ggml type.
    case f8e4m3 = 0x1_0000

    /// Elements per quantisation block (1 for plain floats).
    public var blockSize: Int {
        switch self {
        case .f32, .f16, .bf16, .f8e4m3: return 1
        case .q4_0, .q4_1, .q8_0: return 32
        }
    }

    /// Bytes per block: Q4_0 = fp16 d + 16 nibble bytes; Q4_1 adds fp16 m; Q8_0 = fp16 d + 32 int8.
    public var blockBytes: Int {
        switch self {
        case .f32: return 4
        case .f16, .bf16: return 2
        case .f8e4m3: return 1
        case .q4_0: return 18
        case .q4_1: return 20
        case .q8_0: return 34
        }
    }

    /// Bytes needed for `count` elements, or nil when `count` is not a whole number of blocks.
    public func byteCount(elements count: Int) -> Int? {
        guard count >= 0, count % blockSize == 0 else { return nil }
        let (bytes, overflow) = (count / blockSize).multipliedReportingOverflow(by: blockBytes)
        return overflow ? nil : bytes
    }

    public var description: String {
        switch self {
        case .f32: return "F32"
        case .f16: return "F16"
        case .bf16: return "BF16"
        case .q4_0: return "Q4_0"
        case .q4_1: return "Q4_1"
        case .q8_0: return "Q8_0"
        case .f8e4m3: return "F8_E4M3"
        }
    }
}
