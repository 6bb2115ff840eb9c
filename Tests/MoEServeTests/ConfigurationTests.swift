import Foundation
import Testing
import Device
import Engine
@testable import moeserve

/// Defaults < YAML < environment < flags, and every bad value is an error that names the setting.
@Suite struct ConfigurationTests {
    @Test func yamlThenEnvironmentOverrideDefaults() throws {
        var c = Configuration()
        #expect(c.port == 8080 && c.maxNumSeqs == 64)
        try c.apply(yaml: """
            server:
              port: 9000
              api_keys: [alpha, beta]
            engine:
              kv_cache_memory: 2GiB
              max_num_seqs: 8
            """, source: "test.yaml")
        #expect(c.port == 9000 && c.kvCacheBytes == 2 << 30 && c.maxNumSeqs == 8)
        #expect(try c.resolvedAPIKeys() == ["alpha", "beta"])
        try c.apply(environment: ["MOESERVE_PORT": "9100", "MOESERVE_MAX_NUM_SEQS": "4", "UNRELATED": "x"])
        #expect(c.port == 9100 && c.maxNumSeqs == 4)
        try c.set("server.port", to: "9200", source: "--port")
        #expect(c.port == 9200)
    }

    @Test func ascendSettingsGivenWithTheCPUDeviceAreAnError() throws {
        // A file may list them (config/moeserve.yaml documents every setting): not an error.
        var c = Configuration()
        try c.apply(yaml: "engine:\n  ascend_profile: 910c\n", source: "test.yaml")
        try c.checkDeviceSettings()
        // Asked for now, by a flag or the environment, with the CPU device: an error naming it.
        try c.set("engine.ascend_profile", to: "910c", source: "--ascend-profile")
        do {
            try c.checkDeviceSettings()
            Issue.record("accepted --ascend-profile with --device cpu")
        } catch {
            #expect("\(error)".contains("--ascend-profile") && "\(error)".contains("ascend-sim"))
        }
        try c.set("engine.device", to: "ascend-sim", source: "--device")
        try c.checkDeviceSettings()
        var env = Configuration()
        try env.apply(environment: ["MOESERVE_ASCEND_PROFILE": "910c"])
        #expect(throws: Configuration.Invalid.self) { try env.checkDeviceSettings() }
    }

    @Test func errorsNameTheSetting() {
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        var c = Configuration()
        #expect(message { try c.apply(yaml: "server:\n  prot: 1\n", source: "f.yaml") }.contains("server.prot"))
        #expect(message { try c.apply(yaml: "engin:\n  device: cpu\n", source: "f.yaml") }.contains("engin"))
        #expect(message { try c.apply(environment: ["MOESERVE_PORT": "70000"]) }.contains("server.port"))
        #expect(message { try c.set("engine.kv_cache_memory", to: "lots", source: "--kv-cache-memory") }.contains("kv_cache_memory"))
        #expect(message { try c.set("engine.device", to: "gpu", source: "--device") }.contains("gpu"))
        #expect(message { try c.set("log.level", to: "loud", source: "--log-level") }.contains("loud"))
        #expect(message { try c.set("engine.quantization", to: "q3_k", source: "--quantization") }.contains("engine.quantization"))
        #expect(message { try c.set("engine.quantization", to: "bf17", source: "--quantization") }.contains("none, q8_0, q4_0 or bf16"))
        try? c.set("engine.quantization", to: "bf16", source: "--quantization")
        #expect(c.quantization == "bf16")
        #expect(message { try c.apply(environment: ["MOESERVE_CPU_ACTIVATIONS": "fp8"]) }.contains("engine.cpu_activations"))
        #expect(c.cpuActivations == "auto")
        try? c.apply(environment: ["MOESERVE_QUANTIZATION": "q4_0", "MOESERVE_CPU_ACTIVATIONS": "int8"])
        #expect(c.quantization == "q4_0" && c.cpuActivations == "int8")
        try? c.apply(environment: ["MOESERVE_CPU_ACTIVATIONS": "f32"])
        #expect(c.cpuActivations == "f32")
        #expect(c.kvCacheDtype == "auto")
        // auto: fp16 where the attention kernels widen it in vectors (AVX2 + F16C), fp32 on the portable loops.
        var avx2 = CPUFeatures()
        (avx2.avx2, avx2.fma, avx2.f16c) = (true, true, true)
        #expect(KVElement.setting(c.kvCacheDtype, features: avx2) == .f16)
        #expect(KVElement.setting(c.kvCacheDtype, features: CPUFeatures()) == .f32)
        avx2.f16c = false
        #expect(KVElement.setting(c.kvCacheDtype, features: avx2) == .f32)
        #expect(KVElement.setting("bf16", features: CPUFeatures()) == .bf16)
        #expect(message { try c.set("engine.kv_cache_dtype", to: "fp8", source: "--kv-cache-dtype") }.contains("auto, f32, f16 or bf16"))
        #expect(message { try c.apply(yaml: "engine:\n  kv_cache_dtype: int4\n", source: "f.yaml") }.contains("engine.kv_cache_dtype"))
        try? c.apply(environment: ["MOESERVE_KV_CACHE_DTYPE": "bf16"])
        #expect(c.kvCacheDtype == "bf16")
        try? c.set("engine.kv_cache_dtype", to: "f32", source: "--kv-cache-dtype")
        #expect(c.kvCacheDtype == "f32" && KVElement.setting(c.kvCacheDtype) == .f32)
    }

