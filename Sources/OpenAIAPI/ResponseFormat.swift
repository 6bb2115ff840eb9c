import Engine
import HTTPCore

/// `response_format` (OpenAI) and `guided_json` (vLLM): the JSON the output must be, as an `OutputGrammar`.
enum ResponseFormat {
    /// The fields a chat or completion request can constrain its output with.
    static let sourceFields = ["response_format", "guided_json", "guided_regex", "guided_choice", "structured_outputs", "guided_grammar", "grammar"]

    /// The grammar a request asks for, nil for free text: from whichever of `sourceFields` it sends, at most one.
    /// `body` is re-read with its key order when a schema is given: a schema's `properties` are written in the
    /// order they are declared.
    static func grammar(_ f: FieldReader, body: OrderedBody) throws(APIError) -> OutputGrammar? {
        let grammars = [try responseFormat(f, body: body), try guidedJSON(f, body: body), try guidedRegex(f), try guidedChoice(f),
                        try structuredOutputs(f, body: body), try guidedGrammar(f, key: "guided_grammar", dialect: .xgrammar),
                        try guidedGrammar(f, key: "grammar", dialect: .gbnf)]
        let sources = Array(zip(sourceFields, grammars))
        let given = sources.filter { $0.1 != nil }
        if given.count > 1 {
            throw APIError.invalid("send one of \(given.map { "'\($0.0)'" }.joined(separator: " and ")), not both", param: given[1].0, code: "invalid_value")
        }
        return given.first?.1
    }

    private static func responseFormat(_ f: FieldReader, body: OrderedBody) throws(APIError) -> OutputGrammar? {
        guard let raw = f.raw("response_format") else { return nil }
        let p = "response_format"
        let rf = try FieldReader(raw, prefix: p)
        let type = try formatType(rf, schemaFields: ["json_schema"], path: p)
        switch type {
        case "text": return nil
        case "json_object": return .anyObject
        default: break
        }
        guard let spec = rf.raw("json_schema") else {
            throw APIError.invalid("'\(p).json_schema' is required with type 'json_schema'", param: "\(p).json_schema", code: "missing_required_parameter")
        }
        let sp = "\(p).json_schema"
        let s = try FieldReader(spec, prefix: sp)
        try checkSchemaSpec(s, path: sp)
        if let extra = s.fields.keys.sorted().first(where: { !schemaSpecFields.contains($0) }) {
            throw APIError.invalid("'\(sp).\(extra)' is not a field of a JSON schema response format", param: "\(sp).\(extra)", code: "invalid_value")
        }
        guard s.raw("schema") != nil else { return .anyValue }
        guard let schema = try body.value()["response_format"]?["json_schema"]?["schema"] else { return .anyValue }
        return try SchemaCompiler.compile(schema, param: "\(sp).schema")
    }

    /// A format object's `type` (`text`, `json_object`, `json_schema`), with no field but those its type takes
    /// (`schemaFields` for `json_schema`: nested under one key in chat, flat in the Responses API).
    static func formatType(_ r: FieldReader, schemaFields: Set<String>, path p: String) throws(APIError) -> String {
        let type = try r.requiredString("type")
        let allowed: Set<String>
        switch type {
        case "text", "json_object": allowed = ["type"]
        case "json_schema": allowed = schemaFields.union(["type"])
        default:
            throw APIError.invalid("'\(p).type' must be 'text', 'json_object' or 'json_schema', got '\(type)'", param: "\(p).type", code: "invalid_value")
        }
        if let extra = r.fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError.invalid("'\(p).\(extra)' is not a field of a '\(type)' response format", param: "\(p).\(extra)", code: "invalid_value")
        }
        return type
    }

    /// The fields of a JSON schema format besides its type.
    static let schemaSpecFields: Set<String> = ["name", "description", "schema", "strict"]

    /// A JSON schema format's `name`, `description` and `strict` (every schema is followed exactly; `strict` only
    /// changes what OpenAI accepts).
    static func checkSchemaSpec(_ r: FieldReader, path p: String) throws(APIError) {
        try ToolRequest.validName(try r.requiredString("name"), param: "\(p).name")
        _ = try r.string("description")
        _ = try r.bool("strict")
    }

    /// vLLM's `guided_json`: a schema as an object or as a JSON string.
    /// `path`: where the schema sits in the body (`f` reads its last part).
    static func guidedJSON(_ f: FieldReader, body: OrderedBody, path: [String] = ["guided_json"]) throws(APIError) -> OutputGrammar? {
        let key = path[path.count - 1]
        guard let raw = f.raw(key) else { return nil }
        let schema: OrderedJSON
        let param = path.joined(separator: ".")
        switch raw {
        case .object:
            var s: OrderedJSON? = try body.value()
            for k in path { s = s?[k] }
            guard let s else { return nil }
            schema = s
        case let .string(text):
            do { schema = try JSONParser.parseKeepingKeyOrder(Array(text.utf8)) } catch {
                throw APIError.invalid("'\(param)' is not valid JSON: \(error.message)", param: param, code: "invalid_value")
            }
        default: throw f.typeError(key, "a JSON schema (an object or a string)", raw)
        }
        return try SchemaCompiler.compile(schema, param: param)
    }
}

