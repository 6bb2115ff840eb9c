import CKernels

/// What a KV cache slot's numbers are stored as. `f32` keeps every written value exactly; `f16` (the CPU's
/// default, as llama.cpp's server's) and `bf16` halve the cache's memory and the bytes a decoding token's
/// attention reads, at the cost of rounding each written value once (to nearest even; f16 saturates at
/// ±65,504, bf16 keeps fp32's range with 8 significant bits). Attention widens each stored value exactly, so
/// its result equals the fp32 cache's result on the rounded values bit for bit.
public enum KVElement: String, Sendable, CaseIterable {
    case f32, f16, bf16

    public var bytes: Int { self == .f32 ? 4 : 2 }

    /// What `auto` (the `--kv-cache-dtype` default) stores on a CPU with `features`: fp16 where the attention
    /// kernels widen it in vectors (the AVX2 kernels, which need F16C), else fp32 (the portable loops widen
    /// element by element: a harness ran their fp16 attention 2.1× slower than fp32). At 16 sequences
    /// decoding from 1,024 tokens SmolLM2's step reads more cache than weights, and fp16 ran it 1.45× as fast
    /// as fp32 (`moeserve bench --decode-context 1024`: 401 → 582 tok/s). fp16 rather than bf16: 11
    /// significant bits where bf16 keeps 8 (stores saturate at ±65,504 instead of overflowing).
    public static func automatic(for features: CPUFeatures) -> KVElement {
        QuantKernels.isa(for: features) >= Int32(CK_ISA_AVX2) ? .f16 : .f32
    }

    /// The values `setting` accepts, for error messages.
    public static let settingNames = "auto, f32, f16 or bf16"

    /// A `--kv-cache-dtype` value: `auto` (`automatic(for: features)`) or an element's name; nil otherwise.
    public static func setting(_ value: String, features: @autoclosure () -> CPUFeatures = CPUFeatures.detect()) -> KVElement? {
        value == "auto" ? automatic(for: features()) : KVElement(rawValue: value)
    }

    /// The C kernels' CK_KV_* code.
    var code: Int32 {
        switch self {
        case .f32: return Int32(CK_KV_F32)
        case .f16: return Int32(CK_KV_F16)
        case .bf16: return Int32(CK_KV_BF16)
        }
    }
}

/// Paged key/value memory: for each layer, `blockCount × blockSize` slots of `width` numbers of type `element`.
/// A token's cache entry lives in slot `blockTable[position / blockSize] · blockSize + position % blockSize`.
///
/// What a slot holds is the model's business: GQA models store K then V (`width = 2·G·D`);
/// MLA models store one compressed latent (`width = kv_lora_rank + rope dim`).
///
/// Memory order: an entry's columns come in fields of `fieldWidth` (a GQA model's K or V of one KV head;
/// by default the whole entry), and each layer keeps each field of every slot together: field f of slot s
/// is at (f · slotCount + s) · fieldWidth elements from the layer's start. A GQA group's attention then reads
/// its keys (and values) as one run per block of consecutive slots instead of 256 bytes out of every
/// 1,536-byte entry, a stream these machines read at a fraction of the rate (see CPUDevice.pagedAttention).
/// With one field per entry this is the plain [slot][width] order.
/// NOTE: owned by the engine thread; never touched concurrently from two steps.
public final class KVBlockStorage: @unchecked Sendable {
    public let layers: Int
    public let blockCount: Int
    public let blockSize: Int
    public let width: Int
    /// Columns per field (divides `width`); see the type's note on memory order.
    public let fieldWidth: Int
    public let element: KVElement
    /// Elements per layer (blockCount · blockSize · width).
    private let perLayer: Int
    /// The layers' buffers in one allocation, on transparent huge pages from 2 MB on (as the weights): a
    /// decoding token reads its sequence's entries of every layer, scattered over blocks, and on 4 KB pages
    /// a long context's entries are thousands of pages, more than the TLB holds.
    private let memory: WeightChunk

