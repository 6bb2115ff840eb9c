import Foundation

/// A model's chat template, rendered the way Hugging Face `apply_chat_template` does:
/// jinja2 `ImmutableSandboxedEnvironment` with `trim_blocks=True, lstrip_blocks=True`,
/// `break`/`continue`, `{% generation %}`, a `tojson` filter that calls `json.dumps(...,
/// ensure_ascii=False)`, and the globals `raise_exception(msg)` and `strftime_now(fmt)`.
public struct ChatTemplate: Sendable {
    /// The parsed template.
    public var template: JinjaTemplate
    /// Its text.
    public let source: String

    /// Parses the template once; throws `JinjaError` on syntax errors.
    public init(source: String) throws {
        template = try JinjaTemplate(source: source, options: .huggingFace)
        self.source = source
    }

    /// Parses the template with an injected clock for `strftime_now` (tests) and custom limits.
    public init(source: String, limits: JinjaLimits = JinjaLimits(), now: @escaping @Sendable () -> Date) throws {
        template = try JinjaTemplate(source: source, options: .huggingFace, limits: limits, now: now)
        self.source = source
    }

    /// Renders with an arbitrary variable set.
    public func render(_ context: [String: JinjaValue]) throws -> String {
        try template.render(context)
    }

    /// Renders a conversation with HF `apply_chat_template` conventions.
    ///
    /// Variables: `messages`, `add_generation_prompt`, `tools` and `documents` (both `none`
    /// when absent — HF always passes them, so `tools is defined` is true and `tools is none`
    /// tells them apart), `bos_token`/`eos_token` when given, then `extra` (e.g.
    /// `enable_thinking`), which may override any of them.
    public func render(messages: [JinjaValue], addGenerationPrompt: Bool, bosToken: String?, eosToken: String?,
                       tools: [JinjaValue]? = nil, extra: [String: JinjaValue] = [:]) throws -> String {
        var context: [String: JinjaValue] = [
            "messages": .array(messages),
            "add_generation_prompt": .bool(addGenerationPrompt),
            "tools": tools.map { .array($0) } ?? .none,
            "documents": .none,
        ]
        if let bosToken { context["bos_token"] = .string(bosToken) }
        if let eosToken { context["eos_token"] = .string(eosToken) }
        context.merge(extra) { _, new in new }
        return try template.render(context)
    }
}
