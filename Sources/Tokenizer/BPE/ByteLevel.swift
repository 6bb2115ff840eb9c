/// GPT-2's byte-level alphabet: every byte maps to one printable Unicode scalar, so byte strings can
/// live in a text vocabulary. Printable Latin-1 bytes map to themselves; the rest to U+0100 onwards.
public enum ByteLevel {
    /// byte → scalar
    public static let encoder: [Unicode.Scalar] = {
        var table = [Unicode.Scalar](repeating: " ", count: 256)
        var next: UInt32 = 256
        for b in 0..<256 {
            let printable = (33...126).contains(b) || (161...172).contains(b) || (174...255).contains(b)
            if printable {
                table[b] = Unicode.Scalar(UInt32(b))!
            } else {
                table[b] = Unicode.Scalar(next)!
                next += 1
            }
        }
        return table
    }()

    /// scalar value → byte, or -1; the alphabet lies below U+0144.
    static let decoderTable: [Int16] = {
        var t = [Int16](repeating: -1, count: 0x144)
        for (b, s) in encoder.enumerated() { t[Int(s.value)] = Int16(b) }
        return t
    }()

    /// scalar → byte
    public static let decoder: [Unicode.Scalar: UInt8] = {
        var d: [Unicode.Scalar: UInt8] = [:]
        for (b, s) in encoder.enumerated() { d[s] = UInt8(b) }
        return d
    }()

    /// Maps UTF-8 bytes of `text` to the byte-level alphabet.
    public static func encode<S: Sequence>(_ bytes: S) -> String where S.Element == UInt8 {
        var s = String.UnicodeScalarView()
        for b in bytes { s.append(encoder[Int(b)]) }
        return String(s)
    }

    /// Maps a byte-level token back to raw bytes; scalars outside the alphabet pass through as UTF-8.
    public static func decode(_ token: String, into out: inout [UInt8]) {
        for s in token.unicodeScalars {
            if let b = decoder[s] { out.append(b) } else { out.append(contentsOf: Array(String(s).utf8)) }
        }
    }

    /// HF's ByteLevel decoder on one token's UTF-8: its bytes if every scalar is in the alphabet,
    /// else the token unchanged.
    static func decodeToken(_ token: [UInt8], into out: inout [UInt8]) {
        let start = out.count
        var i = 0
        let ok: Bool = token.withUnsafeBufferPointer { b in
            while i < b.count {
                let (v, n) = UTF8Scalars.decode(b, i)
                guard v < 0x144, case let byte = decoderTable[Int(v)], byte >= 0 else { return false }
                out.append(UInt8(byte))
                i += n
            }
            return true
        }
        if !ok {
            out.removeSubrange(start...)
            out.append(contentsOf: token)
        }
    }
}
