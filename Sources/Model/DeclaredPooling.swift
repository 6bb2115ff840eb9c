import Foundation

/// How a checkpoint says its embeddings are pooled from the final hidden states: a sentence-transformers `Pooling`
/// module (`modules.json` → its folder's `config.json`), or GGUF's `<arch>.pooling_type` (llama.cpp's numbering).
/// Names are sentence-transformers' modes without the `pooling_mode_` prefix and `_tokens`/`_token` suffix: `lasttoken`,
/// `mean`, `cls`, `max`, `mean_sqrt_len`, `weightedmean`.
enum DeclaredPooling {
    /// The mode a Hugging Face folder declares, or nil (no sentence-transformers modules, or none chosen).
    static func folder(_ url: URL) throws -> String? {
        guard let data = try? Data(contentsOf: url.appendingPathComponent("modules.json")) else { return nil }
        guard let modules = try? JSONSerialization.jsonObject(with: data) as? [[String: Any]] else {
            throw CheckpointError.invalid("modules.json is not a list of sentence-transformers modules")
        }
        guard let pooling = modules.first(where: { ($0["type"] as? String)?.hasSuffix("Pooling") == true }) else { return nil }
        let folder = pooling["path"] as? String ?? ""
        let configURL = url.appendingPathComponent(folder).appendingPathComponent("config.json")
        guard let configData = try? Data(contentsOf: configURL),
              let config = try? JSONSerialization.jsonObject(with: configData) as? [String: Any] else {
            throw CheckpointError.io(path: configURL.path, reason: "modules.json names a Pooling module, but its config.json cannot be read")
        }
        // The first mode switched on, in sentence-transformers' own order of checks.
        let modes = [("pooling_mode_cls_token", "cls"), ("pooling_mode_max_tokens", "max"), ("pooling_mode_mean_tokens", "mean"),
                     ("pooling_mode_mean_sqrt_len_tokens", "mean_sqrt_len"), ("pooling_mode_weightedmean_tokens", "weightedmean"),
                     ("pooling_mode_lasttoken", "lasttoken")]
        let on = modes.filter { (config[$0.0] as? Bool) == true }.map(\.1)
        guard on.count <= 1 else { return on.joined(separator: "+") }
        return on.first
    }

    /// The mode a GGUF file declares (`<arch>.pooling_type`: 1 mean, 2 cls, 3 last, 4 rank; 0 or absent: none).
    static func gguf(_ file: GGUFFile) -> String? {
        guard let arch = file.string("general.architecture"), let type = file.int("\(arch).pooling_type") else { return nil }
        switch type {
        case 0: return nil
        case 1: return "mean"
        case 2: return "cls"
        case 3: return "lasttoken"
        case 4: return "rank"
        default: return "type \(type)"
        }
    }
}
