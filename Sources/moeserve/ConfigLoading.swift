import Foundation

extension ConfigOptions {
    /// Defaults < YAML file < `MOESERVE_*` environment < flags. The environment is read here only.
    func resolve(flags apply: (inout Configuration) throws -> Void = { _ in }) throws -> Configuration {
        var c = Configuration()
        let path = config ?? (FileManager.default.fileExists(atPath: "config/moeserve.yaml") ? "config/moeserve.yaml" : nil)
        if let path {
            let text: String
            do { text = try String(contentsOfFile: path, encoding: .utf8) } catch {
                var isDirectory: ObjCBool = false
                let why = FileManager.default.fileExists(atPath: path, isDirectory: &isDirectory)
                    ? (isDirectory.boolValue ? "it is a directory" : "it is not readable UTF-8 text") : "no such file"
                throw Configuration.Invalid(description: "cannot read configuration file '\(path)': \(why)")
            }
            try c.apply(yaml: text, source: path)
        }
        try c.apply(environment: ProcessInfo.processInfo.environment)
        if let model { try c.set("model.path", to: model, source: "--model") }
        if let modelID { try c.set("model.id", to: modelID, source: "--model-id") }
        if let logLevel { try c.set("log.level", to: logLevel, source: "--log-level") }
        if let logFormat { try c.set("log.format", to: logFormat, source: "--log-format") }
        try apply(&c)
        try c.checkDeviceSettings()
        return c
    }
}
