import Device
import Foundation

/// The tensors of a Hugging Face model folder: shards listed by `model.safetensors.index.json`
/// (`{"weight_map": {tensor: file}}`), else `model.safetensors`, else every `*.safetensors`; all
/// mapped without copying.
///
/// FP8 weights come with a `<name>_scale_inv` tensor of per-block scales (DeepSeek-V3's release:
/// `weight_block_size` 128 × 128); `tensor(_:)` attaches them so that upload dequantises.
public final class SafetensorsCheckpoint: @unchecked Sendable {
    public let directory: URL
    private let files: [SafetensorsFile]
    /// Tensor name → index into `files`.
    private let location: [String: Int]
    /// FP8 block size `[rows, cols]` (`quantization_config.weight_block_size`).
    public var fp8BlockSize = [128, 128]

    public init(directory: URL) throws {
        self.directory = directory
        let indexURL = directory.appendingPathComponent("model.safetensors.index.json")
        let fm = FileManager.default
        let shardNames: [String]
        var declared: [String: String]?
        if fm.fileExists(atPath: indexURL.path) {
            let map = try Self.readIndex(indexURL)
            declared = map
            shardNames = Array(Set(map.values)).sorted()
        } else if fm.fileExists(atPath: directory.appendingPathComponent("model.safetensors").path) {
            // Other .safetensors beside it (e.g. Mistral's consolidated.safetensors) duplicate its tensors.
            shardNames = ["model.safetensors"]
        } else {
            let all = (try? fm.contentsOfDirectory(atPath: directory.path)) ?? []
            shardNames = all.filter { $0.hasSuffix(".safetensors") }.sorted()
        }
        guard !shardNames.isEmpty else { throw CheckpointError.io(path: directory.path, reason: "no *.safetensors files in the folder") }
        files = try shardNames.map { name in
            guard !name.contains("/"), !name.hasPrefix(".") else { throw CheckpointError.invalid("index names shard '\(name)' outside the folder") }
            return try SafetensorsFile(path: directory.appendingPathComponent(name).path)
        }
        var location: [String: Int] = [:]
        for (i, file) in files.enumerated() {
            for info in file.tensorInfos {
                if let other = location[info.name] {
                    throw CheckpointError.invalid("tensor '\(info.name)' is in both \(shardNames[other]) and \(shardNames[i])")
                }
                location[info.name] = i
            }
        }
        if let declared {
            for (name, shard) in declared where location[name].map({ shardNames[$0] }) != shard {
                throw CheckpointError.invalid("index says tensor '\(name)' is in \(shard), but it is not there")
            }
        }
        self.location = location
    }

    private static func readIndex(_ url: URL) throws -> [String: String] {
        struct Index: Decodable { let weight_map: [String: String] }
        guard let data = try? Data(contentsOf: url) else { throw CheckpointError.io(path: url.path, reason: "unreadable") }
        do {
            return try JSONDecoder().decode(Index.self, from: data).weight_map
        } catch {
            throw CheckpointError.invalid("\(url.lastPathComponent) has no valid weight_map")
        }
    }

    /// Every tensor name, sorted.
    public var names: [String] { location.keys.sorted() }

    public func contains(_ name: String) -> Bool { location[name] != nil }

    public func info(_ name: String) -> SafetensorsTensorInfo? { location[name].flatMap { files[$0].info(name) } }

    /// An integer tensor's values (see `SafetensorsFile.integers`).
    public func integers(_ name: String) throws -> [Int] {
        guard let file = location[name].map({ files[$0] }) else { throw CheckpointError.missingTensor(name) }
        return try file.integers(name)
    }

    /// A tensor, with its FP8 block scales attached when it has them.
    public func tensor(_ name: String) throws -> HostTensor {
        guard let file = location[name].map({ files[$0] }) else { throw CheckpointError.missingTensor(name) }
        let t = try file.tensor(name)
        guard t.dtype == .f8e4m3 else { return t }
        let scaleName = name + "_scale_inv"
        guard contains(scaleName) else { throw CheckpointError.invalid("FP8 tensor '\(name)' has no '\(scaleName)'") }
        let scale = try tensor(scaleName)
        let block = BlockScale(scales: scale.toFloat32(), blockRows: fp8BlockSize[0], blockCols: fp8BlockSize[1])
        let grid = block.gridShape(rows: t.rows, cols: t.cols)
        guard t.shape.count == 2, scale.shape == grid else {
            throw CheckpointError.invalid("'\(scaleName)' has shape \(scale.shape); weight \(t.shape) in \(fp8BlockSize) blocks needs \(grid)")
        }
        return HostTensor(name: name, dtype: t.dtype, shape: t.shape, bytes: t.bytes, owner: t.owner, blockScale: block)
    }
}
