import Device
import Engine
import Foundation
import Logging
import Model
import OpenAIAPI
import Tokenizer

/// Loads the configured model and builds everything the API needs to serve it.
enum ModelServing {
    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    static func load(_ config: Configuration, logger: Logger, metrics: EngineMetrics) throws -> (ServingContext, EngineLoop) {
        let started = Date()
        let (device, weightBytes) = try makeDevice(config)
        let loaded = try ModelLoader.load(path: config.modelPath, device: device,
                                          multiTokenPrediction: config.speculativeMethod == "mtp" && config.draftTokensPerStep > 0)
        logger.info("model loaded", metadata: [
            "path": "\(config.modelPath)", "weights_mb": "\(String(format: "%.1f", Double(weightBytes()) / 1e6))", "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(started)))",
            "device": "\(loaded.model.device.name)", "cpu_activations": "\(config.cpuActivations)", "quantization": "\(config.quantization)", "context": "\(loaded.model.contextLength)",
        ])
        // Without a chat template (embedding models often have none) the chat routes answer 400; the rest serve.
        var template: ChatTemplate?
        if let source = loaded.chatTemplate {
            do { template = try ChatTemplate(source: source) } catch {
                throw Failure(description: "the model's chat template does not parse: \(error)")
            }
        } else {
            logger.warning("the model has no chat template (tokenizer.chat_template): /v1/chat/completions and /v1/responses refuse requests")
        }
        let tokenizer = loaded.tokenizer
        let engineConfig = EngineConfiguration(
            scheduler: SchedulerConfiguration(maxNumBatchedTokens: config.maxNumBatchedTokens, maxNumSeqs: config.maxNumSeqs,
                                              policy: SchedulerConfiguration.Policy(rawValue: config.schedulingPolicy) ?? .fcfs,
                                              speculativeTokens: config.draftTokensPerStep,
                                              speculativeMethod: SchedulerConfiguration.SpeculativeMethod(rawValue: config.speculativeMethod) ?? .ngram,
                                              speculativeMaxRunning: config.speculativeMaxRunning),
            blockSize: config.blockSize, kvCacheBytes: config.kvCacheBytes, prefixCaching: config.prefixCaching)
        try checkSpeculation(engineConfig, model: loaded.model, logger: logger)
        let layout = engineConfig.cacheLayout(for: loaded.model)
        // The engine sizes its block pool the same way; a device with its own memory checks that it fits.
        try device.reserveKVCache(layers: layout.layers, blockCount: max(1, KVBlockStorage.blocks(
            fitting: config.kvCacheBytes, layers: max(1, layout.layers), blockSize: config.blockSize, width: layout.width,
            element: device.kvElement)),
            blockSize: config.blockSize, width: layout.width)
        let engine = EngineLoop(model: loaded.model, decodeBytes: { tokenizer.decodeBytes($0) },
                                stopTokenIDs: loaded.stopTokenIDs, configuration: engineConfig, logger: logger, metrics: metrics,
                                // Structured output writes text: special tokens (chat markup, EOS) are never part of it.
                                tokenBytes: { (0..<tokenizer.vocabularySize).map { tokenizer.isSpecial($0) ? [] : tokenizer.decodeBytes([$0]) } },
                                specialTokenIDs: Set((0..<tokenizer.vocabularySize).filter { tokenizer.isSpecial($0) }))
        engine.start()
        logger.info("engine ready", metadata: ["kv_tokens": "\(engine.kvCapacityTokens)", "kv_bytes_per_token": "\(layout.bytesPerToken(device.kvElement))",
                                               "kv_cache_dtype": "\(device.kvElement.rawValue)",
                                               "max_num_seqs": "\(config.maxNumSeqs)"])
        if engine.kvCapacityTokens < loaded.model.contextLength {
            logger.warning("the KV cache holds fewer tokens than the model's context: requests are limited to the cache (max_model_len); raise --kv-cache-memory for longer ones",
                           metadata: ["kv_tokens": "\(engine.kvCapacityTokens)", "context": "\(loaded.model.contextLength)"])
        }
        for line in layout.layerSummary(device.kvElement) { logger.info("kv cache layer type", metadata: ["per_token": "\(line)"]) }
        for line in engine.kvCacheGroups { logger.info("kv cache group", metadata: ["group": "\(line)"]) }
        if !loaded.model.hasOutputHead {
            logger.warning("the checkpoint has no output head (lm_head.weight, and tie_word_embeddings is false): serving /v1/embeddings only")
        }
        let (pooling, poolingRefusal) = embeddingPooling(config.pooling, declared: loaded.declaredPooling)
        logger.info("embeddings", metadata: ["pooling": "\(pooling?.rawValue ?? "none")", "declared": "\(loaded.declaredPooling ?? "nothing")",
                                             "dimensions": "\(loaded.model.hiddenSize)"])
        let context = ServingContext(
            model: ServedModel(id: config.modelID, contextLength: loaded.model.contextLength, vocabularySize: loaded.model.vocabularySize,
                               kvCapacityTokens: engine.kvCapacityTokens, hiddenSize: loaded.model.hiddenSize, pooling: pooling,
                               poolingRefusal: poolingRefusal, generates: loaded.model.hasOutputHead),
            backend: engine, prompter: TemplatePrompter(template: template, tokenizer: tokenizer),
            priorityScheduling: engineConfig.scheduler.policy == .priority)
        return (context, engine)
    }

