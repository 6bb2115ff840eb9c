import Foundation

/// JSON string literals (RFC 8259), written once for every module that emits JSON by hand: HTTPCore's error
/// bodies, OpenAIAPI's `JSONValue`, and the `moeserve` JSON log lines.
///
/// Escapes `"` and `\`, the short forms `\n \r \t \b \f`, every other control character as `\u00XX`, and
/// U+2028/U+2029 as `\u2028`/`\u2029` (valid JSON either way, but JavaScript before ES2019 and some log
/// pipelines treat them as line breaks). Everything else is written as UTF-8, unchanged.
public enum JSONString {
    /// Appends `text` as a quoted JSON string literal.
    public static func append(_ text: String, to out: inout String) {
        out += "\""
        appendEscaped(text, to: &out)
        out += "\""
    }

    /// `text` as a quoted JSON string literal.
    public static func literal(_ text: String) -> String {
        var out = ""
        append(text, to: &out)
        return out
    }

    /// Appends the escaped contents of `text`, without the quotes.
    public static func appendEscaped(_ text: String, to out: inout String) {
        for scalar in text.unicodeScalars {
            switch scalar {
            case "\"": out += "\\\""
            case "\\": out += "\\\\"
            case "\n": out += "\\n"
            case "\r": out += "\\r"
            case "\t": out += "\\t"
            case "\u{08}": out += "\\b"
            case "\u{0C}": out += "\\f"
            case _ where scalar.value < 0x20 || scalar.value == 0x2028 || scalar.value == 0x2029:
                out += "\\u"
                let hex = String(scalar.value, radix: 16)
                out += String(repeating: "0", count: 4 - hex.count) + hex
            default: out.unicodeScalars.append(scalar)
            }
        }
    }
}
