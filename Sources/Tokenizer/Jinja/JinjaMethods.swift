/// Python methods callable on template values (`s.strip()`, `d.items()`, `l.index(x)`).
///
/// HF renders in jinja2's `ImmutableSandboxedEnvironment`, so methods that mutate a list or
/// dict (`append`, `pop`, `update`, ...) are refused with jinja2's SecurityError message.
enum Methods {
    static let stringMethods: Set<String> = [
        "strip", "lstrip", "rstrip", "split", "rsplit", "splitlines", "startswith", "endswith",
        "upper", "lower", "casefold", "title", "capitalize", "swapcase", "replace", "find", "rfind",
        "index", "rindex", "count", "join", "format", "isdigit", "isdecimal", "isnumeric", "isalpha",
        "isalnum", "isspace", "islower", "isupper", "center", "ljust", "rjust", "zfill",
        "removeprefix", "removesuffix", "partition", "rpartition",
    ]
    static let dictMethods: Set<String> = ["items", "keys", "values", "get", "copy"]
    static let listMethods: Set<String> = ["index", "count", "copy"]
    static let unsafeDictMethods: Set<String> = ["clear", "pop", "popitem", "setdefault", "update"]
    static let unsafeListMethods: Set<String> = ["append", "clear", "extend", "insert", "pop", "remove", "reverse", "sort"]

    static func has(_ name: String, on value: JinjaValue) -> Bool {
        switch value {
        case .string: return stringMethods.contains(name)
        case .object: return dictMethods.contains(name)
        case .array: return listMethods.contains(name)
        default: return false
        }
    }

    static func isUnsafe(_ name: String, on value: JinjaValue) -> Bool {
        switch value {
        case .object: return unsafeDictMethods.contains(name)
        case .array: return unsafeListMethods.contains(name)
        default: return false
        }
    }
}

extension Renderer {
    func callMethod(_ name: String, on receiver: JinjaValue, _ args: Arguments) throws -> JinjaValue {
        switch receiver {
        case .string(let s):
            if let value = try stringQueryMethod(name, s, args) { return value }
            return try stringTransformMethod(name, s, args)
        case .object(let object):
            return try dictMethod(name, object, args)
        case .array(let items):
            return try listMethod(name, items, args)
        default:
            throw JinjaError.runtime("'\(receiver.typeName)' object has no attribute '\(name)'")
        }
    }

    private func dictMethod(_ name: String, _ object: JinjaObject, _ args: Arguments) throws -> JinjaValue {
        switch name {
        case "items": return .array(object.valuePairs.map { .array([$0.key, $0.value]) })
        case "keys": return .array(object.keyValues)
        case "values": return .array(object.values)
        case "copy": return .object(object)
        case "get":
            let a = try args.bind(["key", "default"], function: "get")
            return object[key: a[0] ?? .undefined] ?? a[1] ?? .none
        default: throw JinjaError.runtime("'dict' object has no attribute '\(name)'")
        }
    }

    private func listMethod(_ name: String, _ items: [JinjaValue], _ args: Arguments) throws -> JinjaValue {
        switch name {
        case "copy": return .array(items)
        case "count":
            let a = try args.bind(["value"], function: "count")
            return .int(items.filter { $0.pyEquals(a[0] ?? .undefined) }.count)
        case "index":
            let a = try args.bind(["value"], function: "index")
            guard let i = items.firstIndex(where: { $0.pyEquals(a[0] ?? .undefined) }) else {
                throw JinjaError.runtime("\((a[0] ?? .undefined).pythonRepr) is not in list")
            }
            return .int(i)
        default: throw JinjaError.runtime("'list' object has no attribute '\(name)'")
        }
    }

    /// String methods that inspect or split (return nil for names handled elsewhere).
    private func stringQueryMethod(_ name: String, _ s: String, _ args: Arguments) throws -> JinjaValue? {
        switch name {
        case "split", "rsplit":
            let a = try args.bind(["sep", "maxsplit"], function: name)
            let sep = try optionalString(a[0], name)
            let max = try int(a[1] ?? .int(-1), name)
            let parts = name == "split" ? try PyStr.split(s, separator: sep, maxSplit: max)
                : try PyStr.rsplit(s, separator: sep, maxSplit: max)
            return .array(parts.map { .string($0) })
        case "splitlines":
            let a = try args.bind(["keepends"], function: name)
            return .array(PyStr.splitLines(s, keepEnds: a[0]?.isTruthy ?? false).map { .string($0) })
        case "startswith", "endswith":
            let a = try args.bind(["prefix"], function: name)
            let candidates = try (a[0].map { v -> [JinjaValue] in if case .array(let l) = v { return l } else { return [v] } } ?? [])
                .map { try string($0, name) }
            let text = PyStr.scalars(s)
            return .bool(candidates.contains { c in
                let p = PyStr.scalars(c)
                return name == "startswith" ? text.starts(with: p) : text.reversed().starts(with: p.reversed())
            })
        case "find", "rfind", "index", "rindex", "count":
            let a = try args.bind(["sub"], function: name)
            let text = PyStr.scalars(s)
            let sub = PyStr.scalars(try string(a[0] ?? .undefined, name))
            if name == "count" { return .int(PyStr.count(text, sub)) }
            let found = name.hasPrefix("r") ? PyStr.rfind(text, sub) : PyStr.find(text, sub)
            if found == nil, name.hasSuffix("index") { throw JinjaError.runtime("substring not found") }
            return .int(found ?? -1)
        case "partition", "rpartition":
            let a = try args.bind(["sep"], function: name)
            let sep = try string(a[0] ?? .undefined, name)
            let parts = name == "partition" ? try PyStr.split(s, separator: sep, maxSplit: 1)
                : try PyStr.rsplit(s, separator: sep, maxSplit: 1)
            if parts.count == 2 { return .array([.string(parts[0]), .string(sep), .string(parts[1])]) }
            return name == "partition" ? .array([.string(s), "", ""]) : .array(["", "", .string(s)])
        case "isdigit", "isdecimal", "isnumeric": return .bool(PyStr.allScalars(s, PyStr.isDigit))
        case "isalpha": return .bool(PyStr.allScalars(s, PyStr.isAlpha))
        case "isalnum": return .bool(PyStr.allScalars(s) { PyStr.isAlpha($0) || PyStr.isDigit($0) })
        case "isspace": return .bool(PyStr.allScalars(s, PythonString.isSpace))
        case "islower", "isupper": return .bool(PyStr.isCase(s, lower: name == "islower"))
        default: return nil
        }
    }

