import Foundation

/// A parsed Jinja template (a subset of jinja2, evaluated with Python semantics).
///
/// Parse once, render many times; rendering is thread-safe because every render gets its
/// own state. For chat prompts use `ChatTemplate`, which applies Hugging Face's settings.
public struct JinjaTemplate: Sendable {
    let nodes: [Node]
    /// Whitespace options the template was parsed with.
    public let options: JinjaOptions
    /// Limits applied to each render.
    public var limits: JinjaLimits
    /// The clock behind `strftime_now` (local time zone); injectable for tests.
    public var now: @Sendable () -> Date

    /// Parses `source`; throws `JinjaError` (kind `.syntax`) with the line of the problem.
    public init(source: String, options: JinjaOptions = JinjaOptions(), limits: JinjaLimits = JinjaLimits(),
                now: @escaping @Sendable () -> Date = { Date() }) throws {
        self.nodes = try JinjaParser.parse(source: source, options: options)
        self.options = options
        self.limits = limits
        self.now = now
    }

    /// Renders with `context` as the template's variables.
    public func render(_ context: [String: JinjaValue]) throws -> String {
        try Renderer(limits: limits, now: now).render(nodes, context: context)
    }
}
