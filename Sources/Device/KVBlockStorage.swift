/// Paged key/value memory: for each layer, `blockCount × blockSize` slots of `width` floats.
/// A token's cache entry lives in slot `blockTable[position / blockSize] · blockSize + position % blockSize`.
///
/// What a slot holds is the model's business: GQA models store K then V (`width = 2·G·D`);
/// MLA models store one compressed latent (`width = kv_lora_rank + rope dim`).
/// NOTE: owned by the engine thread; never touched concurrently from two steps.
public final class KVBlockStorage: @unchecked Sendable {
    public let layers: Int
    public let blockCount: Int
    public let blockSize: Int
    public let width: Int
    /// One buffer per layer, `blockCount · blockSize · width` floats, all in `memory`.
    var buffers: [UnsafeMutableBufferPointer<Float>]
    /// The layers' buffers in one allocation, on transparent huge pages from 2 MB on (as the weights): a
    /// decoding token reads its sequence's entries of every layer, scattered over blocks, and on 4 KB pages
    /// a long context's entries are thousands of pages, more than the TLB holds.
    private let memory: WeightChunk

    public init(layers: Int, blockCount: Int, blockSize: Int, width: Int) {
        precondition(layers >= 0 && blockCount > 0 && blockSize > 0 && width > 0)
        self.layers = layers
        self.blockCount = blockCount
        self.blockSize = blockSize
        self.width = width
        let perLayer = blockCount * blockSize * width, bytes = layers * perLayer * MemoryLayout<Float>.size
        memory = WeightChunk(capacity: bytes, hugePages: bytes >= WeightChunk.hugePage)
        let base = memory.base.bindMemory(to: Float.self, capacity: layers * perLayer)
        buffers = (0..<layers).map { UnsafeMutableBufferPointer(start: base + $0 * perLayer, count: perLayer) }
        for b in buffers { b.initialize(repeating: 0) }
    }

    /// Bytes held (fp32 values).
    public var byteCount: Int { layers * blockCount * blockSize * width * MemoryLayout<Float>.size }

    /// How many blocks fit in `bytes` for this geometry.
    public static func blocks(fitting bytes: Int, layers: Int, blockSize: Int, width: Int) -> Int {
        bytes / max(1, layers * blockSize * width * MemoryLayout<Float>.size)
    }

    /// The slot of `position` in a sequence with `blockTable`.
    @inline(__always)
    public func slot(position: Int, blockTable: [Int]) -> Int {
        blockTable[position / blockSize] * blockSize + position % blockSize
    }

    /// The floats of one slot of one layer.
    public func entry(layer: Int, slot: Int) -> UnsafeMutableBufferPointer<Float> {
        UnsafeMutableBufferPointer(rebasing: buffers[layer][(slot * width)..<((slot + 1) * width)])
    }
}
