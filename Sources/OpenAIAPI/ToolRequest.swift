import Engine
import HTTPCore

/// One function the model may call, as the client described it.
public struct ToolDefinition: Sendable, Equatable {
    public var name: String
    /// The whole `{"type": "function", "function": {…}}` object, keys in the client's order (the chat template
    /// renders it, usually with `tojson`).
    public var spec: OrderedJSON
    /// The arguments' JSON Schema; nil: any object.
    public var parameters: OrderedJSON?
    /// Where the request gave `parameters`, for errors (nil: the chat form's `tools[i].function.parameters`).
    var parametersPath: String? = nil
    /// The tool as a Responses API request described it (flat), which its response object repeats.
    var responsesSpec: OrderedJSON? = nil
}

/// `tool_choice`.
public enum ToolChoice: Sendable, Equatable {
    case none, auto, required
    case named(String)

    var name: String {
        switch self {
        case .none: return "none"
        case .auto: return "auto"
        case .required: return "required"
        case let .named(n): return "function '\(n)'"
        }
    }
}

/// `tools`, `tool_choice` and `parallel_tool_calls` of a chat request.
public struct ToolRequest: Sendable, Equatable {
    public var tools: [ToolDefinition]
    public var choice: ToolChoice
    public var parallel: Bool

    static let maxTools = 128

    /// How an API writes a tool and a named `tool_choice`: chat nests both under `function`, the Responses API
    /// writes them flat.
    struct Syntax: Sendable {
        /// One tool (its value, its key-ordered form, its path) as a definition.
        var tool: @Sendable (JSONInput, OrderedJSON, String) throws(APIError) -> ToolDefinition
        /// The function a `tool_choice` object names.
        var namedChoice: @Sendable (FieldReader) throws(APIError) -> String
        /// Where that name is, for errors.
        var namedChoiceParam: String

        static let chat = Syntax(tool: ToolRequest.tool, namedChoice: { c throws(APIError) in
            guard try c.string("type") == "function", let fn = c.raw("function") else {
                throw APIError.invalid("'tool_choice' as an object must be {\"type\": \"function\", \"function\": {\"name\": …}}", param: "tool_choice", code: "invalid_value")
            }
            return try FieldReader(fn, prefix: "tool_choice.function").requiredString("name")
        }, namedChoiceParam: "tool_choice.function.name")
    }

    /// nil when the request has no tools (or `[]`) and no choice other than `none`.
    static func parse(_ f: FieldReader, body: OrderedBody, syntax: Syntax = .chat) throws(APIError) -> ToolRequest? {
        let parallel = try f.bool("parallel_tool_calls") ?? true
        var tools: [ToolDefinition] = []
        if let raw = f.raw("tools") {
            guard case let .array(items) = raw else { throw f.typeError("tools", "an array of tools", raw) }
            guard items.count <= maxTools else {
                throw APIError.invalid("'tools' may hold at most \(maxTools) tools, got \(items.count)", param: "tools", code: "invalid_value")
            }
            if !items.isEmpty {
                guard case let .array(specs)? = try body.value()["tools"] else { throw APIError.invalid("'tools' must be an array", param: "tools") }
                for (i, item) in items.enumerated() { tools.append(try syntax.tool(item, specs[i], "tools[\(i)]")) }
                var seen = Set<String>()
                if let dup = tools.first(where: { !seen.insert($0.name).inserted }) {
                    throw APIError.invalid("two tools are named '\(dup.name)'", param: "tools", code: "invalid_value")
                }
            }
        }
        let choice = try toolChoice(f, tools: tools, syntax: syntax)
        if tools.isEmpty { return nil }
        return ToolRequest(tools: tools, choice: choice, parallel: parallel)
    }

