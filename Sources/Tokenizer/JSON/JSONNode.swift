import Foundation

/// A value in a parsed JSON document, with its path for error messages
/// (`tokenizer.json: model.merges[3] must be a string or a pair of strings`).
struct JSONNode {
    let value: JSONValue
    let path: String
    let file: String

    static func parse(_ data: Data, file: String) throws -> JSONNode {
        do {
            return JSONNode(value: try JSONValue.parse([UInt8](data)), path: "", file: file)
        } catch let e as TokenizerError {
            throw TokenizerError("\(file): \(e.message)")
        }
    }

    func error(_ what: String) -> TokenizerError {
        TokenizerError("\(file): \(path.isEmpty ? "top level" : path) \(what)")
    }

    private func child(_ v: JSONValue, _ key: String) -> JSONNode { JSONNode(value: v, path: path.isEmpty ? key : "\(path).\(key)", file: file) }

    /// The member `key`, or nil when absent or null.
    subscript(_ key: String) -> JSONNode? {
        guard case let .object(members) = value, let v = members.first(where: { $0.0 == key })?.1 else { return nil }
        if case .null = v { return nil }
        return child(v, key)
    }

    func required(_ key: String) throws -> JSONNode {
        guard case .object = value else { throw error("must be an object") }
        guard let v = self[key] else { throw error("needs a '\(key)' member") }
        return v
    }

    /// Members in document order (a repeated key appears twice).
    func members() throws -> [(String, JSONNode)] {
        guard case let .object(members) = value else { throw error("must be an object") }
        return members.map { ($0.0, child($0.1, $0.0)) }
    }

    func array() throws -> [JSONNode] {
        guard case let .array(items) = value else { throw error("must be an array") }
        return items.enumerated().map { i, v in JSONNode(value: v, path: "\(path)[\(i)]", file: file) }
    }

    func string() throws -> String {
        guard case let .string(s) = value else { throw error("must be a string") }
        return s
    }

    func bool() throws -> Bool {
        guard case let .bool(b) = value else { throw error("must be true or false") }
        return b
    }

    func int() throws -> Int {
        guard case let .number(d) = value, let i = Int(exactly: d) else { throw error("must be an integer") }
        return i
    }

    /// A single Unicode scalar (`"▁"`).
    func scalar() throws -> Unicode.Scalar {
        let s = try string()
        guard s.unicodeScalars.count == 1, let c = s.unicodeScalars.first else { throw error("must be a single character") }
        return c
    }

    /// Optional typed members, defaulting when absent.
    func bool(_ key: String, default d: Bool) throws -> Bool { try self[key]?.bool() ?? d }
    func string(_ key: String) throws -> String? { try self[key]?.string() }
    func type() throws -> String { try required("type").string() }
}
