import Foundation

/// Instruction-set features found at run time, so one binary runs everywhere and fast kernels are
/// chosen only where the CPU has them. Read from /proc/cpuinfo on Linux (no inline asm needed).
public struct CPUFeatures: Sendable, CustomStringConvertible {
    public var avx2 = false
    public var fma = false
    public var f16c = false
    public var avx512f = false
    public var avx512bf16 = false
    public var avx512vnni = false
    public var avx512vl = false

    /// None: the portable kernels (`detect` fills in what the CPU has).
    public init() {}

    public static func detect() -> CPUFeatures {
        var f = CPUFeatures()
        #if os(Linux)
        guard let text = try? String(contentsOfFile: "/proc/cpuinfo", encoding: .utf8),
              let flagsLine = text.split(separator: "\n").first(where: { $0.hasPrefix("flags") })
        else { return f }
        let flags = Set(flagsLine.split(separator: " ").map(String.init))
        f.avx2 = flags.contains("avx2")
        f.fma = flags.contains("fma")
        f.f16c = flags.contains("f16c")
        f.avx512f = flags.contains("avx512f")
        f.avx512bf16 = flags.contains("avx512_bf16")
        f.avx512vnni = flags.contains("avx512_vnni")
        f.avx512vl = flags.contains("avx512vl")
        #endif
        return f
    }

    public var description: String {
        let names = [("avx2", avx2), ("fma", fma), ("f16c", f16c), ("avx512f", avx512f), ("avx512_bf16", avx512bf16), ("avx512_vnni", avx512vnni), ("avx512vl", avx512vl)]
        let on = names.filter(\.1).map(\.0)
        return on.isEmpty ? "portable" : on.joined(separator: " ")
    }
}
