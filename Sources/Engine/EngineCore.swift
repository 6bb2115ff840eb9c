import Device
import Foundation
import Logging
import Model

/// The engine without its thread: requests, scheduler, KV memory and the model step. Not thread-safe;
/// `EngineLoop` drives it from one thread, tests drive it directly and deterministically.
final class EngineCore {
    let model: any LanguageModel
    let decodeBytes: @Sendable ([Int]) -> [UInt8]
    let stopTokenIDs: Set<Int>
    let logger: Logger
    let scheduler: Scheduler
    /// One block store per cache group (one for uniform models).
    let caches: [KVBlockStorage]
    let sizing: KVCacheSizing
    /// Whether the model runs on its per-layer-type cache groups.
    let grouped: Bool
    /// The multi-token-prediction layer drafting for speculative decoding (`SchedulerConfiguration.SpeculativeMethod.mtp`).
    let mtp: MultiTokenPredictor?
    let metrics: EngineMetrics
    private var arrivals = 0
    let specialTokenIDs: Set<Int>
    private let tokenBytes: (@Sendable () -> [[UInt8]])?
    /// The vocabulary as structured output walks it, built for the first request with a response format.
    private lazy var structuredVocabulary: StructuredVocabulary = {
        let started = DispatchTime.now()
        let bytes = tokenBytes?() ?? (0..<model.vocabularySize).map { decodeBytes([$0]) }
        let v = StructuredVocabulary(bytes: bytes)
        logger.info("structured output vocabulary ready", metadata: [
            "tokens": "\(v.order.count)", "seconds": "\(Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9)"])
        return v
    }()

    /// Grammars compiled for recent requests (the n choices of one request share theirs).
    private var compiledGrammars: [OutputGrammar: CompiledGrammar] = [:]

    private func compiled(_ grammar: OutputGrammar) -> CompiledGrammar {
        if let c = compiledGrammars[grammar] { return c }
        if compiledGrammars.count >= 8 { compiledGrammars.removeAll() }
        let c = CompiledGrammar(grammar)
        compiledGrammars[grammar] = c
        return c
    }

    /// The tokens that write each marker requests have used (`<think>`, a tool-call format's opener): a walk
    /// over the whole vocabulary, done once per marker.
    private var markerTokenCache: [[UInt8]: MarkerTokens] = [:]

    private func markerTokens(_ marker: [UInt8]) -> MarkerTokens {
        if let m = markerTokenCache[marker] { return m }
        if markerTokenCache.count >= 8 { markerTokenCache.removeAll() }
        let decode = decodeBytes
        let m = MarkerTokens(marker: marker, vocabularySize: structuredVocabulary.count, tokenBytes: { decode([$0]) })
        markerTokenCache[marker] = m
        return m
    }

    init(model: any LanguageModel, decodeBytes: @escaping @Sendable ([Int]) -> [UInt8], stopTokenIDs: Set<Int>,
         configuration: EngineConfiguration, logger: Logger, metrics: EngineMetrics = EngineMetrics(),
         tokenBytes: (@Sendable () -> [[UInt8]])? = nil, specialTokenIDs: Set<Int> = []) {
        self.model = model
        self.tokenBytes = tokenBytes
        self.specialTokenIDs = specialTokenIDs
        self.metrics = metrics
        self.decodeBytes = decodeBytes
        self.stopTokenIDs = stopTokenIDs
        self.logger = logger
        let layout = configuration.cacheLayout(for: model)
        grouped = !layout.groups.isEmpty
        mtp = configuration.multiTokenPredictor(for: model)
        sizing = KVCacheSizing(layout: layout, configuration: configuration, element: model.device.kvElement)
        caches = sizing.groups.map { g, blocks in
            model.device.makeKVStorage(layers: g.layers, blockCount: blocks, blockSize: configuration.blockSize, width: g.width,
                                      fieldWidth: g.fieldWidth)
        }
        scheduler = Scheduler(config: configuration.scheduler,
                              kv: KVCacheManager(groups: sizing.managerGroups, blockSize: configuration.blockSize, prefixCaching: configuration.prefixCaching,
                                                 keysGeneratedTokensApart: model.device.separatesGeneratedTokens),
                              // A per-layer-type cache may compress what it is given: a rejected draft would stay in it.
                              speculates: layout.groups.isEmpty)
        metrics.setBlocksTotal(sizing.groups.reduce(0) { $0 + $1.blocks })
        metrics.setSimulated(model.device.simulatedClock != nil)
    }