    /// String methods that build a new string.
    private func stringTransformMethod(_ name: String, _ s: String, _ args: Arguments) throws -> JinjaValue {
        switch name {
        case "strip", "lstrip", "rstrip":
            let a = try args.bind(["chars"], function: name)
            let chars = try optionalString(a[0], name)
            return .string(PyStr.strip(s, characters: chars, leading: name != "rstrip", trailing: name != "lstrip"))
        case "upper": return .string(s.uppercased())
        case "lower", "casefold": return .string(s.lowercased())
        case "title": return .string(PyStr.title(s))
        case "capitalize": return .string(PyStr.capitalize(s))
        case "swapcase": return .string(PyStr.swapCase(s))
        case "replace":
            let a = try args.bind(["old", "new", "count"], function: name)
            return .string(try PyStr.replace(s, try string(a[0] ?? .undefined, name), try string(a[1] ?? .undefined, name),
                                             count: try int(a[2] ?? .int(-1), name), limit: limits.maxOutputBytes))
        case "join":
            let a = try args.bind(["iterable"], function: name)
            let parts = try iterate(a[0] ?? .undefined).enumerated().map { i, v -> String in
                guard case .string(let part) = v else {
                    throw JinjaError.runtime("sequence item \(i): expected str instance, \(v.typeName) found")
                }
                return part
            }
            return .string(parts.joined(separator: s))
        case "format": return .string(try BraceFormat.format(s, args))
        case "center", "ljust", "rjust":
            let a = try args.bind(["width", "fillchar"], function: name)
            let width = try PyStr.checkedWidth(try int(a[0] ?? .undefined, name))
            let fill = try a[1].map { try string($0, name) } ?? " "
            if name == "center" { return .string(PyStr.center(s, width: width, fill: fill)) }
            return .string(PyStr.pad(s, width: width, fill: fill, leftAlign: name == "ljust"))
        case "zfill":
            let a = try args.bind(["width"], function: name)
            var spec = FormatSpec()
            spec.zeroPad = true
            spec.width = try PyStr.checkedWidth(try int(a[0] ?? .undefined, name))
            let signed = s.hasPrefix("-") || s.hasPrefix("+")
            let digits = PyStr.pad(String(s.dropFirst(signed ? 1 : 0)), width: spec.width - (signed ? 1 : 0), fill: "0", leftAlign: false)
            return .string((signed ? String(s.prefix(1)) : "") + digits)
        case "removeprefix", "removesuffix":
            let a = try args.bind(["affix"], function: name)
            let affix = PyStr.scalars(try string(a[0] ?? .undefined, name))
            var text = PyStr.scalars(s)
            if name == "removeprefix", text.starts(with: affix) { text.removeFirst(affix.count) }
            if name == "removesuffix", !affix.isEmpty, text.reversed().starts(with: affix.reversed()) { text.removeLast(affix.count) }
            return .string(PyStr.string(text))
        default:
            throw JinjaError.runtime("'str' object has no attribute '\(name)'")
        }
    }

    // MARK: - Argument conversion

    func string(_ value: JinjaValue, _ function: String) throws -> String {
        guard case .string(let s) = value else {
            throw JinjaError.runtime("\(function)() argument must be str, not \(value.typeName)")
        }
        return s
    }

    func optionalString(_ value: JinjaValue?, _ function: String) throws -> String? {
        switch value {
        case nil, .none?: return nil
        case let v?: return try string(v, function)
        }
    }

    func int(_ value: JinjaValue, _ function: String) throws -> Int {
        guard case .int(let i)? = value.number else {
            throw JinjaError.runtime("\(function)() expected an integer, got \(value.typeName)")
        }
        return i
    }
}
