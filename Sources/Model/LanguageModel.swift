import Device

/// Which positions of a forward pass need logits (the output head is the largest matmul; decode
/// and sampling need only the last row).
public enum LogitRows: Sendable {
    case last
    case all
}

/// A causal language model the engine can run: tokens in, logits out, state in a `KVCache`.
public protocol LanguageModel: AnyObject, Sendable {
    var vocabularySize: Int { get }
    /// Longest sequence (prompt + generated) the model supports.
    var contextLength: Int { get }
    var device: any Device { get }
    /// An empty cache able to hold `capacity` positions.
    func makeCache(capacity: Int) -> KVCache
    /// Runs `tokens` at positions cache.count..<cache.count+T, appends their keys/values to the
    /// cache, and returns logits `[rows, vocab]` for the rows asked for.
    func forward(_ tokens: [Int], cache: inout KVCache, logits: LogitRows) -> Matrix
}
