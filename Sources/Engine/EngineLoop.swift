import Foundation
import Logging
import Model
import Tokenizer

/// Owns all mutable engine state on one dedicated thread. Other threads only `submit` and `abort`;
/// they never touch the model, its caches or the samplers.
///
/// NOTE: walking-skeleton scheduling — requests run one at a time, first come first served, and an
/// abort is honoured between steps. The continuous-batching issue replaces `runOne` with
/// `Scheduler.schedule()` steps over many requests; the public surface stays.
public final class EngineLoop: @unchecked Sendable {
    public typealias EventHandler = @Sendable (TokenEvent) -> Void

    struct Pending {
        let request: EngineRequest
        let onEvent: EventHandler
    }

    private let model: any LanguageModel
    private let decodeBytes: @Sendable ([Int]) -> [UInt8]
    private let stopTokenIDs: Set<Int>
    private let logger: Logger
    private let condition = NSCondition()
    // Guarded by `condition`:
    private var queue: [Pending] = []
    private var aborted: Set<String> = []
    private var running: String?
    private var stopping = false
    private var thread: Thread?

    public init(model: any LanguageModel, decodeBytes: @escaping @Sendable ([Int]) -> [UInt8], stopTokenIDs: Set<Int>, logger: Logger) {
        self.model = model
        self.decodeBytes = decodeBytes
        self.stopTokenIDs = stopTokenIDs
        self.logger = logger
    }

    /// Starts the engine thread (idempotent).
    public func start() {
        condition.lock()
        defer { condition.unlock() }
        guard thread == nil else { return }
        let t = Thread { [weak self] in self?.loop() }
        t.name = "moeserve-engine"
        thread = t
        t.start()
    }

    /// Queues a request; `onEvent` is called on the engine thread and must not block.
    public func submit(_ request: EngineRequest, onEvent: @escaping EventHandler) {
        condition.lock()
        if stopping {
            condition.unlock()
            onEvent(.failed(message: "the engine is shutting down"))
            return
        }
        queue.append(Pending(request: request, onEvent: onEvent))
        condition.signal()
        condition.unlock()
    }

    /// Stops a request: a queued one finishes at once with `.abort`, a running one at its next step.
    public func abort(_ id: String) {
        condition.lock()
        defer { condition.unlock() }
        if let i = queue.firstIndex(where: { $0.request.id == id }) {
            let p = queue.remove(at: i)
            p.onEvent(.finished(reason: .abort, usage: Usage(promptTokens: p.request.promptTokenIDs.count, completionTokens: 0)))
        } else if running == id {
            aborted.insert(id)
        }
    }

    /// Requests waiting and running right now.
    public var counts: (waiting: Int, running: Int) {
        condition.lock()
        defer { condition.unlock() }
        return (queue.count, running == nil ? 0 : 1)
    }

    /// Fails everything queued, lets the running request stop at its next step, ends the thread.
    public func shutdown() {
        condition.lock()
        stopping = true
        let dropped = queue
        queue.removeAll()
        if let r = running { aborted.insert(r) }
        condition.broadcast()
        condition.unlock()
        for p in dropped { p.onEvent(.failed(message: "the engine is shutting down")) }
    }

    private func loop() {
        while true {
            condition.lock()
            while queue.isEmpty && !stopping { condition.wait() }
            if stopping && queue.isEmpty { condition.unlock(); return }
            let next = queue.removeFirst()
            running = next.request.id
            condition.unlock()

            runOne(next)

            condition.lock()
            running = nil
            aborted.remove(next.request.id)
            condition.unlock()
        }
    }

    private func isAborted(_ id: String) -> Bool {
        condition.lock()
        defer { condition.unlock() }
        return aborted.contains(id)
    }

    private func runOne(_ p: Pending) {
        let req = p.request
        var generation = Generation(request: req, contextLength: model.contextLength, stopTokenIDs: stopTokenIDs, decodeBytes: decodeBytes)
        if let problem = generation.validationError {
            p.onEvent(.failed(message: problem))
            return
        }
        var cache = model.makeCache(capacity: req.promptTokenIDs.count + req.sampling.maxTokens)
        var input = req.promptTokenIDs
        let started = Date()
        while true {
            if isAborted(req.id) {
                p.onEvent(.finished(reason: .abort, usage: generation.usage))
                return
            }
            let logits = model.forward(input, cache: &cache, logits: .last)
            let step = generation.accept(logits: logits.data)
            for e in step.events { p.onEvent(e) }
            guard let next = step.nextInput else { break }
            input = [next]
        }
        let secs = Date().timeIntervalSince(started)
        logger.debug("request done", metadata: ["id": "\(req.id)", "tokens": "\(generation.usage.completionTokens)", "seconds": "\(String(format: "%.3f", secs))"])
    }
}
