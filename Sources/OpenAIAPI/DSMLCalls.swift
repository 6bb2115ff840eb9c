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
/// the arguments (SGLang reads that form too). Arguments keep the order the model wrote them in.
enum DSMLCalls {
    static let invoke = "<｜DSML｜invoke name=\""
    static let invokeEnd = "</｜DSML｜invoke>"
    static let parameter = "<｜DSML｜parameter name=\""
    static let parameterEnd = "</｜DSML｜parameter>"

    /// The calls in `text` (from the block's opening tag on), or nil when one does not parse: an invoke not closed
    /// (cut short), a parameter without its attributes or closing tag, the same argument twice, or other text
    /// between the parameters.
    static func parse(_ text: String) -> [ParsedToolCall]? {
        var calls: [ParsedToolCall] = []
        var rest = Substring(text)
        while let open = rest.range(of: invoke) {
            let afterOpen = rest[open.upperBound...]
            guard let nameEnd = afterOpen.range(of: "\">") else { return nil }
            let name = String(afterOpen[..<nameEnd.lowerBound])
            let body = afterOpen[nameEnd.upperBound...]
            guard !name.isEmpty, !name.contains("\""), let close = body.range(of: invokeEnd),
                  let arguments = arguments(body[..<close.lowerBound]) else { return nil }
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
            guard rest[..<open.lowerBound].allSatisfy(\.isWhitespace) else { return nil }
            let attributes = rest[open.upperBound...]
            guard let nameEnd = attributes.range(of: "\" string=\""),
                  let kindEnd = attributes[nameEnd.upperBound...].range(of: "\">"),
                  let close = attributes[kindEnd.upperBound...].range(of: parameterEnd) else { return nil }
            let key = String(attributes[..<nameEnd.lowerBound])
            let kind = attributes[nameEnd.upperBound..<kindEnd.lowerBound]
            let raw = String(attributes[kindEnd.upperBound..<close.lowerBound])
            guard !key.isEmpty, !key.contains("\""), !fields.contains(where: { $0.key == key }) else { return nil }
            if kind == "true" {
                fields.append((key, .scalar(.string(raw))))
            } else {
                let value = raw.trimmingCharacters(in: .whitespacesAndNewlines)
                fields.append((key, (try? JSONParser.parseKeepingKeyOrder(Array(value.utf8))) ?? .scalar(.string(value))))
            }
            rest = attributes[close.upperBound...]
        }
        guard rest.allSatisfy(\.isWhitespace) else { return nil }
        return OrderedJSON.object(fields).compactText
    }
}