    /// The device's simulated time, if it has one.
    var simulatedNow: Double? { model.device.simulatedClock?.seconds }

    var hasWork: Bool { scheduler.hasWork }
    var kvCapacityTokens: Int { sizing.capacityTokens }

    func add(_ req: EngineRequest, onEvent handler: @escaping EngineLoop.EventHandler) {
        let gen = Generation(request: req, contextLength: model.contextLength, stopTokenIDs: stopTokenIDs, decodeBytes: decodeBytes,
                             vocabulary: { self.structuredVocabulary }, compile: { self.compiled($0) },
                             markerTokens: { self.markerTokens($0) }, specialTokenIDs: specialTokenIDs)
        if let problem = gen.validationError {
            handler(.failed(message: problem))
            return
        }
        if req.pooling == nil, !model.hasOutputHead {
            handler(.failed(message: "the model has no output head (its checkpoint ships none): it makes embeddings only"))
            return
        }
        // The KV cache, the scheduler and aborts key on the id: a second live request with it would share the
        // first one's block table.
        guard scheduler.request(req.id) == nil else {
            handler(.failed(message: "a request with id '\(req.id)' is already running"))
            return
        }
        // A generation request needs room for a token after its prompt; an embedding request does not.
        if !scheduler.kv.fits(tokens: req.promptTokenIDs.count + (req.pooling == nil ? 1 : 0)) {
            handler(.failed(message: "the prompt has \(req.promptTokenIDs.count) tokens; the KV cache holds \(kvCapacityTokens)"))
            return
        }
        arrivals += 1
        let state = RequestState(request: req, arrival: arrivals, generation: gen, onEvent: handler)
        state.simulatedArrival = simulatedNow
        scheduler.add(state)
        metrics.requestArrived(promptTokens: req.promptTokenIDs.count)
        publishGauges()
    }

    /// Running/waiting counts and KV usage as of now (also between steps, e.g. after an abort).
    func publishGauges() {
        metrics.setGauges(running: scheduler.running.count, waiting: scheduler.waiting.count, kvUsage: scheduler.kv.usage)
    }

    func abort(_ id: String) {
        guard let r = scheduler.request(id) else { return }
        scheduler.finish(r)
        r.onEvent(.finished(reason: .abort, usage: usage(of: r)))
        metrics.requestFinished(reason: .abort, seconds: RequestState.now() - r.arrivalTime)
        publishGauges()
    }

    /// Ends every request with `.failed(message)` (shutdown).
    func failAll(_ message: String) {
        for r in scheduler.running + scheduler.waiting {
            scheduler.finish(r)
            r.onEvent(.failed(message: message))
        }
        publishGauges()
    }

