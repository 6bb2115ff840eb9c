import Foundation

/// How a model writes tool calls in its own text, recognised from its chat template (for `tool_choice: auto`).
public enum ToolCallFormat: String, Sendable, Equatable {
    /// `<tool_call>{"name": …, "arguments": {…}}</tool_call>`, one block per call (Qwen2.5/3, Hermes).
    case hermes
    /// `<｜tool▁calls▁begin｜><｜tool▁call▁begin｜>NAME<｜tool▁sep｜>ARGS<｜tool▁call▁end｜>…<｜tool▁calls▁end｜>`
    /// (DeepSeek-V3.1 and later; V3's `function<｜tool▁sep｜>NAME` + a fenced json block is read too).
    case deepseek
    /// `[TOOL_CALLS][{"name": …, "arguments": {…}}, …]` (Mistral Nemo) or `[TOOL_CALLS]NAME[ARGS]{…}` per call
    /// (Mistral Small 3.2, Devstral, Ministral 3).
    case mistral
    /// DeepSeek's DSML (V3.2): `<｜DSML｜function_calls>`, then per call `<｜DSML｜invoke name="NAME">` with a
    /// `<｜DSML｜parameter name="KEY" string="true|false">VALUE</｜DSML｜parameter>` per argument (a string as is,
    /// anything else as JSON) and `</｜DSML｜invoke>`.
    case dsmlFunctionCalls = "deepseek_v32"
    /// DeepSeek-V4's DSML: the same, in a `<｜DSML｜tool_calls>` block.
    case dsmlToolCalls = "deepseek_v4"

    /// The format a chat template writes tool calls in, if it shows the model its tools and writes calls in one
    /// this server reads. `<tool_call>` alone is not enough: Qwen3-Coder's and Nemotron's `<function=…>` and GLM's
    /// `<arg_key>` blocks use it too, with no JSON inside; DeepSeek-V3.1's own template never shows the tools.
    public static func detect(template: String) -> ToolCallFormat? {
        guard template.contains("tools") else { return nil }
        if template.contains("<tool_call>") {
            let json = template.contains("\"arguments\"") && !template.contains("<function=") && !template.contains("<arg_key>")
            return json ? .hermes : nil
        }
        if template.contains("｜DSML｜"), template.contains("invoke name=") {
            if template.contains("function_calls>") { return .dsmlFunctionCalls }
            if template.contains("tool_calls>") { return .dsmlToolCalls }
            return nil
        }
        if template.contains("tool▁calls▁begin") { return .deepseek }
        if template.contains("[TOOL_CALLS]") { return .mistral }
        return nil
    }

    /// The text that starts the calls.
    var marker: String {
        switch self {
        case .hermes: return "<tool_call>"
        case .deepseek: return "<｜tool▁calls▁begin｜>"
        case .mistral: return "[TOOL_CALLS]"
        case .dsmlFunctionCalls: return "<｜DSML｜function_calls>"
        case .dsmlToolCalls: return "<｜DSML｜tool_calls>"
        }
    }
}

/// A call the model made: the function's name and its arguments as JSON text.
struct ParsedToolCall: Sendable, Equatable {
    var name: String
    var arguments: String
}

/// What a chat choice's text is when tools are in play.
enum ToolOutput: Sendable, Equatable {
    /// `tool_choice` names a function: the text is its arguments.
    case named(String)
    /// `tool_choice: required`: the text is a JSON array of `{"name", "parameters"}`.
    case required
    /// `tool_choice: auto`: text, then possibly calls in the model's own format, to these functions, at most one
    /// unless parallel calls are allowed.
    case auto(ToolCallFormat, names: Set<String>, parallel: Bool)

    /// A finished choice's text as content and calls. Text whose calls do not parse stays content, whole.
    func extract(_ text: String) -> (content: String?, calls: [ParsedToolCall]) {
        switch self {
        case let .named(name):
            // A stop string can cut the forced arguments short: then they are text, not a call.
            guard let arguments = Self.objectText(text) else { return (text, []) }
            return (nil, [ParsedToolCall(name: name, arguments: arguments)])
        case .required:
            guard case let .array(items)? = try? JSONParser.parseKeepingKeyOrder(Array(text.utf8)) else { return (text, []) }
            var calls: [ParsedToolCall] = []
            for item in items {
                guard case let .scalar(.string(name))? = item["name"], let args = item["parameters"] else { return (text, []) }
                calls.append(ParsedToolCall(name: name, arguments: args.compactText))
            }
            return (nil, calls)
        case let .auto(format, names, parallel):
            guard let start = text.range(of: format.marker),
                  let calls = accepted(Self.calls(String(text[start.lowerBound...]), format), names: names, parallel: parallel) else { return (text, []) }
            // The text before the calls, as streamed; none when it is only whitespace.
            let before = String(text[..<start.lowerBound])
            return (before.allSatisfy(\.isWhitespace) ? nil : before, calls)
        }
    }

