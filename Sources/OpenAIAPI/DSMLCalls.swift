import Foundation

/// Tool calls in DeepSeek's DSML markup (V3.2's `<｜DSML｜function_calls>` block, V4's `<｜DSML｜tool_calls>`), as
/// their chat templates show the model and write past calls:
///
///     <｜DSML｜invoke name="get_weather">
///     <｜DSML｜parameter name="city" string="true">Paris</｜DSML｜parameter>
///     <｜DSML｜parameter name="days" string="false">3</｜DSML｜parameter>
///     </｜DSML｜invoke>
///
/// A `string="true"` value is the string as written (no escaping, no trimming); any other is JSON (a value that does
/// not parse is kept as a string, as SGLang's parser keeps it). An invoke whose body is one JSON object takes it as
/// the arguments (SGLang reads that form too). Tags may space their attributes (`name = "x"`, `name="x" >`), as
/// SGLang's patterns allow. Arguments keep the order the model wrote them in.
enum DSMLCalls {
    static let invoke = "<｜DSML｜invoke"
    static let invokeEnd = "</｜DSML｜invoke>"
    static let parameter = "<｜DSML｜parameter"
    static let parameterEnd = "</｜DSML｜parameter>"

    /// The calls in `text` (from the block's opening tag on), or nil when one does not parse: an invoke not closed
    /// (cut short), a tag without its name, a parameter without its closing tag, the same argument twice, or other
    /// text between the parameters.
    static func parse(_ text: String) -> [ParsedToolCall]? {
        var calls: [ParsedToolCall] = []
        var rest = Substring(text)
        while let open = rest.range(of: invoke) {
            guard let (attributes, body) = tag(rest[open.upperBound...]), let name = attributes["name"], !name.isEmpty,
                  let close = body.range(of: invokeEnd), let arguments = arguments(body[..<close.lowerBound]) else { return nil }
            calls.append(ParsedToolCall(name: name, arguments: arguments))
            rest = body[close.upperBound...]
        }
        return calls
    }

    /// An invoke's body as the arguments' compact JSON text.
    static func arguments(_ body: Substring) -> String? {
        let trimmed = body.trimmingCharacters(in: .whitespacesAndNewlines)
        if trimmed.hasPrefix("{"), let json = try? JSONParser.parseKeepingKeyOrder(Array(trimmed.utf8)), case .object = json {
            return json.compactText
        }
        var fields: [(key: String, value: OrderedJSON)] = []
        var rest = body
        while let open = rest.range(of: parameter) {
            guard rest[..<open.lowerBound].allSatisfy(\.isWhitespace),
                  let (attributes, valueStart) = tag(rest[open.upperBound...]), let key = attributes["name"], !key.isEmpty,
                  let close = valueStart.range(of: parameterEnd), !fields.contains(where: { $0.key == key }) else { return nil }
            let raw = String(valueStart[..<close.lowerBound])
            if attributes["string"] == "true" {
                fields.append((key, .scalar(.string(raw))))
            } else {
                let value = raw.trimmingCharacters(in: .whitespacesAndNewlines)
                fields.append((key, (try? JSONParser.parseKeepingKeyOrder(Array(value.utf8))) ?? .scalar(.string(value))))
            }
            rest = valueStart[close.upperBound...]
        }
        guard rest.allSatisfy(\.isWhitespace) else { return nil }
        return OrderedJSON.object(fields).compactText
    }

    /// A tag's attributes (`key="value"`, spaced any way) and the text after its `>`, from just after its name; nil
    /// when the name runs on (`<｜DSML｜invokeX`), an attribute is malformed or repeated, or the tag never closes.
    static func tag(_ text: Substring) -> (attributes: [String: String], rest: Substring)? {
        var attributes: [String: String] = [:]
        var i = text.startIndex
        guard i < text.endIndex, text[i].isWhitespace || text[i] == ">" else { return nil }
        func skipSpace() { while i < text.endIndex, text[i].isWhitespace { i = text.index(after: i) } }
        while true {
            skipSpace()
            guard i < text.endIndex else { return nil }
            if text[i] == ">" { return (attributes, text[text.index(after: i)...]) }
            let keyStart = i
            while i < text.endIndex, text[i].isLetter || text[i] == "_" { i = text.index(after: i) }
            let key = String(text[keyStart..<i])
            skipSpace()
            guard !key.isEmpty, i < text.endIndex, text[i] == "=" else { return nil }
            i = text.index(after: i)
            skipSpace()
            guard i < text.endIndex, text[i] == "\"" else { return nil }
            let valueStart = text.index(after: i)
            guard let end = text[valueStart...].firstIndex(of: "\""), attributes[key] == nil else { return nil }
            attributes[key] = String(text[valueStart..<end])
            i = text.index(after: end)
        }
    }
}
