import Device

/// Reads named tensors from a checkpoint, checks their shapes, and uploads them to the device.
struct WeightLoader {
    let checkpoint: SafetensorsCheckpoint
    let device: any Device
    /// Canonical name → name in the checkpoint, for architectures whose checkpoints spell names several
    /// ways (DeepSeek-V4: with or without `model.`, `embed_tokens` or `embed`); names not listed are used as is.
    var aliases: [String: String] = [:]

    /// The checkpoint's name for `name`.
    func stored(_ name: String) -> String { aliases[name] ?? name }

    func contains(_ name: String) -> Bool { checkpoint.contains(stored(name)) }

    func load(_ name: String, _ shape: [Int]) throws -> DeviceWeight {
        let t = try checkpoint.tensor(stored(name))
        guard t.shape == shape else { throw CheckpointError.invalid("tensor '\(name)' has shape \(t.shape), expected \(shape)") }
        return try device.upload(t)
    }

    /// A tensor the architecture may or may not have (biases, tied heads).
    func optional(_ name: String, _ shape: [Int]) throws -> DeviceWeight? {
        contains(name) ? try load(name, shape) : nil
    }

    /// A tensor's values on the host (router biases, weights to transform before upload).
    func values(_ name: String, _ shape: [Int]) throws -> [Float] {
        let t = try checkpoint.tensor(stored(name))
        guard t.shape == shape else { throw CheckpointError.invalid("tensor '\(name)' has shape \(t.shape), expected \(shape)") }
        return t.toFloat32()
    }

    /// Uploads a weight computed at load time (e.g. MLA's absorbed per-head matrices).
    func upload(derived name: String, values: [Float], shape: [Int]) throws -> DeviceWeight {
        let buffer = HostBuffer(values)
        return try device.upload(HostTensor(name: name, dtype: .f32, shape: shape, bytes: buffer.bytes, owner: buffer))
    }

    /// The SwiGLU MLP `prefix.{gate,up,down}_proj` (or Mixtral's w1/w3/w2 with `names`).
    func mlp(_ prefix: String, hidden: Int, width: Int, names: (String, String, String) = ("gate_proj", "up_proj", "down_proj")) throws -> DenseMLP {
        DenseMLP(device: device,
                 gate: try load("\(prefix).\(names.0).weight", [width, hidden]),
                 up: try load("\(prefix).\(names.1).weight", [width, hidden]),
                 down: try load("\(prefix).\(names.2).weight", [hidden, width]))
    }
}

/// fp32 values in memory a `HostTensor` can borrow.
final class HostBuffer {
    let storage: UnsafeMutableRawBufferPointer
    var bytes: UnsafeRawBufferPointer { UnsafeRawBufferPointer(storage) }

    init(_ values: [Float]) {
        storage = .allocate(byteCount: max(1, values.count * 4), alignment: 64)
        values.withUnsafeBytes { storage.copyMemory(from: $0) }
    }

    deinit { storage.deallocate() }
}
