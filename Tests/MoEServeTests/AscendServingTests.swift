import Device
import Foundation
import Testing
@testable import moeserve

/// `--device ascend-sim` settings and profile files.
@Suite struct AscendServingTests {
    static let repo = "/" + #filePath.split(separator: "/").dropLast(3).joined(separator: "/")

    @Test func ascendSettingsAreValidated() throws {
        var c = Configuration()
        try c.apply(yaml: "engine:\n  device: ascend-sim\n  ascend_profile: 910c\n  ascend_precision: w8a8\n", source: "t.yaml")
        #expect(c.device == "ascend-sim" && c.ascendProfile == "910c" && c.ascendPrecision == "w8a8")
        try c.apply(environment: ["MOESERVE_ASCEND_PROFILE": "950dt"])
        #expect(c.ascendProfile == "950dt")
        #expect(throws: Configuration.Invalid.self) { try c.set("engine.ascend_profile", to: "nope.yaml", source: "--ascend-profile") }
        #expect(throws: Configuration.Invalid.self) { try c.set("engine.ascend_precision", to: "int4", source: "--ascend-precision") }
    }

    @Test func theDeviceFollowsTheConfiguration() throws {
        var c = Configuration()
        #expect(try ModelServing.makeDevice(c).0.simulatedClock == nil)
        c.device = "ascend-sim"
        c.ascendProfile = "910c"
        let (device, _) = try ModelServing.makeDevice(c)
        #expect(device.simulatedClock != nil)
        #expect(device.name == "ascend-sim:910C:bf16")
    }

    @Test func theShippedYAMLProfileIsTheBuiltIn910C() throws {
        let path = Self.repo + "/config/ascend/910c.yaml"
        let profile = try AscendProfile.resolve(path)
        #expect(profile == .ascend910C)
        var c = Configuration()
        try c.set("engine.ascend_profile", to: path, source: "--ascend-profile")
        #expect(c.ascendProfile == path)
    }
}
