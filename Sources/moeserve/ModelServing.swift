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

    static func load(_ config: Configuration, logger: Logger) throws -> (ServingContext, EngineLoop) {
        let started = Date()
        let quantisation: DType? = ["q8_0": .q8_0, "q4_0": .q4_0][config.quantization]
        let device = CPUDevice(activations: config.cpuActivations == "f32" ? .float32 : .int8, quantisation: quantisation)
        let loaded = try ModelLoader.load(path: config.modelPath, device: device)
        logger.info("model loaded", metadata: [
            "path": "\(config.modelPath)", "weights_mb": "\(String(format: "%.1f", Double(device.uploadedWeightBytes) / 1e6))", "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(started)))",
            "device": "\(loaded.model.device.name)", "cpu_activations": "\(config.cpuActivations)", "quantization": "\(config.quantization)", "context": "\(loaded.model.contextLength)",
        ])
        guard let templateSource = loaded.chatTemplate else { throw Failure(description: "the model has no chat template (tokenizer.chat_template)") }
        let template: ChatTemplate
        do { template = try ChatTemplate(source: templateSource) } catch {
            throw Failure(description: "the model's chat template does not parse: \(error)")
        }
        let tokenizer = loaded.tokenizer
        let engineConfig = EngineConfiguration(
            scheduler: SchedulerConfiguration(maxNumBatchedTokens: config.maxNumBatchedTokens, maxNumSeqs: config.maxNumSeqs,
                                              policy: SchedulerConfiguration.Policy(rawValue: config.schedulingPolicy) ?? .fcfs),
            blockSize: config.blockSize, kvCacheBytes: config.kvCacheBytes, prefixCaching: config.prefixCaching)
        let engine = EngineLoop(model: loaded.model, decodeBytes: { tokenizer.decodeBytes($0) },
                                stopTokenIDs: loaded.stopTokenIDs, configuration: engineConfig, logger: logger)
        engine.start()
        let layout = loaded.model.cacheLayout
        logger.info("engine ready", metadata: ["kv_tokens": "\(engine.kvCapacityTokens)", "kv_bytes_per_token": "\(layout.bytesPerToken)",
                                               "max_num_seqs": "\(config.maxNumSeqs)"])
        for line in layout.layerSummary { logger.info("kv cache layer type", metadata: ["per_token": "\(line)"]) }
        for line in engine.kvCacheGroups { logger.info("kv cache group", metadata: ["group": "\(line)"]) }
        let context = ServingContext(
            model: ServedModel(id: config.modelID, contextLength: loaded.model.contextLength, vocabularySize: loaded.model.vocabularySize),
            backend: engine, prompter: TemplatePrompter(template: template, tokenizer: tokenizer), metrics: engine.metrics)
        return (context, engine)
    }
}
