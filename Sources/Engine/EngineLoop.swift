import Device
import Foundation
import Logging
import Model
import Tokenizer

/// Sizes of the engine's KV memory and per-step limits.
public struct EngineConfiguration: Sendable {
    public var scheduler = SchedulerConfiguration()
    /// Tokens per KV block.
    public var blockSize = 16
    /// Bytes of KV memory; the block count follows from the model's cache layout.
    public var kvCacheBytes = 512 << 20
    public var prefixCaching = true

    public init(scheduler: SchedulerConfiguration = SchedulerConfiguration(), blockSize: Int = 16, kvCacheBytes: Int = 512 << 20,
                prefixCaching: Bool = true) {
        self.scheduler = scheduler
        self.blockSize = blockSize
        self.kvCacheBytes = kvCacheBytes
        self.prefixCaching = prefixCaching
    }
}

/// Owns all mutable engine state on one dedicated thread. Other threads only `submit` and `abort`
/// (through a locked inbox); they never touch the model, the cache or the samplers.
///
/// Each step: take new requests and aborts from the inbox → `Scheduler.schedule()` → one model
/// forward over every scheduled chunk → sample where a chunk reached its request's end → emit events.
public final class EngineLoop: @unchecked Sendable {
    public typealias EventHandler = @Sendable (TokenEvent) -> Void

    private let core: EngineCore
    public var metrics: EngineMetrics { core.metrics }

    private let inbox = NSCondition()
    // Guarded by `inbox`:
    private var incoming: [(EngineRequest, EventHandler)] = []
    private var abortIDs: [String] = []
    private var stopping = false
    private var thread: Thread?

    /// `tokenBytes`: each token's bytes as structured output may use them, empty for tokens it must never pick
    /// (special tokens); nil takes every token's decoded bytes. Called once, when a request first needs it.
    /// `specialTokenIDs`: tokens whose text requests leave out (`SamplingParams.skipSpecialTokens`).
    public init(model: any LanguageModel, decodeBytes: @escaping @Sendable ([Int]) -> [UInt8], stopTokenIDs: Set<Int>,
                configuration: EngineConfiguration = EngineConfiguration(), logger: Logger, metrics: EngineMetrics = EngineMetrics(),
                tokenBytes: (@Sendable () -> [[UInt8]])? = nil, specialTokenIDs: Set<Int> = []) {
        core = EngineCore(model: model, decodeBytes: decodeBytes, stopTokenIDs: stopTokenIDs, configuration: configuration, logger: logger,
                          metrics: metrics, tokenBytes: tokenBytes, specialTokenIDs: specialTokenIDs)
    }

    /// Tokens the KV memory holds.
    public var kvCapacityTokens: Int { core.kvCapacityTokens }

    /// One line per KV cache group: what it holds per token and how many blocks it got.
    public var kvCacheGroups: [String] { core.sizing.descriptions }

    /// Starts the engine thread (idempotent).
    public func start() {
        inbox.lock()
        defer { inbox.unlock() }
        guard thread == nil else { return }
        let t = Thread { [weak self] in self?.loop() }
        t.name = "moeserve-engine"
        thread = t
        t.start()
    }

    /// Queues a request; `onEvent` is called on the engine thread and must not block.
    public func submit(_ request: EngineRequest, onEvent: @escaping EventHandler) {
        inbox.lock()
        if stopping {
            inbox.unlock()
            onEvent(.failed(message: "the engine is shutting down"))
            return
        }
        incoming.append((request, onEvent))
        inbox.signal()
        inbox.unlock()
    }

    /// Stops a request at the next step boundary; it finishes with `.abort` and frees its blocks.
    public func abort(_ id: String) {
        inbox.lock()
        abortIDs.append(id)
        inbox.signal()
        inbox.unlock()
    }

    /// Fails what is queued, aborts what runs, and ends the thread after the current step.
    public func shutdown() {
        inbox.lock()
        stopping = true
        inbox.broadcast()
        inbox.unlock()
    }

    private func loop() {
        while true {
            inbox.lock()
            while incoming.isEmpty && abortIDs.isEmpty && !stopping && !core.hasWork { inbox.wait() }
            let newRequests = incoming, aborts = abortIDs, stop = stopping
            incoming.removeAll()
            abortIDs.removeAll()
            inbox.unlock()

            for (req, handler) in newRequests { core.add(req, onEvent: handler) }
            for id in aborts { core.abort(id) }
            if stop {
                core.failAll("the engine is shutting down")
                inbox.lock()
                let late = incoming
                incoming.removeAll()
                inbox.unlock()
                for (_, h) in late { h(.failed(message: "the engine is shutting down")) }
                return
            }
            if core.hasWork {
                core.step()
                // Out of work: the step buffers go back to the allocator (a long prompt's would stay resident).
                if !core.hasWork { ArrayPools.current.trim() }
            }
        }
    }

}
