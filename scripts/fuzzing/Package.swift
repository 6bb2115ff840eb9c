// swift-tools-version:6.0
import PackageDescription

// A fuzzing-only package: `scripts/fuzz http` builds it with `-sanitize=fuzzer,address`.
// Sources/HTTPCore, Sources/COpenSSL and Sources/CZlib are symlinks to the product's targets, so the
// product's Package.swift stays free of sanitizer flags. Debug builds compile with -enable-testing,
// which lets the fuzz target `@testable import HTTPCore` and reach the internal parser.
let package = Package(
    name: "moeserve-fuzzing",
    dependencies: [
        .package(url: "https://github.com/apple/swift-log", from: "1.6.0"),
    ],
    targets: [
        .systemLibrary(name: "COpenSSL", path: "Sources/COpenSSL", pkgConfig: "openssl"),
        .systemLibrary(name: "CZlib", path: "Sources/CZlib", pkgConfig: "zlib"),
        .target(
            name: "HTTPCore",
            dependencies: ["COpenSSL", "CZlib", .product(name: "Logging", package: "swift-log")]
        ),
        // libFuzzer supplies `main`; -parse-as-library stops Swift from emitting one.
        .executableTarget(
            name: "FuzzHTTP", dependencies: ["HTTPCore"],
            swiftSettings: [.unsafeFlags(["-parse-as-library"])]
        ),
    ]
)