    private static func tool(_ value: JSONInput, _ spec: OrderedJSON, _ path: String) throws(APIError) -> ToolDefinition {
        let t = try FieldReader(value, prefix: path)
        let type = try t.requiredString("type")
        guard type == "function" else {
            throw APIError.invalid("'\(path).type' must be 'function', got '\(type)'", param: "\(path).type", code: "invalid_value")
        }
        if let extra = t.fields.keys.sorted().first(where: { $0 != "type" && $0 != "function" }) {
            throw APIError.invalid("'\(path).\(extra)' is not a field of a function tool", param: "\(path).\(extra)", code: "invalid_value")
        }
        guard let fn = t.raw("function") else {
            throw APIError.invalid("'\(path).function' is required", param: "\(path).function", code: "missing_required_parameter")
        }
        let fp = "\(path).function"
        let function = try FieldReader(fn, prefix: fp)
        let name = try function.requiredString("name")
        try validName(name, param: "\(fp).name")
        _ = try function.string("description")
        _ = try function.bool("strict")
        if let extra = function.fields.keys.sorted().first(where: { !["name", "description", "parameters", "strict"].contains($0) }) {
            throw APIError.invalid("'\(fp).\(extra)' is not a field of a function", param: "\(fp).\(extra)", code: "invalid_value")
        }
        var parameters: OrderedJSON?
        if let p = function.raw("parameters") {
            guard case .object = p else { throw function.typeError("parameters", "a JSON Schema object", p) }
            parameters = spec["function"]?["parameters"]
        }
        return ToolDefinition(name: name, spec: spec, parameters: parameters)
    }

    /// OpenAI's rule (Anthropic's allows 128 characters).
    static func validName(_ name: String, param: String, maxLength: Int = 64) throws(APIError) {
        guard (1...maxLength).contains(name.utf8.count), name.utf8.allSatisfy({ b in
            (0x30...0x39).contains(b) || (0x41...0x5A).contains(b) || (0x61...0x7A).contains(b) || b == 0x5F || b == 0x2D }) else {
            throw APIError.invalid("'\(param)' must be 1 to \(maxLength) letters, digits, '_' or '-', got '\(name)'", param: param, code: "invalid_value")
        }
    }

    private static func toolChoice(_ f: FieldReader, tools: [ToolDefinition], syntax: Syntax) throws(APIError) -> ToolChoice {
        guard let raw = f.raw("tool_choice") else { return tools.isEmpty ? .none : .auto }
        let choice: ToolChoice
        switch raw {
        case let .string(s):
            switch s {
            case "none": choice = .none
            case "auto": choice = .auto
            case "required": choice = .required
            default:
                throw APIError.invalid("'tool_choice' must be 'none', 'auto', 'required' or a named function, got '\(s)'", param: "tool_choice", code: "invalid_value")
            }
        case .object:
            choice = .named(try syntax.namedChoice(try FieldReader(raw, prefix: "tool_choice")))
        default:
            throw f.typeError("tool_choice", "a string or an object", raw)
        }
        if choice != .none, tools.isEmpty {
            throw APIError.invalid("'tool_choice' other than 'none' needs 'tools'", param: "tool_choice", code: "invalid_value")
        }
        if case let .named(name) = choice, !tools.contains(where: { $0.name == name }) {
            throw APIError.invalid("'tool_choice' names '\(name)', which is not among the tools", param: syntax.namedChoiceParam, code: "invalid_value")
        }
        return choice
    }