/// A request body read again with its objects' key order (schemas, tools), once, and only if something asks.
final class OrderedBody {
    private let bytes: [UInt8]
    private var parsed: OrderedJSON?

    init(_ bytes: [UInt8]) { self.bytes = bytes }

    func value() throws(APIError) -> OrderedJSON {
        if let parsed { return parsed }
        do { parsed = try JSONParser.parseKeepingKeyOrder(bytes) } catch {
            throw APIError.invalid("the request body is not valid JSON: \(error.message) (at byte \(error.offset))")
        }
        return parsed!
    }
}

/// Turns a JSON Schema into an `OutputGrammar`. Supported: `type` (one or a list), `properties` (written in their
/// order), `required`, `additionalProperties`, `items`, `minItems`/`maxItems`, `minLength`/`maxLength`, numeric
/// bounds (`SchemaBounds.swift`), `enum`, `const`, `anyOf`, a one-element
/// `allOf`, `nullable`, and `$ref` into `$defs`/`definitions` or to the root (recursion allowed). Annotations
/// (`title`, `description`, `default`, `examples`, …) are ignored. Anything else is refused by name, never
/// ignored: a pattern or a bound the output would not keep.
struct SchemaCompiler {
    static let annotations: Set<String> = ["title", "description", "default", "examples", "$schema", "$id", "$comment",
                                           "deprecated", "readOnly", "writeOnly", "$defs", "definitions"]
    static let maxNodes = 10_000

    private let root: OrderedJSON
    private let param: String
    private var grammar = OutputGrammar(nodes: [], root: 0)
    private var refs: [String: Int] = [:]
    private var anyValue: Int?
    /// Words of the length tables this schema's bounded patterns use so far.
    var lengthTableWords = 0

    static func compile(_ schema: OrderedJSON, param: String) throws(APIError) -> OutputGrammar {
        var c = SchemaCompiler(root: schema, param: param)
        let root = try c.node(schema, at: "")
        c.grammar.root = root
        if let problem = c.grammar.problem { throw c.fail("", problem) }
        return c.grammar
    }

    private init(root: OrderedJSON, param: String) {
        self.root = root
        self.param = param
    }

    func fail(_ path: String, _ message: String) -> APIError {
        APIError.invalid("'\(param)\(path)': \(message)", param: param + path, code: "invalid_value")
    }

    private mutating func add(_ node: OutputGrammar.Node, at path: String) throws(APIError) -> Int {
        guard grammar.nodes.count < Self.maxNodes else { throw fail(path, "the schema is too large (more than \(Self.maxNodes) parts)") }
        return grammar.add(node)
    }

    private mutating func any() -> Int {
        if let anyValue { return anyValue }
        let a = grammar.addAnyValue()
        anyValue = a
        return a
    }

    /// Schemas nested (through `$ref`s too) at most this deep: bounds the recursion here and in the matcher.
    static let maxDepth = 64
    private var depth = 0