    /// `--speculative-method mtp` needs a model with a multi-token-prediction layer that the engine can run.
    static func checkSpeculation(_ config: EngineConfiguration, model: any LanguageModel, logger: Logger) throws {
        let s = config.scheduler
        guard s.speculativeMethod == .mtp, s.speculativeTokens > 0 else { return }
        guard model.cacheLayout.groups.isEmpty else {
            throw Failure(description: "--speculative-method mtp: this model's cache compresses what it is given (DeepSeek-V4), so it cannot take rejected drafts: speculative decoding is off for it whatever the method")
        }
        guard model.multiTokenPredictor != nil else {
            throw Failure(description: "--speculative-method mtp: the model has no multi-token-prediction layer (DeepSeek-V3, R1 and V3.2 checkpoints carry one as model.layers.{num_hidden_layers}, unless a conversion left it out); use ngram")
        }
        logger.info("speculative decoding", metadata: ["method": "mtp", "drafts_per_step": "\(s.speculativeTokens)", "max_running": "\(s.speculativeMaxRunning)"])
    }

    /// How `/v1/embeddings` pools (`model.pooling`): as set, or with `auto` as the checkpoint declares (the last token when
    /// it declares nothing). A declared mode this server lacks serves no embeddings, with the reason, rather than other ones.
    static func embeddingPooling(_ setting: String, declared: String?) -> (Pooling?, String?) {
        if setting != "auto" { return (Pooling(rawValue: setting) ?? .last, nil) }
        switch declared {
        case nil, "lasttoken"?: return (.last, nil)
        case "mean"?: return (.mean, nil)
        case let other?:
            return (nil, "this model's checkpoint declares '\(other)' pooling, which this server does not implement; start it with --pooling last "
                         + "or --pooling mean to serve embeddings pooled that way")
        }
    }

    /// The configured device and how to read the bytes its weights hold.
    static func makeDevice(_ config: Configuration) throws -> (any Device, () -> Int) {
        switch config.device {
        case "ascend-sim":
            // The simulated chip keeps its cache in its activation type (bf16/fp16, rounded as on the chip).
            guard config.kvCacheDtype == "auto" else {
                throw Failure(description: "engine.kv_cache_dtype (--kv-cache-dtype, MOESERVE_KV_CACHE_DTYPE) is '\(config.kvCacheDtype)', but it applies to --device cpu only; the simulated NPU stores its KV cache in the profile's activation type (--ascend-precision)")
            }
            guard let precision = AscendPrecision(rawValue: config.ascendPrecision) else {
                throw Failure(description: "unknown ascend precision '\(config.ascendPrecision)'")
            }
            // NOTE: graph mode, as vllm-ascend captures decode steps with ACL graphs; the clock then has no launch cost.
            let sim = AscendSimDevice(AscendSimConfiguration(profile: try AscendProfile.resolve(config.ascendProfile),
                                                             precision: precision, graphMode: true))
            return (sim, { Int(sim.memory.weights) })
        default:
            let quantisation = QuantisedBlocks.quantisationTarget(named: config.quantization)
            let activations = ActivationPrecision.setting(config.cpuActivations) ?? (.float32, .int8)  // validated at load
            let cpu = CPUDevice(activations: activations.prompt, generatedActivations: activations.generated, quantisation: quantisation,
                                kvElement: KVElement.setting(config.kvCacheDtype) ?? .f32)   // validated at load
            return (cpu, { cpu.uploadedWeightBytes })
        }
    }
}
