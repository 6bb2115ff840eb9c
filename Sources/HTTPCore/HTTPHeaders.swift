/// An ordered list of HTTP header fields with case-insensitive name lookup.
///
/// Order and the original spelling of names are preserved, so a header list round-trips unchanged.
/// Lookups compare names ASCII-case-insensitively (`content-type` finds `Content-Type`).
public struct HTTPHeaders: Sendable, Sequence, CustomStringConvertible {
    public typealias Element = (name: String, value: String)

    private var storage: [(name: String, value: String)]

    /// Creates a header list from `(name, value)` pairs, keeping their order.
    public init(_ pairs: [(String, String)] = []) {
        storage = pairs.map { (name: $0.0, value: $0.1) }
    }

    /// The number of fields (a repeated name counts once per occurrence).
    public var count: Int { storage.count }

    public var isEmpty: Bool { storage.isEmpty }

    /// The first value of the field called `name`, or `nil` if it is absent.
    public subscript(name: String) -> String? {
        storage.first { Self.namesEqual($0.name, name) }?.value
    }

    /// Every value of the field called `name`, in order.
    public func values(_ name: String) -> [String] {
        storage.compactMap { Self.namesEqual($0.name, name) ? $0.value : nil }
    }

    /// Whether a field called `name` is present.
    public func contains(_ name: String) -> Bool {
        storage.contains { Self.namesEqual($0.name, name) }
    }

    /// Appends a field, keeping any existing fields of the same name.
    public mutating func add(_ name: String, _ value: String) {
        storage.append((name: name, value: value))
    }

    /// Replaces the first field called `name` (dropping any later ones), or appends it.
    public mutating func replaceOrAdd(_ name: String, _ value: String) {
        guard let first = storage.firstIndex(where: { Self.namesEqual($0.name, name) }) else {
            storage.append((name: name, value: value))
            return
        }
        storage[first] = (name: name, value: value)
        var index = storage.index(after: first)
        while index < storage.endIndex {
            if Self.namesEqual(storage[index].name, name) {
                storage.remove(at: index)
            } else {
                index += 1
            }
        }
    }

    /// Removes every field called `name`.
    public mutating func remove(_ name: String) {
        storage.removeAll { Self.namesEqual($0.name, name) }
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        storage.makeIterator()
    }

    public var description: String {
        storage.map { "\($0.name): \($0.value)" }.joined(separator: "\n")
    }

    /// Whether the comma-separated list in any `name` field contains `token` (case-insensitive),
    /// e.g. `containsToken("close", in: "Connection")`.
    func containsToken(_ token: String, in name: String) -> Bool {
        for field in storage where Self.namesEqual(field.name, name) {
            var rest = Substring(field.value)
            while true {
                let end = rest.utf8.firstIndex(of: 44) ?? rest.endIndex
                if Self.namesEqual(rest[..<end].trimmingOWS(), token) { return true }
                guard end < rest.endIndex else { break }
                rest = rest[rest.utf8.index(after: end)...]
            }
        }
        return false
    }

    /// ASCII case-insensitive comparison; header names are ASCII tokens.
    static func namesEqual<A: StringProtocol, B: StringProtocol>(_ lhs: A, _ rhs: B) -> Bool {
        let lhs = lhs.utf8, rhs = rhs.utf8
        guard lhs.count == rhs.count else { return false }
        for (a, b) in zip(lhs, rhs) where a != b {
            guard asciiLower(a) == asciiLower(b) else { return false }
        }
        return true
    }

    @inline(__always)
    static func asciiLower(_ byte: UInt8) -> UInt8 {
        byte >= 0x41 && byte <= 0x5A ? byte | 0x20 : byte
    }
}

extension HTTPHeaders: Equatable {
    /// Equal when both lists hold the same fields in the same order (names compared case-insensitively).
    public static func == (lhs: HTTPHeaders, rhs: HTTPHeaders) -> Bool {
        lhs.storage.count == rhs.storage.count
            && zip(lhs.storage, rhs.storage).allSatisfy { namesEqual($0.name, $1.name) && $0.value == $1.value }
    }
}

extension HTTPHeaders: ExpressibleByDictionaryLiteral {
    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }
}

extension StringProtocol {
    /// The string without leading and trailing optional whitespace (SP / HTAB), as in RFC 9110 `OWS`.
    func trimmingOWS() -> Substring {
        var sub = Substring(self)
        while let first = sub.first, first == " " || first == "\t" { sub.removeFirst() }
        while let last = sub.last, last == " " || last == "\t" { sub.removeLast() }
        return sub
    }
}
