/// An error from parsing or rendering a Jinja template, with the template position.
public struct JinjaError: Error, CustomStringConvertible, Sendable, Equatable {
    /// What went wrong.
    public enum Kind: Sendable, Equatable {
        /// The template text is not valid Jinja (found when parsing).
        case syntax
        /// An operation failed while rendering (undefined value, type error, limits).
        case runtime
        /// The template called `raise_exception(message)`; `message` is the template's text.
        case raised
    }

    public var kind: Kind
    public var message: String
    /// 1-based template line (0 when unknown).
    public var line: Int
    /// 1-based column within `line` (0 when unknown).
    public var column: Int

    public init(_ kind: Kind, _ message: String, line: Int = 0, column: Int = 0) {
        self.kind = kind
        self.message = message
        self.line = line
        self.column = column
    }

    public var description: String {
        let label: String
        switch kind {
        case .syntax: label = "template syntax error"
        case .runtime: label = "template error"
        case .raised: label = "template raised"
        }
        guard line > 0 else { return "\(label): \(message)" }
        let position = column > 0 ? "line \(line), column \(column)" : "line \(line)"
        return "\(label) at \(position): \(message)"
    }

    static func syntax(_ message: String, at position: SourcePosition) -> JinjaError {
        JinjaError(.syntax, message, line: position.line, column: position.column)
    }

    static func runtime(_ message: String) -> JinjaError {
        JinjaError(.runtime, message)
    }
}

/// A 1-based line/column in the template source.
struct SourcePosition: Sendable, Equatable {
    var line: Int
    var column: Int
}
