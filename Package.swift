// swift-tools-version:6.0
import PackageDescription

// Dependencies, each justified by what it saves us (every one costs CI build minutes on 2 cores):
// - swift-argument-parser: the `moeserve` CLI (subcommands, typed flags, --help) without a hand parser.
// - swift-log: the logging API every Swift server library speaks; our access log goes through it.
// - Yams: `config/moeserve.yaml`; a YAML parser is not something to write by hand.
// - swift-metrics: the metrics API (the Engine records through it without knowing the backend).
// - swift-prometheus: the Prometheus backend behind /metrics, bootstrapped in `moeserve` only. It pulls in
//   swift-atomics and nothing else (no SwiftNIO).
let package = Package(
    name: "MoEServe",
    platforms: [.macOS(.v14)],
    products: [
        .executable(name: "moeserve", targets: ["moeserve"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
        .package(url: "https://github.com/jpsim/Yams", from: "5.0.1"),
        .package(url: "https://github.com/apple/swift-metrics", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus", from: "2.4.1"),
    ],
    targets: [
        .executableTarget(
            name: "moeserve",
            dependencies: [
                "OpenAIAPI", "HTTPCore", "Engine", "Model", "Tokenizer", "Device",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Yams", package: "Yams"),
                .product(name: "CoreMetrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ]
        ),
        .target(
            name: "OpenAIAPI",
            dependencies: ["HTTPCore", "Engine", "Tokenizer", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "HTTPCore",
            dependencies: ["COpenSSL", "CZlib", .product(name: "Logging", package: "swift-log")]
        ),
        .target(
            name: "Engine",
            dependencies: ["Model", "Tokenizer", "Device", "COpenSSL", .product(name: "Logging", package: "swift-log"),
                           .product(name: "CoreMetrics", package: "swift-metrics")]
        ),
        .target(name: "Model", dependencies: ["Device", "Tokenizer"], swiftSettings: [.unsafeFlags(["-O"])]),
        .target(name: "Tokenizer"),
        // Kernels are optimised in debug builds too: unoptimised SIMD code is ~100× slower and would make
        // the model tests take minutes.
        .target(name: "Device", dependencies: ["CKernels"], swiftSettings: [.unsafeFlags(["-O"])]),
        // Quantised matmul kernels in C: ISA-specific variants via function-level target attributes, so
        // the binary stays portable (the variant is picked at run time from CPUFeatures).
        .target(name: "CKernels", cSettings: [.unsafeFlags(["-O3"])]),
        .systemLibrary(
            name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        .systemLibrary(
            name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .testTarget(name: "HTTPCoreTests", dependencies: ["HTTPCore"]),
        .testTarget(name: "OpenAIAPITests", dependencies: ["OpenAIAPI", "HTTPCore", "Engine", "Tokenizer"]),
        .testTarget(name: "EngineTests", dependencies: ["Engine", "Model", "Device", "Tokenizer"]),
        // Test support: counts malloc calls per thread (its `malloc` stands in for libc's in the test process).
        .target(name: "CMallocCounter", path: "Tests/Support/CMallocCounter"),
        .testTarget(name: "ModelTests", dependencies: ["Model", "Device", "Tokenizer", "CMallocCounter"]),
        .testTarget(name: "TokenizerTests", dependencies: ["Tokenizer", "Model"]),
        .testTarget(name: "DeviceTests", dependencies: ["Device", "CKernels"]),
        .testTarget(name: "MoEServeTests", dependencies: [
            "moeserve", "Engine", "Model", "Device", "OpenAIAPI", "HTTPCore",
            .product(name: "Logging", package: "swift-log"), .product(name: "Prometheus", package: "swift-prometheus"),
        ]),
    ]
)
