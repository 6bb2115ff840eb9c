import ArgumentParser

/// The flags of `moeserve serve`, one per setting of `config/moeserve.yaml` (besides those in
/// `ConfigOptions`). Each is applied over the file and the environment by `apply(to:)`.
struct ServeOptions: ParsableArguments {
    @Option(help: "Address to listen on (127.0.0.1, 0.0.0.0, ::1, ::). [server.host]")
    var host: String?

    @Option(parsing: .unconditional, help: "Port to listen on (0 picks a free one and prints it). [server.port]")
    var port: Int?

    @Option(name: .customLong("max-body-bytes"), parsing: .unconditional, help: "Largest request body accepted (413 beyond). [server.max_body_bytes]")
    var maxBodyBytes: Int?

    @Option(name: .customLong("api-key"), help: "Require this bearer key (repeatable). [server.api_keys]")
    var apiKeys: [String] = []

    @Option(name: .customLong("api-key-file"), help: "File with one accepted bearer key per line. [server.api_key_file]")
    var apiKeyFile: String?

    @Option(name: .customLong("cors-origin"), help: "Allowed CORS origin (e.g. https://app.example or *); CORS is off without it. [server.cors_origin]")
    var corsOrigin: String?

    @Option(name: .customLong("tls-cert"), help: "PEM certificate chain; with --tls-key, serve HTTPS. [server.tls_cert]")
    var tlsCert: String?

    @Option(name: .customLong("tls-key"), help: "PEM private key for --tls-cert. [server.tls_key]")
    var tlsKey: String?

    @Option(name: .customLong("shutdown-timeout"), parsing: .unconditional,
            help: "Seconds a SIGTERM/SIGINT drain lets requests in flight finish before ending them with finish_reason \"abort\". [server.shutdown_timeout]")
    var shutdownTimeout: Double?

    @Option(name: .customLong("stored-responses"), parsing: .unconditional,
            help: "Responses API responses kept in memory per replica, for GET /v1/responses/{id} and previous_response_id (0: none; the oldest go first). [server.stored_responses]")
    var storedResponses: Int?

    @Option(name: .customLong("reasoning-parser"),
            help: "auto: a thinking model's <think>…</think> (DeepSeek-R1, V3.1+, Qwen3, …) comes back as reasoning_content and Responses API reasoning items; none: it stays in the content. [server.reasoning_parser]")
    var reasoningParser: String?

    @Option(help: "How /v1/embeddings pools a prompt's final hidden states: auto (what the checkpoint declares: a sentence-transformers Pooling module or GGUF pooling_type, else the last token), last (decoder embedding models: Qwen3-Embedding, gte-Qwen2, E5-Mistral) or mean. [model.pooling]")
    var pooling: String?

    @Option(help: "Compute device: cpu, or ascend-sim (simulated Ascend NPU: real numerics, simulated time). [engine.device]")
    var device: String?

    @Option(name: .customLong("cpu-activations"), help: "Activations of matmuls with quantised weights on the CPU: f32 (exact), int8 (llama.cpp's scheme for every token: prompts ~2.4× as fast with AVX-512 VNNI, ~1.4× with AVX2, but the default model's answers change) or auto (prompts f32, generated tokens int8). [engine.cpu_activations]")
    var cpuActivations: String?

    @Option(name: .customLong("quantization"), help: "Convert fp32/fp16/bf16/fp8 matrices at load: none, q8_0, q4_0 (block formats) or bf16. [engine.quantization]")
    var quantization: String?

    @Option(name: .customLong("ascend-profile"), help: "With --device ascend-sim: 910b, 910c, 950dt, h800, or a YAML/JSON profile file. [engine.ascend_profile]")
    var ascendProfile: String?

    @Option(name: .customLong("ascend-precision"), help: "With --device ascend-sim: bf16, fp16 or w8a8. [engine.ascend_precision]")
    var ascendPrecision: String?

    @Option(name: .customLong("kv-cache-memory"), help: "KV cache memory, e.g. 512MiB or 2GiB. [engine.kv_cache_memory]")
    var kvCacheMemory: String?

    @Option(name: .customLong("kv-cache-dtype"), help: "What the CPU's KV cache stores: auto (f16 as llama.cpp's server, or f32 on CPUs without AVX2 and F16C), f16 or bf16 (half fp32's memory and of the bytes attention reads; each value rounded once, f16 saturating at ±65504) or f32 (exact). [engine.kv_cache_dtype]")
    var kvCacheDtype: String?