    @Test func operationsSettingsFollowThePrecedence() throws {
        var c = Configuration()
        #expect(c.shutdownTimeout == 30 && c.logFormat == .text && !c.logPrompts)
        try c.apply(yaml: "server:\n  shutdown_timeout: 5\nlog:\n  format: json\n  prompts: true\n", source: "f.yaml")
        #expect(c.shutdownTimeout == 5 && c.logFormat == .json && c.logPrompts)
        try c.apply(environment: ["MOESERVE_SHUTDOWN_TIMEOUT": "2.5", "MOESERVE_LOG_FORMAT": "text", "MOESERVE_LOG_PROMPTS": "false"])
        #expect(c.shutdownTimeout == 2.5 && c.logFormat == .text && !c.logPrompts)
        try c.set("server.shutdown_timeout", to: "0", source: "--shutdown-timeout")
        try c.set("log.format", to: "json", source: "--log-format")
        #expect(c.shutdownTimeout == 0 && c.logFormat == .json)
    }

    @Test func operationsSettingsAreValidated() {
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        var c = Configuration()
        #expect(message { try c.set("log.format", to: "xml", source: "--log-format") }.contains("log.format"))
        #expect(message { try c.apply(environment: ["MOESERVE_LOG_PROMPTS": "yes"]) }.contains("MOESERVE_LOG_PROMPTS: 'log.prompts'"))
        #expect(message { try c.set("server.shutdown_timeout", to: "-1", source: "--shutdown-timeout") }.contains("server.shutdown_timeout"))
        #expect(message { try c.apply(yaml: "log:\n  formatt: json\n", source: "f.yaml") }.contains("log.formatt"))
        #expect(c == Configuration(), "a rejected value changes nothing")
    }

