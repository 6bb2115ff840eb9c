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
        let device = CPUDevice()
        let loaded = try ModelLoader.load(path: config.modelPath, device: device)
        logger.info("model loaded", metadata: [
            "path": "\(config.modelPath)", "weights_mb": "\(String(format: "%.1f", Double(device.uploadedWeightBytes) / 1e6))", "seconds": "\(String(format: "%.2f", Date().timeIntervalSince(started)))",
            "device": "\(loaded.model.device.name)", "context": "\(loaded.model.contextLength)",
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
                                stopTokenIDs: loaded.stopTokenIDs, configuration: engineConfig, logger: logger, metrics: metrics)
        engine.start()
        logger.info("engine ready", metadata: ["kv_tokens": "\(engine.kvCapacityTokens)", "max_num_seqs": "\(config.maxNumSeqs)"])
        let context = ServingContext(
            model: ServedModel(id: config.modelID, contextLength: loaded.model.contextLength, vocabularySize: loaded.model.vocabularySize),
            backend: engine, prompter: TemplatePrompter(template: template, tokenizer: tokenizer))
        return (context, engine)
    }
}
