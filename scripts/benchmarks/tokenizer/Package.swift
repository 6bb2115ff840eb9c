// swift-tools-version:6.0
import PackageDescription

// Bench-only: `scripts/bench tokenizer` times MoEServe's tokenizer against Hugging Face `tokenizers`.
// Sources/Tokenizer is a symlink to the product's target, so the product Package.swift stays untouched.
// Never a dependency of the product. Its .build/ is git-ignored.
let package = Package(
    name: "tokenizer-bench",
    platforms: [.macOS(.v14)],
    targets: [
        .target(name: "Tokenizer"),
        .executableTarget(name: "TokenizerBench", dependencies: ["Tokenizer"]),
    ]
)
