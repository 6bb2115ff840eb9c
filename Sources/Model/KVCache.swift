import Device

/// The key/value cache of one sequence for a GQA model: per layer, K and V as `[capacity, G·D]`
/// fp32 rows (G kv heads, D head dim), filled in position order.
///
/// NOTE: contiguous per sequence for the walking skeleton; the engine issue replaces it with paged
/// blocks shared through a block pool.
public struct KVCache: Sendable {
    public let capacity: Int
    public let rowWidth: Int
    public private(set) var keys: [[Float]]
    public private(set) var values: [[Float]]
    /// Number of positions filled (the next token's position).
    public private(set) var count = 0

    public init(layers: Int, capacity: Int, rowWidth: Int) {
        self.capacity = capacity
        self.rowWidth = rowWidth
        keys = Array(repeating: [], count: layers)
        values = Array(repeating: [], count: layers)
    }

    /// Appends `k`, `v` ([T, G·D]) for `layer` at positions count..<count+T. Storage grows on demand.
    mutating func append(layer: Int, k: Matrix, v: Matrix) {
        precondition(k.cols == rowWidth && v.cols == rowWidth)
        precondition(count + k.rows <= capacity, "KV cache overflow: \(count + k.rows) > \(capacity)")
        let needed = (count + k.rows) * rowWidth
        if keys[layer].count < needed {
            keys[layer].append(contentsOf: repeatElement(0, count: needed - keys[layer].count))
            values[layer].append(contentsOf: repeatElement(0, count: needed - values[layer].count))
        }
        let start = count * rowWidth
        keys[layer].replaceSubrange(start..<(start + k.data.count), with: k.data)
        values[layer].replaceSubrange(start..<(start + v.data.count), with: v.data)
    }

    /// Marks T more positions as filled (after every layer appended them).
    public mutating func advance(by t: Int) { count += t }

    /// Drops everything (the sequence starts over).
    public mutating func reset() { count = 0 }
}
