import Foundation

/// A value as a Jinja template sees it, mirroring the Python objects jinja2 works with.
///
/// `array` stands for Python lists and tuples; `object` is an insertion-ordered,
/// string-keyed dict. `namespace` and `callable` only arise while rendering
/// (`namespace(...)`, macros, `loop.cycle`); they compare by identity.
public indirect enum JinjaValue: Sendable, Equatable {
    case undefined
    case none
    case bool(Bool)
    case int(Int)
    case double(Double)
    case string(String)
    case array([JinjaValue])
    case object(JinjaObject)
    case namespace(JinjaNamespace)
    case callable(JinjaCallable)
}

/// An insertion-ordered dictionary with string keys (a Python `dict` of JSON-like data).
public struct JinjaObject: Sendable, Equatable, ExpressibleByDictionaryLiteral {
    /// Keys in insertion order.
    public private(set) var keys: [String] = []
    private var storage: [String: JinjaValue] = [:]

    public init() {}

    /// Builds an object from pairs; a repeated key keeps its first position and last value.
    public init<S: Sequence>(_ pairs: S) where S.Element == (String, JinjaValue) {
        for (key, value) in pairs { self[key] = value }
    }

    public init(dictionaryLiteral elements: (String, JinjaValue)...) {
        self.init(elements)
    }

    /// The value for `key`; assigning `nil` removes the key.
    public subscript(key: String) -> JinjaValue? {
        get { storage[key] }
        set {
            if let newValue {
                if storage.updateValue(newValue, forKey: key) == nil { keys.append(key) }
            } else if storage.removeValue(forKey: key) != nil {
                keys.removeAll { $0 == key }
                nonStringKeys[key] = nil
            }
        }
    }

    public var count: Int { keys.count }
    public var isEmpty: Bool { keys.isEmpty }
    /// Values in key order.
    public var values: [JinjaValue] { keys.map { storage[$0] ?? .undefined } }
    /// Key/value pairs in insertion order.
    public var pairs: [(key: String, value: JinjaValue)] { keys.map { ($0, storage[$0] ?? .undefined) } }

    // NOTE: Python dicts may have non-string keys (`{0: 'a', 512: 'b'}` in a template). Such a
    // key is stored under an encoded string ("\u{0}" + type + value, so 1, 1.0 and True collide
    // as in Python) and `nonStringKeys` remembers the original for iteration, repr and JSON.
    private var nonStringKeys: [String: JinjaValue] = [:]

    /// The storage key for a Python key; throws for unhashable keys (lists, dicts).
    static func storageKey(for key: JinjaValue) throws -> String {
        switch key {
        case .string(let s): return s
        case .int(let i): return "\u{0}i" + String(i)
        case .bool(let b): return b ? "\u{0}i1" : "\u{0}i0"
        case .double(let d):
            if let i = Int(exactly: d) { return "\u{0}i" + String(i) }
            return "\u{0}f" + PythonFloat.repr(d)
        case .none: return "\u{0}None"
        default: throw JinjaError.runtime("unhashable type: '\(key.typeName)'")
        }
    }

    /// The value for a key of any hashable type.
    subscript(key key: JinjaValue) -> JinjaValue? {
        guard let storageKey = try? JinjaObject.storageKey(for: key) else { return nil }
        return storage[storageKey]
    }

    /// Sets `value` for a key of any hashable type.
    mutating func set(_ value: JinjaValue, forKey key: JinjaValue) throws {
        let storageKey = try JinjaObject.storageKey(for: key)
        if case .string = key {} else if storage[storageKey] == nil { nonStringKeys[storageKey] = key }
        self[storageKey] = value
    }

    /// Keys as template values (decoding non-string keys).
    var keyValues: [JinjaValue] { keys.map { nonStringKeys[$0] ?? .string($0) } }

    /// Pairs with keys as template values.
    var valuePairs: [(key: JinjaValue, value: JinjaValue)] {
        keys.map { (nonStringKeys[$0] ?? .string($0), storage[$0] ?? .undefined) }
    }

    /// Python dict equality: same keys and values, order ignored.
    public static func == (lhs: JinjaObject, rhs: JinjaObject) -> Bool {
        lhs.storage == rhs.storage
    }
}

/// The mutable object made by `namespace(...)`; `{% set ns.attr = ... %}` writes into it.
public final class JinjaNamespace: Sendable, Equatable {
    private let lock = NSLock()
    nonisolated(unsafe) private var attributes: JinjaObject

    public init(_ attributes: JinjaObject = JinjaObject()) {
        self.attributes = attributes
    }

    /// The attribute `name`, or `nil` when unset.
    public subscript(name: String) -> JinjaValue? {
        get { lock.withLock { attributes[name] } }
        set { lock.withLock { attributes[name] = newValue } }
    }

    /// A snapshot of all attributes.
    public var snapshot: JinjaObject { lock.withLock { attributes } }

    /// Drops all attributes (breaks reference cycles when a render ends).
    func removeAll() { lock.withLock { attributes = JinjaObject() } }

    public static func == (lhs: JinjaNamespace, rhs: JinjaNamespace) -> Bool { lhs === rhs }
}

