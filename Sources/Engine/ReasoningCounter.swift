/// Counts a thinking model's reasoning tokens as they are generated: the tokens read inside `<think>…</think>`
/// (the one that closes it included), from the start when the prompt opened the block, or from a block the model
/// opens at the start of its output (after whitespace). The API splits the text the same way.
public struct ReasoningMarkers: Sendable, Hashable {
    public var open: [UInt8]
    public var close: [UInt8]
    /// Whether the prompt already opened the block.
    public var startsInside: Bool

    public init(open: String = "<think>", close: String = "</think>", startsInside: Bool) {
        self.open = Array(open.utf8)
        self.close = Array(close.utf8)
        self.startsInside = startsInside
    }
}

struct ReasoningCounter {
    enum State { case undecided, inside, done }

    let markers: ReasoningMarkers
    private(set) var state: State
    private(set) var count = 0
    /// Undecided: the output's bytes so far (whitespace dropped); inside: the last bytes, to find the close marker
    /// across tokens.
    private var bytes: [UInt8] = []
    /// Undecided: tokens that count if the block turns out to open.
    private var tentative = 0

    init(_ markers: ReasoningMarkers) {
        self.markers = markers
        state = markers.startsInside ? .inside : .undecided
    }

    mutating func add(_ token: [UInt8]) {
        switch state {
        case .done: return
        case .undecided:
            tentative += 1
            for b in token where !(bytes.isEmpty && (b == 0x20 || b == 0x0A || b == 0x0D || b == 0x09)) { bytes.append(b) }
            if bytes.count >= markers.open.count {
                guard bytes.starts(with: markers.open) else { state = .done; return }
                state = .inside
                count = tentative
                let rest = Array(bytes.dropFirst(markers.open.count))
                bytes = []
                scan(rest)
            } else if !markers.open.starts(with: bytes) {
                state = .done
            }
        case .inside:
            count += 1
            scan(token)
        }
    }

    private mutating func scan(_ token: [UInt8]) {
        bytes += token
        if Generation.firstEnd(of: markers.close, in: bytes) != nil {
            state = .done
        } else {
            bytes = Array(bytes.suffix(markers.close.count - 1))
        }
    }
}