    private mutating func node(_ schema: OrderedJSON, at path: String) throws(APIError) -> Int {
        depth += 1
        defer { depth -= 1 }
        guard depth <= Self.maxDepth else { throw fail(path, "the schema nests more than \(Self.maxDepth) levels deep (counting $refs)") }
        switch schema {
        case .scalar(.bool(true)): return any()
        case .scalar(.bool(false)): throw fail(path, "the schema false accepts no value")
        case .object: break
        default: throw fail(path, "a schema must be an object or a boolean")
        }
        guard case let .object(fields) = schema else { return any() }
        let keys = Set(fields.map(\.key))
        if case let .scalar(.string(ref))? = schema["$ref"] {
            if let extra = keys.subtracting(Self.annotations).subtracting(["$ref"]).sorted().first {
                throw fail(path, "'\(extra)' next to '$ref' is not supported; put it in the referenced schema")
            }
            return try reference(ref, at: path)
        }
        if schema["$ref"] != nil { throw fail(path + ".$ref", "'$ref' must be a string") }
        if let n = schema["nullable"] {
            guard case let .scalar(.bool(nullable)) = n else { throw fail(path + ".nullable", "must be a boolean") }
            let rest = fields.filter { $0.key != "nullable" }
            if !nullable { return try node(.object(rest), at: path) }
            let inner = try node(.object(rest), at: path)
            let null = try add(.literals([Array("null".utf8)]), at: path)
            return try add(.anyOf([inner, null]), at: path)
        }
        if let id = try literalsOrCombination(schema, keys: keys, at: path) { return id }
        let types = try typeList(schema, at: path) ?? Self.impliedTypes(keys)
        var allowed: Set<String> = ["type"]
        if types.contains("object") { allowed.formUnion(["properties", "required", "additionalProperties"]) }
        if types.contains("array") { allowed.formUnion(["items", "minItems", "maxItems", "uniqueItems"]) }
        if types.contains("string") { allowed.formUnion(Self.stringBoundKeywords) }
        if types.contains("number") || types.contains("integer") { allowed.formUnion(Self.numberBoundKeywords) }
        if let extra = keys.subtracting(Self.annotations).subtracting(allowed).sorted().first {
            if let owner = Self.keywordOwners.first(where: { $0.keywords.contains(extra) }) {
                throw fail(path + "." + extra, "'\(extra)' applies to \(owner.values), and this schema's type is \(types.joined(separator: " or "))")
            }
            throw fail(path + "." + extra, "the keyword '\(extra)' is not supported (supported: type, properties, required, additionalProperties, items, minItems, maxItems, minLength, maxLength, pattern, format, minimum, maximum, exclusiveMinimum, exclusiveMaximum, enum, const, anyOf, nullable, $ref, $defs)")
        }
        var alternatives: [Int] = []
        for t in types { alternatives.append(try typed(t, schema, at: path)) }
        if alternatives.count == 1 { return alternatives[0] }
        return try add(.anyOf(alternatives), at: path)
    }

    /// `const`, `enum`, `anyOf` (`oneOf` refused) and a one-element `allOf`, which stand for the whole schema; nil
    /// for a schema with none of them.
    private mutating func literalsOrCombination(_ schema: OrderedJSON, keys: Set<String>, at path: String) throws(APIError) -> Int? {
        if let v = schema["const"] {
            try onlyAnnotations(keys, besides: ["const", "type"], at: path)
            if let types = try typeList(schema, at: path), !Self.matches(v, types) {
                throw fail(path + ".const", "the value does not have the schema's type")
            }
            return try add(.literals([try literal(v, at: path + ".const")]), at: path)
        }
        if let e = schema["enum"] {
            try onlyAnnotations(keys, besides: ["enum", "type"], at: path)
            guard case let .array(values) = e, !values.isEmpty else { throw fail(path + ".enum", "must be a non-empty array") }
            let types = try typeList(schema, at: path)
            let kept = values.filter { v in types.map { Self.matches(v, $0) } ?? true }
            guard !kept.isEmpty else { throw fail(path + ".enum", "no value has the schema's type") }
            var texts: [[UInt8]] = []
            for v in kept { texts.append(try literal(v, at: path + ".enum")) }
            return try add(.literals(texts), at: path)
        }
        if let a = schema["anyOf"] ?? schema["oneOf"] {
            let key = schema["anyOf"] != nil ? "anyOf" : "oneOf"
            if key == "oneOf" { throw fail(path + ".oneOf", "'oneOf' is not supported (the output could match several); use 'anyOf'") }
            try onlyAnnotations(keys, besides: [key], at: path)
            guard case let .array(options) = a, !options.isEmpty else { throw fail(path + ".\(key)", "must be a non-empty array") }
            var alternatives: [Int] = []
            for (i, o) in options.enumerated() { alternatives.append(try node(o, at: "\(path).\(key)[\(i)]")) }
            return try add(.anyOf(alternatives), at: path)
        }
        if let a = schema["allOf"] {
            try onlyAnnotations(keys, besides: ["allOf"], at: path)
            guard case let .array(parts) = a, parts.count == 1 else { throw fail(path + ".allOf", "only a one-element 'allOf' is supported") }
            return try node(parts[0], at: path + ".allOf[0]")
        }
        return nil
    }