    public init(layers: Int, blockCount: Int, blockSize: Int, width: Int, fieldWidth: Int? = nil, element: KVElement = .f32) {
        precondition(layers >= 0 && blockCount > 0 && blockSize > 0 && width > 0)
        let fieldWidth = fieldWidth ?? width
        precondition(fieldWidth > 0 && width % fieldWidth == 0, "KVBlockStorage: field width \(fieldWidth) does not divide \(width)")
        self.layers = layers
        self.blockCount = blockCount
        self.blockSize = blockSize
        self.width = width
        self.fieldWidth = fieldWidth
        self.element = element
        perLayer = blockCount * blockSize * width
        let bytes = layers * perLayer * element.bytes
        memory = WeightChunk(capacity: bytes, hugePages: bytes >= WeightChunk.hugePage)
        memory.base.initializeMemory(as: UInt8.self, repeating: 0, count: bytes)   // zero in every element type
    }

    /// Bytes held.
    public var byteCount: Int { layers * perLayer * element.bytes }

    /// How many blocks fit in `bytes` for this geometry.
    public static func blocks(fitting bytes: Int, layers: Int, blockSize: Int, width: Int, element: KVElement = .f32) -> Int {
        bytes / max(1, layers * blockSize * width * element.bytes)
    }

    /// The slot of `position` in a sequence with `blockTable`.
    @inline(__always)
    public func slot(position: Int, blockTable: [Int]) -> Int {
        blockTable[position / blockSize] * blockSize + position % blockSize
    }

    /// Slots per layer.
    public var slotCount: Int { blockCount * blockSize }

    /// Where column `column` of slot 0 of layer `layer` is: that column of slot s is `s · fieldWidth` elements
    /// further, and the columns up to the end of its field follow it. Kernels read a field's columns of
    /// every slot from here with stride `fieldWidth`.
    func fieldBase(layer: Int, column: Int) -> UnsafeMutableRawPointer {
        precondition(layer >= 0 && layer < layers, "KVBlockStorage: layer \(layer) of \(layers)")
        precondition(column >= 0 && column < width, "KVBlockStorage: column \(column) of \(width)")
        let (field, within) = column.quotientAndRemainder(dividingBy: fieldWidth)
        return memory.base + (layer * perLayer + field * slotCount * fieldWidth + within) * element.bytes
    }

    /// One slot of one layer as fp32 (a copy: what the attention kernels see).
    public func entry(layer: Int, slot: Int) -> [Float] {
        [Float](unsafeUninitializedCapacity: width) { buffer, count in
            read(layer: layer, slot: slot, into: buffer.baseAddress!)
            count = width
        }
    }

    /// Writes `width` floats of slot `slot` of layer `layer`, widened from the stored elements, into `out`.
    func read(layer: Int, slot: Int, into out: UnsafeMutablePointer<Float>) {
        precondition(slot >= 0 && slot < slotCount, "KVBlockStorage: slot \(slot) is outside the cache")
        for column in stride(from: 0, to: width, by: fieldWidth) {
            ck_kv_load(element.code, fieldBase(layer: layer, column: column) + slot * fieldWidth * element.bytes, fieldWidth, out + column)
        }
    }

    /// Stores `values.count` floats into slot `slot` of layer `layer` from element `offset` on, rounded to the
    /// cache's element type (`isa`: which conversion loop; every one gives the same bits).
    public func store(_ values: UnsafeBufferPointer<Float>, layer: Int, slot: Int, offset: Int, isa: Int32 = Int32(CK_ISA_PORTABLE)) {
        precondition(slot >= 0 && slot < slotCount && offset >= 0 && offset + values.count <= width,
                     "KVBlockStorage: slot \(slot) or columns \(offset)..<\(offset + values.count) outside the cache")
        guard let src = values.baseAddress else { return }
        var column = offset
        while column < offset + values.count {   // field by field
            let n = min(offset + values.count, (column / fieldWidth + 1) * fieldWidth) - column
            ck_kv_store(isa, element.code, src + (column - offset), n,
                        fieldBase(layer: layer, column: column) + slot * fieldWidth * element.bytes)
            column += n
        }
    }
}