    @Option(name: .customLong("block-size"), parsing: .unconditional, help: "Tokens per KV block. [engine.block_size]")
    var blockSize: Int?

    @Option(name: .customLong("max-num-batched-tokens"), parsing: .unconditional, help: "Token budget of one engine step. [engine.max_num_batched_tokens]")
    var maxNumBatchedTokens: Int?

    @Option(name: .customLong("max-num-seqs"), parsing: .unconditional, help: "Most requests running at once. [engine.max_num_seqs]")
    var maxNumSeqs: Int?

    @Option(name: .customLong("speculative-tokens"), parsing: .unconditional, help: "Speculative decoding: up to this many draft tokens per sequence and step, verified in one pass (default 5 by prompt lookup, 1 with --speculative-method mtp; 0: off). Outputs are unchanged; answers whose drafts are right (by prompt lookup: quotes, code edits, summaries) come faster. [engine.speculative_tokens]")
    var speculativeTokens: Int?

    @Option(name: .customLong("speculative-method"), help: "Where speculative drafts come from: ngram (prompt lookup, any model) or mtp (DeepSeek-V3/R1/V3.2's multi-token-prediction layer: its guess at the token after the next, and with --speculative-tokens N > 1 further guesses chained from its own output, verified like the others; the checkpoint must carry the layer). [engine.speculative_method]")
    var speculativeMethod: String?

    @Option(name: .customLong("speculative-max-running"), parsing: .unconditional, help: "Speculate only while at most this many requests decode (default 1: verifying drafts costs arithmetic a batch has not to spare). [engine.speculative_max_running]")
    var speculativeMaxRunning: Int?

    @Flag(inversion: .prefixedNo, help: "Reuse KV blocks of shared prompt prefixes. [engine.prefix_caching]")
    var prefixCaching: Bool?

    @Option(help: "Scheduling policy: fcfs or priority. [engine.policy]")
    var policy: String?

    @Flag(name: .customLong("log-prompts"), help: "Log prompt text (off by default: prompts are user data). [log.prompts]")
    var logPrompts = false

    /// Sets every flag given over `c`; a bad value throws an error naming the flag.
    func apply(to c: inout Configuration) throws {
        let values: [(String?, String, String)] = [
            (host, "server.host", "--host"), (port.map(String.init), "server.port", "--port"),
            (maxBodyBytes.map(String.init), "server.max_body_bytes", "--max-body-bytes"),
            (apiKeys.isEmpty ? nil : apiKeys.joined(separator: ","), "server.api_keys", "--api-key"),
            (apiKeyFile, "server.api_key_file", "--api-key-file"), (corsOrigin, "server.cors_origin", "--cors-origin"),
            (tlsCert, "server.tls_cert", "--tls-cert"), (tlsKey, "server.tls_key", "--tls-key"),
            (shutdownTimeout.map { String($0) }, "server.shutdown_timeout", "--shutdown-timeout"),
            (storedResponses.map(String.init), "server.stored_responses", "--stored-responses"),
            (reasoningParser, "server.reasoning_parser", "--reasoning-parser"),
            (pooling, "model.pooling", "--pooling"), (device, "engine.device", "--device"), (cpuActivations, "engine.cpu_activations", "--cpu-activations"),
            (quantization, "engine.quantization", "--quantization"), (ascendProfile, "engine.ascend_profile", "--ascend-profile"),
            (ascendPrecision, "engine.ascend_precision", "--ascend-precision"), (kvCacheMemory, "engine.kv_cache_memory", "--kv-cache-memory"),
            (kvCacheDtype, "engine.kv_cache_dtype", "--kv-cache-dtype"),
            (blockSize.map(String.init), "engine.block_size", "--block-size"),
            (maxNumBatchedTokens.map(String.init), "engine.max_num_batched_tokens", "--max-num-batched-tokens"),
            (maxNumSeqs.map(String.init), "engine.max_num_seqs", "--max-num-seqs"),
            (speculativeTokens.map(String.init), "engine.speculative_tokens", "--speculative-tokens"),
            (speculativeMaxRunning.map(String.init), "engine.speculative_max_running", "--speculative-max-running"),
            (speculativeMethod, "engine.speculative_method", "--speculative-method"),
            (prefixCaching.map { String($0) }, "engine.prefix_caching", "--[no-]prefix-caching"),
            (policy, "engine.policy", "--policy"), (logPrompts ? "true" : nil, "log.prompts", "--log-prompts"),
        ]
        for case let (value?, key, flag) in values { try c.set(key, to: value, source: flag) }
    }
}