    /// One scheduling step and one model pass.
    func step() {
        let out = scheduler.schedule()
        if out.items.isEmpty {
            failUnschedulable()
            return
        }
        let started = DispatchTime.now(), simulatedStart = simulatedNow
        for item in out.items where item.request.scheduledTime == nil {
            let now = RequestState.now()
            item.request.scheduledTime = now
            metrics.requestScheduled(queuedSeconds: now - item.request.arrivalTime)
        }
        // Embedding items run in a pass of their own: it returns hidden states, not logits.
        let pooling = out.items.filter { $0.request.request.pooling != nil }
        let generating = pooling.isEmpty ? out.items : out.items.filter { $0.request.request.pooling == nil }
        let logits = generating.isEmpty ? [] : run(generating)
        if !pooling.isEmpty { runPooling(pooling) }
        let simulatedEnd = simulatedNow
        scheduler.didRun(out)
        finishPooled(pooling)
        for (item, rows) in zip(generating, logits) {
            collectPromptLogprobs(item, rows.prompt)
        }
        // Each item's positions that hold the sequence's own tokens once sampled (nil: the request finished).
        var confirmed: [Int?] = generating.map(\.count)
        let sampled = generating.map(\.samples)    // (read before sampling appends a token)
        for (i, (item, rows)) in zip(generating, logits).enumerated() {
            let verify = rows.sample.map { [$0] } ?? rows.verify
            if !verify.isEmpty { confirmed[i] = sample(item, verify, simulatedEnd: simulatedEnd) }
        }
        if mtp != nil { draftWithMTP(generating, logits, confirmed: confirmed, sampled: sampled) }
        // The step's simulated time includes the MTP layer's pass (its tokens were out before it).
        let simulatedStepEnd = mtp == nil ? simulatedEnd : simulatedNow
        metrics.stepRan(tokens: out.tokenCount, seconds: Double(DispatchTime.now().uptimeNanoseconds - started.uptimeNanoseconds) / 1e9,
                        simulatedSeconds: simulatedStepEnd.flatMap { end in simulatedStart.map { end - $0 } },
                        running: scheduler.running.count, waiting: scheduler.waiting.count, preempted: out.preempted.count,
                        kvUsage: scheduler.kv.usage, prefixQueries: scheduler.kv.prefixQueryTokens, prefixHits: scheduler.kv.prefixHitTokens,
                        drafts: scheduler.draftTokens, acceptedDrafts: scheduler.acceptedDraftTokens)
    }

    /// Samples an item's next token from its row, or for a speculative item (`SchedulerOutput.Item.drafts`) from its
    /// rows in turn while each sampled token is the draft the next row assumed, then sends what happened. Returns how
    /// many of the item's positions now hold the sequence's own tokens (its first plus the accepted drafts), nil when
    /// the request finished.
    private func sample(_ item: SchedulerOutput.Item, _ rows: [[Float]], simulatedEnd: Double?) -> Int? {
        let r = item.request
        var events: [TokenEvent] = [], finished = false, accepted = 0
        for (j, row) in rows.enumerated() {
            let (more, done) = r.generation.accept(logits: row)
            events += more
            finished = done
            var token: Int?
            if case .token(let id, _, _)? = more.first {
                token = id
                r.append(id)
                let now = RequestState.now()
                metrics.tokenEmitted(first: r.lastTokenTime == nil, seconds: now - (r.lastTokenTime ?? r.arrivalTime))
                r.lastTokenTime = now
                if let simulatedEnd { simulatedTokenEmitted(r, at: simulatedEnd) }
            }
            guard !done, j < item.drafts.count, token == item.drafts[j] else { break }
            accepted += 1
        }
        scheduler.accepted(accepted, of: item)
        if finished { scheduler.finish(r) }
        for e in events {
            if case .finished(let reason, _) = e { r.onEvent(.finished(reason: reason, usage: usage(of: r))) } else { r.onEvent(e) }
        }
        if finished, case .finished(let reason, _)? = events.last {
            metrics.requestFinished(reason: reason, seconds: RequestState.now() - r.arrivalTime)
        }
        return finished ? nil : item.count - item.drafts.count + accepted
    }

    /// The request's usage, with its simulated timings when the device is simulated.
    func usage(of r: RequestState) -> Usage {
        var u = r.generation.usage
        u.simulated = r.simulatedTimings(now: simulatedNow)
        return u
    }

    private func simulatedTokenEmitted(_ r: RequestState, at time: Double) {
        let first = r.simulatedFirstToken == nil
        metrics.simulatedTokenEmitted(first: first, seconds: time - (r.simulatedLastToken ?? r.simulatedArrival ?? time))
        if first { r.simulatedFirstToken = time }
        r.simulatedLastToken = time
    }

    /// Nothing could be scheduled although work is waiting: the head request cannot fit even in an
    /// empty cache (it grew beyond it). End it rather than spin.
    private func failUnschedulable() {
        guard scheduler.running.isEmpty, let r = scheduler.waiting.first else { return }
        scheduler.finish(r)
        if r.generation.generated.isEmpty {
            r.onEvent(.failed(message: "the request does not fit in the KV cache (\(kvCapacityTokens) tokens)"))
        } else {
            r.onEvent(.finished(reason: .length, usage: usage(of: r)))
            metrics.requestFinished(reason: .length, seconds: RequestState.now() - r.arrivalTime)
        }
        publishGauges()
    }
}
