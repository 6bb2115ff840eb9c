import Foundation

/// A number with where it came from: "[src]" vendor docs/code, "[3p]" third party quoting them,
/// "[derived]" computed here (formula in the string), "[assumption]" chosen here and stated.
public struct Sourced: Codable, Sendable, Equatable {
    public var value: Double
    public var source: String
    public init(_ value: Double, _ source: String) { self.value = value; self.source = source }
}

/// One simulated chip (an Ascend die or package, or a GPU-like profile for calibration). Profiles are
/// data: every value carries its `source` (see ../shared/ASCEND.md). Sizes are bytes, times seconds,
/// bandwidths bytes/s, clock Hz.
///
/// Peak matmul rate: `cubeCores × cubeMACsPerCycle × 2 × clock × (int8 ? int8Speedup : 1)` FLOP/s.
public struct AscendProfile: Codable, Sendable, Equatable {
    public var name: String
    public var cubeCores: Sourced
    public var vectorCores: Sourced
    public var clockHz: Sourced
    /// fp16/bf16 MACs per cycle per cube core (16×16×16 fractal = 4,096).
    public var cubeMACsPerCycle: Sourced
    /// int8 (and fp8 where the chip has it) MACs per cycle relative to fp16.
    public var int8Speedup: Sourced
    /// fp16 lanes per cycle per vector core (fp32 is half).
    public var vectorLanes: Sourced
    public var l0a: Sourced
    public var l0b: Sourced
    public var l0c: Sourced
    public var l1: Sourced
    public var ub: Sourced
    public var l2: Sourced
    public var hbmCapacity: Sourced
    public var hbmBandwidth: Sourced
    public var l2Bandwidth: Sourced
    /// L1→L0A/L0B bytes per cycle per cube core (MTE1) and L0C→GM bytes per cycle (FixPipe).
    public var mte1BytesPerCycle: Sourced
    public var fixpipeBytesPerCycle: Sourced
    /// Chips in one scale-up domain (8-card node, or a whole supernode), and links inside/outside it.
    public var scaleUpChips: Sourced
    public var intraBandwidth: Sourced
    public var intraLatency: Sourced
    public var interBandwidth: Sourced
    public var interLatency: Sourced
    public var launchOverhead: Sourced
    /// Achieved fractions of the peaks above, per kernel type (`KernelEfficiency`).
    public var efficiency: KernelEfficiency

    /// Peak FLOP/s of the matmul unit for operands of `type`.
    public func peakFLOPS(_ type: ElementType) -> Double {
        cubeCores.value * cubeMACsPerCycle.value * 2 * clockHz.value * (type.isEightBit ? int8Speedup.value : 1)
    }

    /// Vector-unit element operations per second at `type` (fp32 runs at half the fp16 lane count).
    public func vectorOpsPerSecond(_ type: ElementType) -> Double {
        vectorCores.value * vectorLanes.value * clockHz.value * (type == .fp32 ? 0.5 : 1)
    }

    /// This chip with only `share` of its cube and vector cores (the others busy elsewhere, e.g. running the
    /// communication kernels); bandwidths and buffers unchanged.
    public func keepingCores(_ share: Double) -> AscendProfile {
        var p = self
        p.cubeCores.value *= share
        p.vectorCores.value *= share
        return p
    }

    /// A built-in profile by name (`910b2`/`910b`, `910c`, `950dt`, `h800`), or nil.
    public static func named(_ name: String) -> AscendProfile? {
        switch name.lowercased() {
        case "910b", "910b2": return .ascend910B2
        case "910c": return .ascend910C
        case "950dt", "950": return .ascend950DT
        case "h800": return .h800
        default: return nil
        }
    }

    /// A built-in name or the path of a JSON file with this type's fields.
    public static func load(_ nameOrPath: String) throws -> AscendProfile {
        if let p = named(nameOrPath) { return p }
        guard FileManager.default.fileExists(atPath: nameOrPath) else {
            throw SimulationError.invalid("unknown profile '\(nameOrPath)' (built in: 910b2, 910c, 950dt, h800, or a JSON file)")
        }
        let profile: AscendProfile
        do { profile = try JSONDecoder().decode(AscendProfile.self, from: Data(contentsOf: URL(fileURLWithPath: nameOrPath))) } catch {
            throw SimulationError.invalid("profile file '\(nameOrPath)' is not a profile (every field, `efficiency` included, with value and source): \(error)")
        }
        try profile.validate(source: nameOrPath)
        return profile
    }

    /// Every value finite and positive (latencies and the launch cost may be 0), every efficiency a share in
    /// (0, 1]: a zero bandwidth or a NaN clock made step times infinite, negative or NaN, in reports and in
    /// served responses' simulated timings.
    public func validate(source: String) throws {
        let mayBeZero: Set<String> = ["intraLatency", "interLatency", "launchOverhead"]
        for child in Mirror(reflecting: self).children {
            guard let label = child.label, let v = (child.value as? Sourced)?.value else { continue }
            guard v.isFinite, v > 0 || (v == 0 && mayBeZero.contains(label)) else {
                throw SimulationError.invalid("profile '\(source)': '\(label)' is \(v); it must be a finite \(mayBeZero.contains(label) ? "value ≥ 0" : "positive value")")
            }
        }
        for child in Mirror(reflecting: efficiency).children {
            guard let label = child.label, let v = (child.value as? Sourced)?.value else { continue }
            guard v.isFinite, v > 0, v <= 1 else {
                throw SimulationError.invalid("profile '\(source)': efficiency '\(label)' is \(v); it must be a share in (0, 1]")
            }
        }
    }
}

/// Errors of the timing simulator, with the numbers a user needs to act on them.
public enum SimulationError: Error, Equatable, CustomStringConvertible {
    case outOfMemory(needed: Double, capacity: Double, breakdown: String)
    case invalid(String)

    public var description: String {
        switch self {
        case let .outOfMemory(needed, capacity, breakdown):
            return "out of device memory: need \(Self.size(needed)) of \(Self.size(capacity)) HBM per chip (\(breakdown))"
        case let .invalid(message): return message
        }
    }

    /// Bytes as GB, or MB below 1 GB (small test profiles).
    static func size(_ bytes: Double) -> String {
        bytes >= 1e9 ? String(format: "%.1f GB", bytes / 1e9) : String(format: "%.2f MB", bytes / 1e6)
    }
}
