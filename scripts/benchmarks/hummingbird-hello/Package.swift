// swift-tools-version:6.0
import PackageDescription

// Bench-only: the Hummingbird 2 hello-world that `scripts/bench http` measures moeserve against.
// Never a dependency of the product. Its .build/ is git-ignored.
let package = Package(
    name: "hummingbird-hello",
    platforms: [.macOS(.v14)],
    dependencies: [
        .package(url: "https://github.com/hummingbird-project/hummingbird", from: "2.0.0"),
    ],
    targets: [
        .executableTarget(
            name: "HummingbirdHello",
            dependencies: [.product(name: "Hummingbird", package: "hummingbird")]
        ),
    ]
)