    /// Calls to declared functions (a call to another is not one: the text stays text), the first only without
    /// parallel calls (OpenAI: at most one).
    func accepted(_ calls: [ParsedToolCall]?, names: Set<String>, parallel: Bool) -> [ParsedToolCall]? {
        guard let calls, !calls.isEmpty, calls.allSatisfy({ names.contains($0.name) }) else { return nil }
        return parallel ? calls : [calls[0]]
    }

    /// The calls in `text` (which starts with the format's marker), or nil if any does not parse.
    static func calls(_ text: String, _ format: ToolCallFormat) -> [ParsedToolCall]? {
        switch format {
        case .hermes:
            var calls: [ParsedToolCall] = []
            for piece in text.components(separatedBy: "<tool_call>").dropFirst() {
                let body = piece.components(separatedBy: "</tool_call>")[0]
                guard let call = nameAndArguments(body) else { return nil }
                calls.append(call)
            }
            return calls
        case .deepseek:
            var calls: [ParsedToolCall] = []
            for piece in text.components(separatedBy: "<｜tool▁call▁begin｜>").dropFirst() {
                let body = piece.components(separatedBy: "<｜tool▁call▁end｜>")[0]
                let parts = body.components(separatedBy: "<｜tool▁sep｜>")
                guard parts.count == 2 else { return nil }
                var name = parts[0].trimmingCharacters(in: .whitespacesAndNewlines), args = parts[1]
                if name == "function", args.contains("```") {   // V3: function<｜tool▁sep｜>NAME\n```json\nARGS\n```
                    let lines = args.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
                    guard lines.count == 2 else { return nil }
                    name = lines[0].trimmingCharacters(in: .whitespaces)
                    args = String(lines[1]).trimmingCharacters(in: .whitespacesAndNewlines)
                    if args.hasPrefix("```json") { args.removeFirst(7) }
                    if args.hasSuffix("```") { args.removeLast(3) }
                }
                guard !name.isEmpty, let json = try? JSONParser.parseKeepingKeyOrder(Array(args.utf8)), case .object = json else { return nil }
                calls.append(ParsedToolCall(name: name, arguments: json.compactText))
            }
            return calls
        case .mistral:
            let body = text.dropFirst(ToolCallFormat.mistral.marker.count).trimmingCharacters(in: .whitespacesAndNewlines)
            if body.hasPrefix("[") {   // Nemo: one JSON array of calls
                guard case let .array(items)? = try? JSONParser.parseKeepingKeyOrder(Array(body.utf8)) else { return nil }
                var calls: [ParsedToolCall] = []
                for item in items {
                    guard let call = nameAndArguments(item) else { return nil }
                    calls.append(call)
                }
                return calls
            }
            // Small 3.2 and later: NAME[ARGS]{…} (or NAME[CALL_ID]id[ARGS]{…}) after each marker.
            var calls: [ParsedToolCall] = []
            for piece in text.components(separatedBy: ToolCallFormat.mistral.marker).dropFirst() {
                let parts = piece.components(separatedBy: "[ARGS]")
                guard parts.count == 2 else { return nil }
                let name = parts[0].components(separatedBy: "[CALL_ID]")[0].trimmingCharacters(in: .whitespacesAndNewlines)
                guard !name.isEmpty, let args = objectText(parts[1]) else { return nil }
                calls.append(ParsedToolCall(name: name, arguments: args))
            }
            return calls
        case .dsmlFunctionCalls, .dsmlToolCalls:
            return DSMLCalls.parse(text)
        }
    }

    /// `{"name": …, "arguments": {…}}` (or `"parameters"`, as some models write it); arguments given as a JSON
    /// string must hold an object too.
    private static func nameAndArguments(_ body: String) -> ParsedToolCall? {
        guard let json = try? JSONParser.parseKeepingKeyOrder(Array(body.trimmingCharacters(in: .whitespacesAndNewlines).utf8)) else { return nil }
        return nameAndArguments(json)
    }

