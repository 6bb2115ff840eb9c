import Dispatch

/// Where a request is in its life.
enum RequestStatus: Sendable {
    case waiting
    case running
    /// Preempted by recompute: back in the queue, its blocks returned.
    case preempted
    case finished
}

/// The engine's view of one request: its tokens, how many have keys/values in the cache, and its
/// generation state. Owned by the engine thread.
final class RequestState {
    let request: EngineRequest
    let arrival: Int
    let onEvent: @Sendable (TokenEvent) -> Void
    var generation: Generation
    /// Prompt then generated tokens.
    private(set) var tokens: [Int]
    /// Tokens whose keys/values are in the cache (the catch-up target is `tokens.count`).
    var computed = 0
    var status = RequestStatus.waiting
    var preemptions = 0
    /// Monotonic times (seconds) for latency metrics.
    let arrivalTime: Double
    var lastTokenTime: Double?
    /// Simulated device times (seconds on the device's clock) of arrival, first and last token; nil on
    /// real hardware.
    var simulatedArrival: Double?
    var simulatedFirstToken: Double?
    var simulatedLastToken: Double?
    /// When the request was first scheduled (its queue time ends there).
    var scheduledTime: Double?
    /// Prompt logprobs gathered so far (entry i is prompt token i + 1's), and whether they were sent.
    var promptLogprobs: [TokenLogprobs] = []
    var promptLogprobsSent = false
    /// An embedding request's final hidden states pooled so far.
    var pooled = PoolingSum()
    /// The multi-token-prediction layer's guess at the tokens from `position` on (the one after the last token when
    /// it was made), for speculative decoding's next step.
    var mtpDraft: (position: Int, tokens: [Int])?

    /// Most tokens of one step while the prompt's logprobs are being computed: each of them gets a whole row
    /// of logits (256 × SmolLM2's 49,152 floats = 50 MB), where a step's budget could otherwise make it 2,048.
    static let promptRowsPerStep = 256

    /// Whether the prompt's logprobs are wanted and not yet sent: its prompt positions need every logits row.
    var needsPromptRows: Bool { request.promptLogprobs != nil && !promptLogprobsSent }

    /// Tokens this request may run in one step.
    var stepLimit: Int { needsPromptRows ? Self.promptRowsPerStep : Int.max }

    init(request: EngineRequest, arrival: Int, generation: Generation, onEvent: @escaping @Sendable (TokenEvent) -> Void) {
        self.request = request
        self.arrival = arrival
        self.generation = generation
        self.onEvent = onEvent
        tokens = request.promptTokenIDs
        arrivalTime = RequestState.now()
    }

    var id: String { request.id }
    var remaining: Int { tokens.count - computed }
    var extraKeys: [String] { request.cacheSalt.map { [$0] } ?? [] }

    func append(_ token: Int) { tokens.append(token) }

    /// Latencies on the simulated clock as of `now`, or nil when the device has no simulated clock.
    func simulatedTimings(now: Double?) -> SimulatedTimings? {
        guard let arrival = simulatedArrival, let now else { return nil }
        let tokens = generation.generated.count
        var tpot: Double?
        if let first = simulatedFirstToken, let last = simulatedLastToken, tokens > 1 { tpot = (last - first) / Double(tokens - 1) }
        return SimulatedTimings(timeToFirstToken: simulatedFirstToken.map { $0 - arrival }, timePerOutputToken: tpot, total: now - arrival)
    }

    static func now() -> Double { Double(DispatchTime.now().uptimeNanoseconds) / 1e9 }
}
