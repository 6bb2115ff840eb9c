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
}