    /// What the output must be when the call is forced: the named function's arguments, or (`required`) a
    /// JSON array of `{"name": …, "parameters": …}` calls, at least one (exactly one without parallel calls).
    /// Only a forced call compiles the parameters: with `auto` or `none` the schemas are the template's to show,
    /// and may use keywords (`minimum`, `format`, …) a grammar could not keep.
    func forcedGrammar() throws(APIError) -> OutputGrammar? {
        switch choice {
        case .none, .auto: return nil
        case let .named(name):
            let i = tools.firstIndex { $0.name == name }!
            return try Self.arguments(tools[i], index: i)
        case .required:
            // Each function's schema compiled on its own, so its $refs resolve inside it.
            var g = OutputGrammar(nodes: [], root: 0)
            var calls: [Int] = []
            for (i, tool) in tools.enumerated() {
                let arguments = g.append(try Self.arguments(tool, index: i))
                let name = g.add(.literals([Array(JSONString.literal(tool.name).utf8)]))
                calls.append(g.add(.object(properties: [.init(key: Array(#""name""#.utf8), value: name, required: true),
                                                       .init(key: Array(#""parameters""#.utf8), value: arguments, required: true)],
                                           additional: nil)))
                guard g.nodes.count <= Self.maxForcedNodes else {
                    throw APIError.invalid("the tools' parameter schemas are too large together (more than \(Self.maxForcedNodes) parts) for tool_choice 'required'",
                                           param: "tools", code: "invalid_value")
                }
            }
            let call = g.add(.anyOf(calls))
            g.root = g.add(.array(items: call, minItems: 1, maxItems: parallel ? nil : 1))
            if let problem = g.problem { throw APIError.invalid("tool_choice 'required' cannot be followed: \(problem)", param: "tools", code: "invalid_value") }
            return g
        }
    }

    static let maxForcedNodes = 100_000

    /// A function's arguments: an object (OpenAI's rule for `parameters`); no parameters, or `{}`, is any object.
    static func arguments(_ tool: ToolDefinition, index i: Int) throws(APIError) -> OutputGrammar {
        let param = tool.parametersPath ?? "tools[\(i)].function.parameters"
        guard let schema = tool.parameters, case let .object(fields) = schema,
              fields.contains(where: { !SchemaCompiler.annotations.contains($0.key) }) else { return .anyObject }
        let g = try SchemaCompiler.compile(schema, param: param)
        // Objects, or enum/const values that are objects.
        func isObject(_ node: OutputGrammar.Node) -> Bool {
            switch node {
            case .object: return true
            case let .literals(texts): return texts.allSatisfy { $0.first == UInt8(ascii: "{") }
            default: return false
            }
        }
        guard OutputGrammar.leaves(g.nodes)[g.root].allSatisfy({ isObject(g.nodes[$0]) }) else {
            throw APIError.invalid("'\(param)' must describe a JSON object (the arguments are always one)", param: param, code: "invalid_value")
        }
        return g
    }
}

/// A tool call in an assistant message of the conversation so far.
public struct ChatToolCall: Sendable, Equatable {
    public var id: String
    public var name: String
    /// The arguments parsed (the template renders them as an object), keys in their order.
    public var arguments: OrderedJSON

    /// `{"id", "type": "function", "function": {"name", "arguments": "<JSON text>"}}`.
    static func parse(_ value: JSONInput, path: String) throws(APIError) -> ChatToolCall {
        let f = try FieldReader(value, prefix: path)
        let id = try f.requiredString("id")
        if let type = try f.string("type"), type != "function" {
            throw APIError.invalid("'\(path).type' must be 'function', got '\(type)'", param: "\(path).type", code: "invalid_value")
        }
        guard let fn = f.raw("function") else {
            throw APIError.invalid("'\(path).function' is required", param: "\(path).function", code: "missing_required_parameter")
        }
        let g = try FieldReader(fn, prefix: "\(path).function")
        let name = try g.requiredString("name")
        let arguments = try parseArguments(try g.requiredString("arguments"), param: "\(path).function.arguments")
        return ChatToolCall(id: id, name: name, arguments: arguments)
    }

    /// A call's arguments as JSON text, parsed with their key order; an empty string is no arguments (as vLLM reads it).
    static func parseArguments(_ text: String, param: String) throws(APIError) -> OrderedJSON {
        do { return text.isEmpty ? .object([]) : try JSONParser.parseKeepingKeyOrder(Array(text.utf8)) } catch {
            throw APIError.invalid("'\(param)' is not valid JSON: \(error.message)", param: param, code: "invalid_value")
        }
    }
}

extension OrderedJSON {
    /// Compact JSON text (keys in their order; an integral number as an integer: `2.0` is written `2`).
    var compactText: String { jsonValue.serialized() }

    /// As a value to write (an integral number as an integer).
    var jsonValue: JSONValue {
        switch self {
        case let .array(items): return .array(items.map(\.jsonValue))
        case let .object(fields): return .object(fields.map { ($0.key, $0.value.jsonValue) })
        case let .scalar(s):
            switch s {
            case .null: return .null
            case let .bool(b): return .bool(b)
            case let .int(i): return .int(i)
            case let .double(d): return d == d.rounded() && abs(d) < 1e15 ? .int(Int(d)) : .double(d)
            case let .string(str): return .string(str)
            case .array, .object: return OrderedJSON(sorting: s).jsonValue
            }
        }
    }
}
