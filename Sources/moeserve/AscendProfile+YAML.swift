import Device
import Foundation
import Yams

extension AscendProfile {
    /// A built-in profile by name, or a profile file: YAML (`.yaml`/`.yml`, e.g. config/ascend/910c.yaml)
    /// or JSON, with the same fields as `AscendProfile` (each a `{value, source}` pair).
    static func resolve(_ nameOrPath: String) throws -> AscendProfile {
        guard named(nameOrPath) == nil, nameOrPath.hasSuffix(".yaml") || nameOrPath.hasSuffix(".yml") else {
            return try load(nameOrPath)
        }
        guard let text = try? String(contentsOfFile: nameOrPath, encoding: .utf8) else {
            throw SimulationError.invalid("cannot read profile file '\(nameOrPath)'")
        }
        try YAMLDepthGuard.check(text) { SimulationError.invalid("profile file '\(nameOrPath)': \($0)") }
        let profile: AscendProfile
        do { profile = try YAMLDecoder().decode(AscendProfile.self, from: text) } catch {
            throw SimulationError.invalid("profile file '\(nameOrPath)': \(error)")
        }
        try profile.validate(source: nameOrPath)
        return profile
    }
}
