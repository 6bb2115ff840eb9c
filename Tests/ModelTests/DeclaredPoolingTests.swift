import Foundation
import Testing
@testable import Model

/// How a checkpoint declares its embeddings' pooling: a sentence-transformers `Pooling` module named by `modules.json`.
@Suite struct DeclaredPoolingTests {
    /// A folder with `modules.json` naming a Pooling module in `folder`, whose config switches on `modes`.
    func folder(modes: [String], folder: String = "1_Pooling", extraModules: Bool = true) throws -> URL {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pooling-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url.appendingPathComponent(folder), withIntermediateDirectories: true)
        var modules: [[String: Any]] = [["idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"],
                                        ["idx": 1, "name": "1", "path": folder, "type": "sentence_transformers.models.Pooling"]]
        if extraModules { modules.append(["idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"]) }
        try JSONSerialization.data(withJSONObject: modules).write(to: url.appendingPathComponent("modules.json"))
        var config: [String: Any] = ["word_embedding_dimension": 64]
        for key in ["pooling_mode_cls_token", "pooling_mode_mean_tokens", "pooling_mode_max_tokens", "pooling_mode_mean_sqrt_len_tokens",
                    "pooling_mode_weightedmean_tokens", "pooling_mode_lasttoken"] {
            config[key] = modes.contains(key)
        }
        try JSONSerialization.data(withJSONObject: config).write(to: url.appendingPathComponent(folder).appendingPathComponent("config.json"))
        return url
    }

    @Test func sentenceTransformersModesAreRead() throws {
        #expect(try DeclaredPooling.folder(folder(modes: ["pooling_mode_lasttoken"])) == "lasttoken")   // Qwen3-Embedding, gte-Qwen2
        #expect(try DeclaredPooling.folder(folder(modes: ["pooling_mode_mean_tokens"], folder: "pool", extraModules: false)) == "mean")
        #expect(try DeclaredPooling.folder(folder(modes: ["pooling_mode_cls_token"])) == "cls")
        #expect(try DeclaredPooling.folder(folder(modes: [])) == nil)
        #expect(try DeclaredPooling.folder(folder(modes: ["pooling_mode_mean_tokens", "pooling_mode_max_tokens"])) == "max+mean")
    }

    @Test func aFolderWithoutModulesDeclaresNothing() throws {
        let url = FileManager.default.temporaryDirectory.appendingPathComponent("pooling-none-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        #expect(try DeclaredPooling.folder(url) == nil)
    }

    @Test func brokenModuleFilesAreErrors() throws {
        let url = try folder(modes: ["pooling_mode_lasttoken"])
        try FileManager.default.removeItem(at: url.appendingPathComponent("1_Pooling/config.json"))
        #expect(throws: CheckpointError.self) { try DeclaredPooling.folder(url) }
        try Data("{}".utf8).write(to: url.appendingPathComponent("modules.json"))
        #expect(throws: CheckpointError.self) { try DeclaredPooling.folder(url) }
    }
}
