import Foundation

// Global functions: jinja2's `range`, `dict`, `namespace` and HF's `raise_exception`,
// `strftime_now`. Context variables with the same name take precedence.

extension Renderer {
    static let globalNames: Set<String> = ["range", "dict", "namespace", "raise_exception", "strftime_now"]

    func globalFunction(_ name: String) -> JinjaValue? {
        guard Renderer.globalNames.contains(name) else { return nil }
        return .callable(JinjaCallable(name: name, kind: .global(name)))
    }

    func callGlobal(_ name: String, _ args: Arguments) throws -> JinjaValue {
        switch name {
        case "range": return try range(args)
        case "dict": return .object(JinjaObject(args.keyword))
        case "namespace":
            var attributes = JinjaObject()
            for value in args.positional {
                guard case .object(let object) = value else {
                    throw JinjaError.runtime("namespace() positional argument must be a mapping")
                }
                for (k, v) in object.pairs { attributes[k] = v }
            }
            for (k, v) in args.keyword { attributes[k] = v }
            let namespace = JinjaNamespace(attributes)
            createdNamespaces.append(namespace)
            return .namespace(namespace)
        case "raise_exception":
            let message = (args.positional.first ?? args.keyword.first?.1 ?? .undefined).pythonString
            throw JinjaError(.raised, message)
        case "strftime_now":
            let a = try args.bind(["format"], function: name)
            return .string(Strftime.format(try string(a[0] ?? .undefined, name), date: now()))
        default:
            throw JinjaError.runtime("'\(name)' is undefined")
        }
    }

    private func range(_ args: Arguments) throws -> JinjaValue {
        let ints = try args.positional.map { try int($0, "range") }
        var start = 0
        var stop = 0
        var step = 1
        switch ints.count {
        case 1: stop = ints[0]
        case 2: (start, stop) = (ints[0], ints[1])
        case 3: (start, stop, step) = (ints[0], ints[1], ints[2])
        default: throw JinjaError.runtime("range expected 1 to 3 integer arguments, got \(ints.count)")
        }
        guard step != 0 else { throw JinjaError.runtime("range() arg 3 must not be zero") }
        let (span, overflow) = step > 0 ? stop.subtractingReportingOverflow(start) : start.subtractingReportingOverflow(stop)
        let stride = step.magnitude
        let count = overflow ? Int.max : (span <= 0 ? 0 : Int((UInt(span) + stride - 1) / stride))
        guard count <= limits.maxRange else {
            throw JinjaError.runtime("Range too big. The sandbox blocks ranges larger than MAX_RANGE (\(limits.maxRange)).")
        }
        return .array((0..<count).map { .int(start + $0 * step) })
    }
}

/// C `strftime` in the local time zone, as Python's `datetime.now().strftime(fmt)` does.
enum Strftime {
    static func format(_ format: String, date: Date) -> String {
        var seconds = time_t(date.timeIntervalSince1970.rounded(.down))
        var parts = tm()
        localtime_r(&seconds, &parts)
        var buffer = [CChar](repeating: 0, count: 512)
        let length = strftime(&buffer, buffer.count, format, &parts)
        guard length > 0 || format.isEmpty else { return format }
        return String(decoding: buffer.prefix(length).map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