    @Test func flagsOverrideAndEverySettingHasOne() throws {
        let flags = try ServeOptions.parse(["--port", "9300", "--no-prefix-caching", "--block-size", "32", "--policy", "priority",
                                            "--max-num-batched-tokens", "512", "--max-body-bytes", "1024", "--log-prompts"])
        var c = Configuration()
        try c.apply(environment: ["MOESERVE_PORT": "9100"])
        try flags.apply(to: &c)
        #expect(c.port == 9300 && !c.prefixCaching && c.blockSize == 32 && c.schedulingPolicy == "priority")
        #expect(c.maxNumBatchedTokens == 512 && c.maxBodyBytes == 1024 && c.logPrompts)
        // A bad flag value names the flag and the setting.
        var d = Configuration()
        let bad = try ServeOptions.parse(["--block-size", "0"])
        #expect(throws: Configuration.Invalid.self) { try bad.apply(to: &d) }
        do { try bad.apply(to: &d) } catch { #expect("\(error)".contains("--block-size: 'engine.block_size'")) }
        // A negative number is the flag's value (then out of range), not a missing value followed by a flag.
        let negative = try ServeOptions.parse(["--speculative-tokens", "-1", "--port", "-5"])
        do { try negative.apply(to: &d); Issue.record("accepted a negative port") } catch { #expect("\(error)".contains("--port")) }
        // Drafts per step: 5 by prompt lookup, 1 with the MTP layer, unless set; an unknown method is refused.
        var m = Configuration()
        #expect(m.draftTokensPerStep == 5)
        try ServeOptions.parse(["--speculative-method", "mtp"]).apply(to: &m)
        #expect(m.draftTokensPerStep == 1)
        try ServeOptions.parse(["--speculative-tokens", "3"]).apply(to: &m)
        #expect(m.draftTokensPerStep == 3 && m.speculativeMethod == "mtp")
        do { try ServeOptions.parse(["--speculative-method", "eagle"]).apply(to: &m); Issue.record("accepted eagle") } catch {
            #expect("\(error)".contains("ngram or mtp"))
        }
        // `moeserve serve --help` names every setting of the YAML file.
        let help = Serve.helpMessage(columns: 400)
        for (section, keys) in Configuration.keys {
            for key in keys { #expect(help.contains("[\(section).\(key)]"), "serve --help lacks \(section).\(key)") }
        }
    }

    @Test func byteSizes() {
        #expect(Configuration.parseBytes("512MiB") == 512 << 20)
        #expect(Configuration.parseBytes("1.5G") == 3 << 29)
        #expect(Configuration.parseBytes("4096") == 4096)
        #expect(Configuration.parseBytes("x") == nil)
        #expect(Configuration.parseBytes("-1MiB") == nil)
    }

    /// Settings that would silently turn authentication off, YAML values that are not one scalar, sizes beyond
    /// the machine, and YAML nested deep enough to overflow the parser's stack are errors, not surprises.
    @Test func inputsThatWouldMisleadAreRefused() throws {
        func message(_ body: () throws -> Void) -> String {
            do { try body(); return "" } catch { return "\(error)" }
        }
        var c = Configuration()
        let empty = FileManager.default.temporaryDirectory.appendingPathComponent("moeserve-empty-keys-\(getpid())").path
        try "# no keys yet\n\n".write(toFile: empty, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: empty) }
        try c.set("server.api_key_file", to: empty, source: "--api-key-file")
        #expect(message { _ = try c.resolvedAPIKeys() }.contains("without authentication"))
        c = Configuration()
        #expect(message { try c.set("server.api_keys", to: "", source: "--api-key") }.contains("without authentication"))
        #expect(message { try c.apply(environment: ["MOESERVE_API_KEY": " , "]) }.contains("without authentication"))
        try c.apply(yaml: "server:\n  api_keys: []\n", source: "f.yaml")   // the shipped default: no keys, no auth
        #expect(try c.resolvedAPIKeys().isEmpty)
        #expect(message { try c.apply(yaml: "server:\n  host: null\n", source: "f.yaml") }.contains("'server.host' has no value"))
        try c.apply(yaml: "server:\nengine:\n  max_num_seqs: 3\n", source: "f.yaml")   // an empty section is no settings
        #expect(c.maxNumSeqs == 3)
        let profile = FileManager.default.temporaryDirectory.appendingPathComponent("moeserve-bad-profile-\(getpid()).yaml").path
        try "name: x\n".write(toFile: profile, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(atPath: profile) }
        #expect(message { try c.set("engine.ascend_profile", to: profile, source: "--ascend-profile") }.contains("profile file"))
        #expect(message { try c.apply(yaml: "server:\n  host: [a, b]\n", source: "f.yaml") }.contains("not a list"))
        #expect(message { try c.apply(yaml: "server:\n  api_keys: [{a: 1}]\n", source: "f.yaml") }.contains("list of strings"))
        #expect(message { try c.apply(yaml: "server:\n  port: [\n", source: "f.yaml") }.hasPrefix("f.yaml: not valid YAML"))
        let deep = "server:\n  host: " + String(repeating: "[", count: 5_000) + String(repeating: "]", count: 5_000) + "\n"
        #expect(message { try c.apply(yaml: deep, source: "f.yaml") }.contains("nest more than"))
        // Brackets inside a quoted string are text, not nesting.
        var quoted = Configuration()
        try quoted.apply(yaml: "server:\n  host: '" + String(repeating: "[", count: 100) + "'\n", source: "f.yaml")
        #expect(quoted.host == String(repeating: "[", count: 100))
        var indented = "a:\n"
        for level in 1...200 { indented += String(repeating: " ", count: 2 * level) + "a\(level):\n" }
        #expect(message { try c.apply(yaml: indented, source: "f.yaml") }.contains("indented more than"))
        #expect(message { try c.set("engine.kv_cache_memory", to: "9223372036854775807", source: "--kv-cache-memory") }.contains("kv_cache_memory"))
        #expect(message { try c.set("engine.kv_cache_memory", to: "1000000GiB", source: "--kv-cache-memory") }.contains("kv_cache_memory"))
        let tooMuch = ProcessInfo.processInfo.physicalMemory >> 30 + 1
        #expect(message { try c.set("engine.kv_cache_memory", to: "\(tooMuch)GiB", source: "--kv-cache-memory") }.contains("more than this machine's memory"))
    }

    @Test func theShippedConfigFileLoads() throws {
        let path = #filePath.split(separator: "/").dropLast(3).joined(separator: "/")
        let text = try String(contentsOfFile: "/" + path + "/config/moeserve.yaml", encoding: .utf8)
        var c = Configuration()
        try c.apply(yaml: text, source: "config/moeserve.yaml")
        #expect(c == Configuration(), "config/moeserve.yaml documents the built-in defaults")
    }
}

/// `model.pooling`: as set, or with auto as the checkpoint declares.
@Suite struct EmbeddingPoolingSettingTests {
    @Test func autoFollowsTheCheckpoint() {
        #expect(ModelServing.embeddingPooling("auto", declared: nil) == (.last, nil))
        #expect(ModelServing.embeddingPooling("auto", declared: "lasttoken") == (.last, nil))
        #expect(ModelServing.embeddingPooling("auto", declared: "mean") == (.mean, nil))
        let (none, why) = ModelServing.embeddingPooling("auto", declared: "cls")
        #expect(none == nil && why?.contains("'cls'") == true && why?.contains("--pooling") == true)
        // An explicit setting wins over what the checkpoint says.
        #expect(ModelServing.embeddingPooling("mean", declared: "cls") == (.mean, nil))
        #expect(ModelServing.embeddingPooling("last", declared: "mean") == (.last, nil))
    }

    @Test func theSettingIsValidated() throws {
        var c = Configuration()
        try c.apply(yaml: "model:\n  pooling: mean\n", source: "test.yaml")
        #expect(c.pooling == "mean")
        try c.apply(environment: ["MOESERVE_POOLING": "last"])
        #expect(c.pooling == "last")
        #expect(throws: Configuration.Invalid.self) { try c.set("model.pooling", to: "cls", source: "--pooling") }
    }
}
