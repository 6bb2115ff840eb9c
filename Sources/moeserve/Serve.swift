import ArgumentParser
import Device
import Dispatch
import Engine
import Foundation
import HTTPCore
import Logging
import Model
import OpenAIAPI
import Tokenizer

/// `moeserve serve`: load the model, start the engine, answer HTTP until SIGTERM/SIGINT.
struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the model over the OpenAI-compatible HTTP API.",
        discussion: """
            Every setting has a default, documented in config/moeserve.yaml. Precedence: defaults < the YAML file \
            (--config, or config/moeserve.yaml when present) < MOESERVE_* environment variables < these flags.
            """)

    @OptionGroup var options: ConfigOptions

    @OptionGroup var serving: ServeOptions

    func run() throws {
        let config: Configuration
        do {
            config = try options.resolve { try serving.apply(to: &$0) }
            guard config.tlsCert.isEmpty == config.tlsKey.isEmpty else {
                throw Configuration.Invalid(description: "server.tls_cert and server.tls_key must be set together")
            }
        } catch {
            throw ValidationError("\(error)")
        }
        let logger = LogSetup.bootstrap(level: config.logLevel, format: config.logFormat)
        let metrics = ServerMetrics()
        metrics.bootstrap()
        let apiOptions: APIOptions
        do {
            apiOptions = APIOptions(apiKeys: try config.resolvedAPIKeys(), corsOrigin: config.corsOrigin.isEmpty ? nil : config.corsOrigin,
                                    logPrompts: config.logPrompts, storedResponses: config.storedResponses,
                                    reasoning: ReasoningParsing(rawValue: config.reasoningParser) ?? .auto)
        } catch {
            throw ValidationError("\(error)")
        }
        // Listen first and answer 503 while the model loads, so probes and clients see "loading", not "refused".
        let router = OpenAIRouter(logger: logger, options: apiOptions, metricsText: { metrics.exposition() })
        var httpConfiguration = try serverConfiguration(config)
        httpConfiguration.errorHeaders = apiOptions.corsHeaders
        let server = HTTPServer(configuration: httpConfiguration, logger: logger, accessObserver: metrics.accessObserver,
                                handler: router.handler)
        let boundPort: Int
        do { boundPort = try server.start() } catch {
            logger.critical("cannot listen on \(config.host):\(config.port): \(error)")
            throw ExitCode(1)
        }
        logger.notice("listening", metadata: ["address": "\(config.tlsCert.isEmpty ? "http" : "https")://\(config.host):\(boundPort)",
                                              "model": "\(config.modelID)", "auth": "\(apiOptions.apiKeys.isEmpty ? "off" : "bearer")"])
        let shutdown = GracefulShutdown(router: router, server: server, timeout: config.shutdownTimeout, logger: logger)
        let signals = SignalHandlers { shutdown.signalReceived($0) }
        do {
            let (context, engine) = try ModelServing.load(config, logger: logger, metrics: metrics.engineMetrics(modelID: config.modelID))
            router.setReady(context)
            shutdown.engineStarted(engine)
            logger.notice("ready", metadata: ["model": "\(config.modelID)"])
        } catch {
            logger.critical("cannot serve the model: \(error)")
            server.shutdown(gracePeriod: .seconds(1))
            server.waitUntilStopped()
            throw ExitCode(2)
        }
        server.waitUntilStopped()
        withExtendedLifetime(signals) {}
        logger.notice("stopped")
    }
}

extension Serve {
    func serverConfiguration(_ config: Configuration) throws -> HTTPServerConfiguration {
        var serverConfig = HTTPServerConfiguration()
        serverConfig.host = config.host
        serverConfig.port = config.port
        serverConfig.maxBodyBytes = config.maxBodyBytes
        // The server's own refusals (413, 408, parse errors) on Anthropic's routes come in Anthropic's shape.
        serverConfig.errorBody = { path, status, message, type in
            guard let path, OpenAIRouter.isAnthropicRoute(path) else { return nil }
            return APIError(status: status, message: message, type: type).anthropicJSON.bytes
        }
        if !config.tlsCert.isEmpty {
            serverConfig.tls = TLSConfiguration(certificateChainPath: config.tlsCert, privateKeyPath: config.tlsKey)
        }
        return serverConfig
    }
}

/// SIGTERM/SIGINT turned into a callback on a Dispatch queue (not in signal context).
final class SignalHandlers {
    private var sources: [DispatchSourceSignal] = []

    init(_ handler: @escaping @Sendable (String) -> Void) {
        for (sig, name) in [(SIGTERM, "SIGTERM"), (SIGINT, "SIGINT")] {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: .global())
            s.setEventHandler { handler(name) }
            s.resume()
            sources.append(s)
        }
    }
}