    private static func nameAndArguments(_ json: OrderedJSON) -> ParsedToolCall? {
        guard case let .scalar(.string(name))? = json["name"] else { return nil }
        switch json["arguments"] ?? json["parameters"] {
        case let .scalar(.string(text))?: return objectText(text).map { ParsedToolCall(name: name, arguments: $0) }
        case let args?: if case .object = args { return ParsedToolCall(name: name, arguments: args.compactText) }
        case nil: break
        }
        return nil
    }

    /// A JSON object's compact text, or nil if `text` is not one.
    static func objectText(_ text: String) -> String? {
        guard let json = try? JSONParser.parseKeepingKeyOrder(Array(text.trimmingCharacters(in: .whitespacesAndNewlines).utf8)),
              case .object = json else { return nil }
        return json.compactText
    }
}

/// Streams a chat choice's content while holding back what may be tool calls: forced calls are held whole;
/// with `auto`, text is sent until the format's marker shows (a possible start of it is held back), then held.
final class ToolStreamFilter: @unchecked Sendable {
    let output: ToolOutput
    private let lock = NSLock()
    private var held: [Int: String] = [:]
    private var holding: Set<Int> = []
    /// Choices that sent content other than whitespace (before that, whitespace is held too: text that is only
    /// whitespace before the calls is no content, as in the whole answer).
    private var started: Set<Int> = []

    init(output: ToolOutput) { self.output = output }

    /// The content to send now for this piece of a choice's text ("" for none).
    func feed(_ choice: Int, _ text: String) -> String {
        lock.lock()
        defer { lock.unlock() }
        let pending = held[choice, default: ""] + text
        guard case let .auto(format, _, _) = output else { held[choice] = pending; return "" }
        if holding.contains(choice) { held[choice] = pending; return "" }
        let out: String, keep: String
        if let start = pending.range(of: format.marker) {
            holding.insert(choice)
            (out, keep) = (String(pending[..<start.lowerBound]), String(pending[start.lowerBound...]))
        } else {
            // Keep back the longest tail that could begin the marker.
            let marker = Array(format.marker.unicodeScalars), scalars = Array(pending.unicodeScalars)
            var n = min(marker.count - 1, scalars.count)
            while n > 0, !scalars.suffix(n).elementsEqual(marker.prefix(n)) { n -= 1 }
            (out, keep) = (String(String.UnicodeScalarView(scalars.dropLast(n))), String(String.UnicodeScalarView(scalars.suffix(n))))
        }
        if !started.contains(choice), out.allSatisfy(\.isWhitespace) {
            held[choice] = out + keep
            return ""
        }
        started.insert(choice)
        held[choice] = keep
        return out
    }

    /// At a choice's end: the content still to send and its calls (none unless it finished by stopping).
    func finish(_ choice: Int, stopped: Bool) -> (content: String, calls: [ParsedToolCall]) {
        lock.lock()
        defer { lock.unlock() }
        let rest = held.removeValue(forKey: choice) ?? ""
        let wasHolding = holding.remove(choice) != nil
        started.remove(choice)
        guard stopped else { return (rest, []) }
        switch output {
        case .named, .required:
            let (content, calls) = output.extract(rest)
            return (calls.isEmpty ? (content ?? "") : "", calls)
        case let .auto(format, names, parallel):
            let call = String(rest.drop { $0.isWhitespace })   // whitespace held before the calls is not content
            guard wasHolding, let calls = output.accepted(ToolOutput.calls(call, format), names: names, parallel: parallel) else { return (rest, []) }
            return ("", calls)
        }
    }
}

enum ToolCallID {
    /// `call_` and 24 random hex digits, as OpenAI's ids look; for Mistral's templates, which refuse any other
    /// id on the next turn, 9 letters and digits.
    static func make(mistral: Bool = false) -> String {
        if mistral {
            let alphabet = Array("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789")
            return String((0..<9).map { _ in alphabet.randomElement()! })
        }
        return "call_" + hex().prefix(24)
    }

    /// 32 random lowercase hex digits.
    static func hex() -> String { UUID().uuidString.replacingOccurrences(of: "-", with: "").lowercased() }
}