    private func onlyAnnotations(_ keys: Set<String>, besides allowed: Set<String>, at path: String) throws(APIError) {
        if let extra = keys.subtracting(Self.annotations).subtracting(allowed).sorted().first {
            throw fail(path + "." + extra, "'\(extra)' together with '\(allowed.sorted().filter { $0 != "type" }.joined(separator: "', '"))' is not supported")
        }
    }

    /// `type` as a list, nil when absent.
    private func typeList(_ schema: OrderedJSON, at path: String) throws(APIError) -> [String]? {
        let known: Set<String> = ["string", "number", "integer", "boolean", "null", "object", "array"]
        switch schema["type"] {
        case nil: return nil
        case let .scalar(.string(t))?:
            guard known.contains(t) else { throw fail(path + ".type", "unknown type '\(t)'") }
            return [t]
        case let .array(items)?:
            var out: [String] = []
            for item in items {
                guard case let .scalar(.string(t)) = item, known.contains(t) else { throw fail(path + ".type", "must list type names") }
                if !out.contains(t) { out.append(t) }
            }
            guard !out.isEmpty else { throw fail(path + ".type", "must name at least one type") }
            return out
        default: throw fail(path + ".type", "must be a type name or a list of them")
        }
    }

    /// Without `type`: what the structural keywords imply; with only string or number keywords, any value, those
    /// keywords holding where the value is a string or a number (JSON Schema's reading); else any value.
    private static func impliedTypes(_ keys: Set<String>) -> [String] {
        if !keys.isDisjoint(with: ["properties", "required", "additionalProperties"]) { return ["object"] }
        if !keys.isDisjoint(with: ["items", "minItems", "maxItems"]) { return ["array"] }
        if !keys.isDisjoint(with: stringBoundKeywords.union(numberBoundKeywords)) { return ["object", "array", "string", "number", "boolean", "null"] }
        return ["any"]
    }

    /// Which values each type-specific keyword applies to (for errors that name the mismatch).
    static let keywordOwners: [(keywords: Set<String>, values: String)] = [
        (stringBoundKeywords, "strings"), (numberBoundKeywords, "numbers"), (["properties", "required", "additionalProperties"], "objects"),
        (["items", "minItems", "maxItems", "uniqueItems"], "arrays"),
    ]

    private mutating func typed(_ type: String, _ schema: OrderedJSON, at path: String) throws(APIError) -> Int {
        switch type {
        case "any": return any()
        case "string": return try add(try stringBounds(schema, at: path) ?? .string, at: path)
        case "number": return try add(try numberBounds(schema, integer: false, at: path) ?? .number(integer: false), at: path)
        case "integer": return try add(try numberBounds(schema, integer: true, at: path) ?? .number(integer: true), at: path)
        case "boolean": return try add(.literals([Array("true".utf8), Array("false".utf8)]), at: path)
        case "null": return try add(.literals([Array("null".utf8)]), at: path)
        case "object": return try object(schema, at: path)
        default: return try array(schema, at: path)
        }
    }

    private mutating func object(_ schema: OrderedJSON, at path: String) throws(APIError) -> Int {
        var required: [String] = []
        if let r = schema["required"] {
            guard case let .array(items) = r else { throw fail(path + ".required", "must be an array of property names") }
            for item in items {
                guard case let .scalar(.string(name)) = item else { throw fail(path + ".required", "must be an array of property names") }
                if !required.contains(name) { required.append(name) }
            }
        }
        let id = try add(.object(properties: [], additional: nil), at: path)
        var props: [OutputGrammar.Property] = []
        if let p = schema["properties"] {
            guard case let .object(fields) = p else { throw fail(path + ".properties", "must be an object") }
            for (name, sub) in fields {
                props.append(.init(key: Array(JSONString.literal(name).utf8), value: try node(sub, at: "\(path).properties.\(name)"),
                                   required: required.contains(name)))
            }
        }
        let declared = Set(schema["properties"].flatMap { p -> [String]? in if case let .object(f) = p { return f.map(\.key) } else { return nil } } ?? [])
        var additional: Int?
        switch schema["additionalProperties"] {
        case nil: additional = nil   // extra keys are allowed; writing none is valid
        case .scalar(.bool(false))?:
            if let name = required.first(where: { !declared.contains($0) }) {
                throw fail(path + ".required", "'\(name)' is required but not among the properties, and additionalProperties is false: no object can match")
            }
            additional = nil
        case .scalar(.bool(true))?: additional = any()
        case let s?: additional = try node(s, at: path + ".additionalProperties")
        }
        // A required key the properties do not list is an additional one: its value follows additionalProperties.
        for name in required where !declared.contains(name) {
            props.append(.init(key: Array(JSONString.literal(name).utf8), value: additional ?? any(), required: true))
        }
        grammar.nodes[id] = .object(properties: props, additional: additional)
        return id
    }

