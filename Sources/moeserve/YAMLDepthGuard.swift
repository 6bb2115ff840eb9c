/// Refuses YAML nested deeper than any configuration needs before it reaches Yams: libyaml parses nesting by
/// recursion, and a file of a few thousand `[` (or indentation levels) overflowed the stack and killed the
/// process with a segmentation fault.
enum YAMLDepthGuard {
    /// Configuration files nest 3 levels, Ascend profiles 3; this leaves room for anything hand-written.
    static let maxDepth = 64

    /// Throws `message(reason)` when flow brackets nest deeper than `maxDepth` or a line is indented deeper than
    /// `maxDepth` levels of two spaces.
    static func check(_ text: String, _ message: (String) -> Error) throws {
        var depth = 0, quote: UInt8? = nil, atLineStart = true, indent = 0
        for byte in text.utf8 {
            if atLineStart {
                if byte == UInt8(ascii: " ") {
                    indent += 1
                    if indent > 2 * maxDepth { throw message("a line is indented more than \(2 * maxDepth) spaces") }
                    continue
                }
                atLineStart = false
            }
            switch byte {
            case UInt8(ascii: "\n"): atLineStart = true; indent = 0; quote = nil
            case UInt8(ascii: "\""), UInt8(ascii: "'"):
                if quote == nil { quote = byte } else if quote == byte { quote = nil }
            case UInt8(ascii: "[") where quote == nil, UInt8(ascii: "{") where quote == nil:
                depth += 1
                if depth > maxDepth { throw message("brackets nest more than \(maxDepth) levels deep") }
            case UInt8(ascii: "]") where quote == nil, UInt8(ascii: "}") where quote == nil:
                depth = max(0, depth - 1)
            default: break
            }
        }
    }
}
