import COpenSSL

/// Identity of a full KV block's contents: SHA-256 over (parent block's hash, the block's token ids,
/// extra keys such as a tenant's cache salt). Chaining makes a block's hash cover its whole prefix, so
/// two prompts share a block only if everything before it matches too; SHA-256 makes a collision, and so
/// one tenant reading another's cache, practically impossible.
public struct BlockHash: Hashable, Sendable {
    public let bytes: [UInt8]

    public init(parent: BlockHash?, tokens: ArraySlice<Int>, extraKeys: [String] = []) {
        var input: [UInt8] = parent?.bytes ?? [UInt8](repeating: 0, count: 32)
        input.reserveCapacity(input.count + tokens.count * 8 + 16)
        for t in tokens { withUnsafeBytes(of: Int64(t).littleEndian) { input.append(contentsOf: $0) } }
        for key in extraKeys {
            // Length-prefixed so ("ab", "c") and ("a", "bc") differ.
            withUnsafeBytes(of: UInt64(key.utf8.count).littleEndian) { input.append(contentsOf: $0) }
            input.append(contentsOf: key.utf8)
        }
        var digest = [UInt8](repeating: 0, count: Int(SHA256_DIGEST_LENGTH))
        input.withUnsafeBufferPointer { src in
            digest.withUnsafeMutableBufferPointer { dst in _ = SHA256(src.baseAddress, src.count, dst.baseAddress) }
        }
        bytes = digest
    }
}