    private mutating func array(_ schema: OrderedJSON, at path: String) throws(APIError) -> Int {
        func count(_ key: String) throws(APIError) -> Int? {
            guard let v = schema[key] else { return nil }
            let n: Int
            switch v {
            case let .scalar(.int(i)): n = i
            case let .scalar(.double(d)) where d == d.rounded() && abs(d) <= 1e6: n = Int(d)
            default: throw fail("\(path).\(key)", "must be an integer from 0 to 100000")
            }
            guard n >= 0, n <= 100_000 else { throw fail("\(path).\(key)", "must be an integer from 0 to 100000") }
            return n
        }
        let minItems = try count("minItems") ?? 0
        let maxItems = try count("maxItems")
        if let maxItems, maxItems < minItems { throw fail(path + ".maxItems", "is less than minItems (\(minItems))") }
        if let u = schema["uniqueItems"], u != .scalar(.bool(false)) {
            throw fail(path + ".uniqueItems", "'uniqueItems' is not supported (the output could repeat an item)")
        }
        let id = try add(.array(items: 0, minItems: minItems, maxItems: maxItems), at: path)
        let items = try schema["items"].map { (s) throws(APIError) -> Int in try node(s, at: path + ".items") } ?? any()
        grammar.nodes[id] = .array(items: items, minItems: minItems, maxItems: maxItems)
        return id
    }

    /// `#` (the root), `#/$defs/Name` or `#/definitions/Name` (JSON Pointer escapes `~0`, `~1`).
    private mutating func reference(_ ref: String, at path: String) throws(APIError) -> Int {
        if let known = refs[ref] { return known }
        var target = root
        if ref != "#" {
            guard ref.hasPrefix("#/") else { throw fail(path + ".$ref", "only references inside the schema ('#/$defs/…') are supported, got '\(ref)'") }
            for part in ref.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false) {
                let key = part.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
                guard let next = target[key] else { throw fail(path + ".$ref", "'\(ref)' does not point to a schema") }
                target = next
            }
        }
        // A placeholder first, so a schema that refers to itself closes the cycle instead of recursing forever.
        let id = try add(.anyOf([]), at: path)
        refs[ref] = id
        // Errors inside name the definition's own path ("…schema.$defs.Name.properties.x").
        let resolved = try node(target, at: ref == "#" ? "" : "." + ref.dropFirst(2).split(separator: "/", omittingEmptySubsequences: false).joined(separator: "."))
        grammar.nodes[id] = .anyOf([resolved])
        return id
    }

    /// Bytes of enum and const texts in one schema, at most.
    static let maxLiteralBytes = 1 << 20
    private var literalBytes = 0

    /// An enum or const value as the output must spell it. Integers beyond 2^53 that do not fit 64 bits were
    /// read as doubles and would be written rounded (12345678901234567890 as 1.2345678901234567e+19): refused.
    private mutating func literal(_ v: OrderedJSON, at path: String) throws(APIError) -> [UInt8] {
        if case let .scalar(.double(d)) = v, d == d.rounded(), abs(d) >= 9_007_199_254_740_992 {
            throw fail(path, "an integer beyond 64 bits cannot be written exactly (it was read as a double)")
        }
        let text = Array(v.compactText.utf8)
        literalBytes += text.count
        guard literalBytes <= Self.maxLiteralBytes else { throw fail(path, "enum and const values exceed \(Self.maxLiteralBytes) bytes in all") }
        return text
    }

    /// Whether a value has one of the JSON Schema types (an integer is a number; 1.0 is an integer).
    private static func matches(_ v: OrderedJSON, _ types: [String]) -> Bool {
        let t = typeName(v)
        if types.contains(t) { return true }
        if t == "integer", types.contains("number") { return true }
        if case let .scalar(.double(d)) = v, d == d.rounded(), types.contains("integer") { return true }
        return false
    }

    private static func typeName(_ v: OrderedJSON) -> String {
        switch v {
        case .array: return "array"
        case .object: return "object"
        case let .scalar(s): return s.typeName
        }
    }
}
