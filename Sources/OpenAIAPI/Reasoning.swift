import Foundation

/// Whether answers of thinking models are split into their reasoning and their answer (`--reasoning-parser`).
public enum ReasoningParsing: String, Sendable, CaseIterable {
    /// When the chat template writes `<think>…</think>` (DeepSeek-R1 and V3.1+, Qwen3, QwQ, …).
    case auto
    /// Never: the reasoning stays in the content, as the model wrote it.
    case none
}

/// Where a choice's output begins: inside a think block the prompt opened (DeepSeek-R1's template ends with
/// `<think>\n`), where the model may open one itself (Qwen3's), or after one the prompt opened and closed
/// (thinking turned off). A block the model opens in the last two cases is still split off.
public enum ReasoningStart: Sendable, Equatable {
    case inside, mayOpen, closed

    static let open = "<think>", close = "</think>"

    /// From the prompt's last characters (what the generation prompt adds): inside when its last `<think>` comes
    /// after its last `</think>`, closed when a `</think>` comes last.
    static func of(promptTail tail: String) -> ReasoningStart {
        let open = tail.range(of: Self.open, options: .backwards), close = tail.range(of: Self.close, options: .backwards)
        switch (open, close) {
        case (nil, nil): return .mayOpen
        case (_?, nil): return .inside
        case (nil, _?): return .closed
        case let (o?, c?): return o.lowerBound > c.lowerBound ? .inside : .closed
        }
    }
}

/// Splits each choice's text, as it streams, into reasoning (inside `<think>…</think>`) and content (after it).
/// A think block may only open at the start of the output (after whitespace); text that could begin a marker is
/// held back until the next piece decides; the newlines a model writes after `</think>` are not content.
final class ReasoningStreamFilter: @unchecked Sendable {
    enum Mode { case start, reasoning, afterClose, content }

    struct State {
        var mode: Mode
        var held = ""
        /// Whether any reasoning (or an opening marker) was seen.
        var reasoned = false
    }

    let start: ReasoningStart
    private let lock = NSLock()
    private var states: [Int: State] = [:]

    init(start: ReasoningStart) { self.start = start }

    /// The reasoning and content to send now for this piece of a choice's text, and whether the piece belonged to
    /// the reasoning (it was read inside a think block, or opened one).
    func feed(_ choice: Int, _ text: String) -> (reasoning: String, content: String, inReasoning: Bool) {
        lock.withLock {
            var s = states[choice] ?? State(mode: start == .inside ? .reasoning : .start, reasoned: start == .inside)
            let before = s.mode
            var pending = s.held + text
            s.held = ""
            var reasoning = "", content = ""
            loop: while true {
                switch s.mode {
                case .start:
                    let body = pending.drop { $0.isWhitespace }
                    if body.hasPrefix(ReasoningStart.open) {
                        pending = String(body.dropFirst(ReasoningStart.open.count))
                        (s.mode, s.reasoned) = (.reasoning, true)
                    } else if ReasoningStart.open.hasPrefix(body) {
                        s.held = pending   // may still become "<think>"
                        break loop
                    } else {
                        s.mode = .content
                    }
                case .reasoning:
                    if let r = pending.range(of: ReasoningStart.close) {
                        reasoning += pending[..<r.lowerBound]
                        pending = String(pending[r.upperBound...])
                        s.mode = .afterClose
                    } else {
                        let keep = Self.markerTail(pending, ReasoningStart.close)
                        reasoning += pending.dropLast(keep)
                        s.held = String(pending.suffix(keep))
                        break loop
                    }
                case .afterClose:
                    pending = String(pending.drop { $0.isNewline })
                    if pending.isEmpty { break loop }
                    s.mode = .content
                case .content:
                    content += pending
                    break loop
                }
            }
            states[choice] = s
            return (reasoning, content, before == .reasoning || (before == .start && s.mode != .start && s.mode != .content))
        }
    }

    /// At a choice's end: what was held back, whether the output had any reasoning, and whether it ended inside it.
    func finish(_ choice: Int) -> (reasoning: String, content: String, reasoned: Bool, unclosed: Bool) {
        lock.withLock {
            let s = states.removeValue(forKey: choice) ?? State(mode: start == .inside ? .reasoning : .start, reasoned: start == .inside)
            switch s.mode {
            case .reasoning: return (s.held, "", s.reasoned, true)
            case .start, .content: return ("", s.held, s.reasoned, false)
            case .afterClose: return ("", "", s.reasoned, false)
            }
        }
    }

    /// A whole text's reasoning (nil when there was none) and content.
    static func split(_ text: String, start: ReasoningStart) -> (reasoning: String?, content: String) {
        let f = ReasoningStreamFilter(start: start)
        let a = f.feed(0, text), b = f.finish(0)
        return (b.reasoned ? a.reasoning + b.reasoning : nil, a.content + b.content)
    }

    /// The longest tail of `text` (in characters) that begins `marker`.
    static func markerTail(_ text: String, _ marker: String) -> Int {
        var keep = min(marker.count - 1, text.count)
        while keep > 0, !marker.hasPrefix(text.suffix(keep)) { keep -= 1 }
        return keep
    }
}
