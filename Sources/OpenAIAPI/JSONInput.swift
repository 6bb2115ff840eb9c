import Foundation

/// A parsed JSON request body, before validation. Bools and numbers stay distinct, so `"stream": 1` is a
/// type error, not `true`.
public indirect enum JSONInput: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JSONInput])
    case object([String: JSONInput])

    /// Parses a request body (strict RFC 8259, `JSONParser`); a syntax error becomes a 400 in OpenAI's shape.
    public static func parse(_ body: [UInt8]) throws(APIError) -> JSONInput {
        guard !body.isEmpty else { throw APIError.invalid("the request body is empty; expected a JSON object") }
        do {
            return try JSONParser.parse(body)
        } catch {
            throw APIError.invalid("the request body is not valid JSON: \(error.message) (at byte \(error.offset))")
        }
    }

    /// Name of the JSON type, for error messages.
    public var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int: return "integer"
        case .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }

    /// Converts to the untyped form (`[String: Any]`, `[Any]`, …) other libraries take.
    public var anyValue: Any {
        switch self {
        case .null: return NSNull()
        case let .bool(b): return b
        case let .int(i): return i
        case let .double(d): return d
        case let .string(s): return s
        case let .array(a): return a.map(\.anyValue)
        case let .object(o): return o.mapValues(\.anyValue)
        }
    }
}

/// Typed field access with OpenAI-style errors that name the offending parameter.
struct FieldReader {
    let fields: [String: JSONInput]
    let prefix: String

    init(_ value: JSONInput, prefix: String = "") throws(APIError) {
        guard case let .object(o) = value else {
            throw APIError.invalid(prefix.isEmpty ? "the request body must be a JSON object, not \(value.typeName)" : "'\(prefix)' must be an object, not \(value.typeName)", param: prefix.isEmpty ? nil : prefix)
        }
        fields = o
        self.prefix = prefix
    }

    func path(_ key: String) -> String { prefix.isEmpty ? key : "\(prefix).\(key)" }

    /// The value of `key`, treating an explicit `null` like absence (as OpenAI does for optionals).
    func raw(_ key: String) -> JSONInput? {
        guard let v = fields[key], v != .null else { return nil }
        return v
    }

    /// Refuses any field outside `allowed`, as Anthropic's API answers extra inputs.
    func onlyFields(_ allowed: Set<String>) throws(APIError) {
        if let extra = fields.keys.sorted().first(where: { !allowed.contains($0) }) {
            throw APIError.invalid("\(path(extra)): Extra inputs are not permitted", param: path(extra), code: "unknown_parameter")
        }
    }

    func typeError(_ key: String, _ expected: String, _ got: JSONInput) -> APIError {
        .invalid("'\(path(key))' must be \(expected), not \(got.typeName)", param: path(key), code: "invalid_type")
    }

    func string(_ key: String) throws(APIError) -> String? {
        guard let v = raw(key) else { return nil }
        guard case let .string(s) = v else { throw typeError(key, "a string", v) }
        return s
    }

    /// A string field that must be present.
    func requiredString(_ key: String) throws(APIError) -> String {
        guard let s = try string(key) else {
            throw APIError.invalid("'\(path(key))' is required", param: path(key), code: "missing_required_parameter")
        }
        return s
    }

    func bool(_ key: String) throws(APIError) -> Bool? {
        guard let v = raw(key) else { return nil }
        guard case let .bool(b) = v else { throw typeError(key, "a boolean", v) }
        return b
    }

    func int(_ key: String, in range: ClosedRange<Int>? = nil) throws(APIError) -> Int? {
        guard let v = raw(key) else { return nil }
        let i: Int
        switch v {
        case let .int(x): i = x
        case let .double(d) where d == d.rounded() && abs(d) < 9e15: i = Int(d)
        case let .double(d) where d == d.rounded():
            let bounds = range.map { "between \($0.lowerBound) and \($0.upperBound)" } ?? "within ±9e15"
            throw APIError.invalid("'\(path(key))' must be an integer \(bounds), got \(d)", param: path(key), code: "invalid_value")
        default: throw typeError(key, "an integer", v)
        }
        if let r = range, !r.contains(i) {
            throw APIError.invalid("'\(path(key))' must be between \(r.lowerBound) and \(r.upperBound), got \(i)", param: path(key), code: "invalid_value")
        }
        return i
    }

    func number(_ key: String, in range: ClosedRange<Double>? = nil) throws(APIError) -> Double? {
        guard let v = raw(key) else { return nil }
        let d: Double
        switch v {
        case let .int(x): d = Double(x)
        case let .double(x): d = x
        default: throw typeError(key, "a number", v)
        }
        if let r = range, !r.contains(d) {
            throw APIError.invalid("'\(path(key))' must be between \(r.lowerBound) and \(r.upperBound), got \(d)", param: path(key), code: "invalid_value")
        }
        return d
    }
}
