import Foundation
import Testing
import Tokenizer
@testable import Model

/// `ModelLoader.loadTokenizer`: the tokenizer alone, from a GGUF file or a Hugging Face folder (`moeserve tokenize`).
@Suite struct TokenizerLoadingTests {
    static let fixtures = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("Fixtures/models/serving")

    @Test func aFolderGivesItsTokenizerJSON() throws {
        let folder = FileManager.default.temporaryDirectory.appendingPathComponent("moeserve-tokenizer-\(getpid())")
        try? FileManager.default.removeItem(at: folder)
        try FileManager.default.createDirectory(at: folder, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: folder) }
        for name in ["tokenizer.json", "tokenizer_config.json"] {
            try FileManager.default.createSymbolicLink(at: folder.appendingPathComponent(name), withDestinationURL: Self.fixtures.appendingPathComponent(name))
        }
        let loaded = try ModelLoader.loadTokenizer(path: folder.path)
        let direct = try BPETokenizer(definition: try TokenizerDefinition(directory: Self.fixtures))
        let text = "Hello, world! Ünïcode 123"
        #expect(loaded.encode(text, parseSpecial: true) == direct.encode(text, parseSpecial: true))
        #expect(!loaded.encode(text, parseSpecial: true).isEmpty)
        try FileManager.default.removeItem(at: folder.appendingPathComponent("tokenizer.json"))
        #expect(throws: CheckpointError.self) { _ = try ModelLoader.loadTokenizer(path: folder.path) }
        #expect(throws: CheckpointError.self) { _ = try ModelLoader.loadTokenizer(path: folder.appendingPathComponent("tokenizer_config.json").path) }
        #expect(throws: CheckpointError.self) { _ = try ModelLoader.loadTokenizer(path: "/nonexistent/model.gguf") }
    }
}