/// A function value: a built-in global, a macro, or a helper such as `loop.cycle`.
public final class JinjaCallable: Sendable, Equatable {
    /// The name it was defined under (for messages and `repr`).
    public let name: String
    let kind: Kind

    enum Kind: Sendable {
        case global(String)
        case macro(Macro)
        case cycle(index0: Int)
        case method(receiver: JinjaValue, name: String)
    }

    init(name: String, kind: Kind) {
        self.name = name
        self.kind = kind
    }

    public static func == (lhs: JinjaCallable, rhs: JinjaCallable) -> Bool { lhs === rhs }
}

// MARK: - Literals

extension JinjaValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByFloatLiteral,
    ExpressibleByBooleanLiteral, ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral,
    ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JinjaValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JinjaValue)...) { self = .object(JinjaObject(elements)) }
    public init(nilLiteral: ()) { self = .none }
}

// MARK: - Conversion from Foundation values

extension JinjaValue {
    /// Converts `JSONSerialization` output (or plain Swift values) to a `JinjaValue`.
    ///
    /// NOTE: `JSONSerialization` returns unordered dictionaries, so keys are sorted here to
    /// stay deterministic. Use `JinjaValue(json:)` when key order matters (e.g. `tools|tojson`).
    public init(any value: Any?) {
        guard let value else { self = .none; return }
        switch value {
        case is NSNull: self = .none
        case let v as JinjaValue: self = v
        case let v as String: self = .string(v)
        case let v as NSNumber: self = JinjaValue(number: v)
        case let v as Bool: self = .bool(v)
        case let v as Int: self = .int(v)
        case let v as Double: self = .double(v)
        case let v as [Any?]: self = .array(v.map { JinjaValue(any: $0) })
        case let v as [String: Any?]:
            self = .object(JinjaObject(v.keys.sorted().map { ($0, JinjaValue(any: v[$0] ?? nil)) }))
        default: self = .string(String(describing: value))
        }
    }

    /// NSNumber carries bools, integers and floats alike; tell them apart by their C type.
    private init(number: NSNumber) {
        let type = String(cString: number.objCType)
        if type == "c" || type == "B" || String(describing: Swift.type(of: number)).contains("Bool") {
            self = .bool(number.boolValue)
        } else if type == "d" || type == "f" {
            self = .double(number.doubleValue)
        } else if type == "Q", number.uint64Value > UInt64(Int.max) {
            self = .double(number.doubleValue)
        } else {
            self = .int(number.intValue)
        }
    }
}

// MARK: - Python semantics

extension JinjaValue {
    /// Python truthiness.
    public var isTruthy: Bool {
        switch self {
        case .undefined, .none: return false
        case .bool(let b): return b
        case .int(let i): return i != 0
        case .double(let d): return d != 0
        case .string(let s): return !s.isEmpty
        case .array(let a): return !a.isEmpty
        case .object(let o): return !o.isEmpty
        case .namespace, .callable: return true
        }
    }

    /// The Python type name, as used in error messages (`'dict object'`, `NoneType`).
    var typeName: String {
        switch self {
        case .undefined: return "Undefined"
        case .none: return "NoneType"
        case .bool: return "bool"
        case .int: return "int"
        case .double: return "float"
        case .string: return "str"
        case .array: return "list"
        case .object: return "dict"
        case .namespace: return "Namespace"
        case .callable: return "function"
        }
    }

    var isUndefined: Bool {
        if case .undefined = self { return true }
        return false
    }

    /// The numeric value for arithmetic: ints and bools as `.int`, floats as `.double`.
    var number: JinjaNumber? {
        switch self {
        case .int(let i): return .int(i)
        case .bool(let b): return .int(b ? 1 : 0)
        case .double(let d): return .double(d)
        default: return nil
        }
    }

    /// Python `==` (numbers compare across int/float/bool, dicts ignore key order).
    func pyEquals(_ other: JinjaValue) -> Bool {
        if let a = number, let b = other.number { return a.asDouble == b.asDouble && a.exactlyEquals(b) }
        switch (self, other) {
        case (.undefined, .undefined), (.none, .none): return true
        case let (.string(a), .string(b)): return a.unicodeScalars.elementsEqual(b.unicodeScalars)
        case let (.array(a), .array(b)):
            return a.count == b.count && zip(a, b).allSatisfy { $0.pyEquals($1) }
        case let (.object(a), .object(b)):
            return a.count == b.count && a.pairs.allSatisfy { pair in b[pair.key].map { pair.value.pyEquals($0) } ?? false }
        case let (.namespace(a), .namespace(b)): return a === b
        case let (.callable(a), .callable(b)): return a === b
        default: return false
        }
    }
}

/// A Python number: `int` (bools included) or `float`.
enum JinjaNumber {
    case int(Int)
    case double(Double)

    var asDouble: Double {
        switch self {
        case .int(let i): return Double(i)
        case .double(let d): return d
        }
    }

    var value: JinjaValue {
        switch self {
        case .int(let i): return .int(i)
        case .double(let d): return .double(d)
        }
    }

    /// Int/int compares exactly (doubles lose precision past 2^53).
    func exactlyEquals(_ other: JinjaNumber) -> Bool {
        if case .int(let a) = self, case .int(let b) = other { return a == b }
        return true
    }
}
