// Collection filters: length, first/last, sort, unique, map, select/reject, selectattr, ...

extension Renderer {
    func sequenceFilter(_ name: String, _ value: JinjaValue, _ args: Arguments) throws -> JinjaValue? {
        switch name {
        case "length", "count": return .int(try length(of: value))
        case "list": return .array(try iterate(value))
        case "first": return try iterate(value).first ?? .undefined
        case "last": return try iterate(value).last ?? .undefined
        case "reverse":
            if case .string(let s) = value { return .string(PyStr.string(s.unicodeScalars.reversed())) }
            return .array(try iterate(value).reversed())
        case "items":
            switch value {
            case .undefined: return .array([])
            case .object(let object): return .array(object.valuePairs.map { .array([$0.key, $0.value]) })
            default: throw JinjaError.runtime("Can only get item pairs from a mapping.")
            }
        case "dictsort": return try dictSort(value, args)
        case "sort":
            let a = try args.bind(["reverse", "case_sensitive", "attribute"], function: name)
            let key = try sortKey(attribute: a[2], caseSensitive: a[1]?.isTruthy ?? false)
            return .array(try sorted(try iterate(value), key: key, reverse: a[0]?.isTruthy ?? false))
        case "unique":
            let a = try args.bind(["case_sensitive", "attribute"], function: name)
            let key = try sortKey(attribute: a[1], caseSensitive: a[0]?.isTruthy ?? false)
            var seen: [JinjaValue] = []
            return .array(try iterate(value).filter { item in
                let k = try key(item)
                if seen.contains(where: { $0.pyEquals(k) }) { return false }
                seen.append(k)
                return true
            })
        case "min", "max":
            let a = try args.bind(["case_sensitive", "attribute"], function: name)
            let key = try sortKey(attribute: a[1], caseSensitive: a[0]?.isTruthy ?? false)
            let items = try iterate(value)
            guard var best = items.first else { return .undefined }
            for item in items.dropFirst() {
                let c = try Operators.order(try key(item), try key(best))
                if name == "min" ? c < 0 : c > 0 { best = item }
            }
            return best
        case "sum":
            let a = try args.bind(["attribute", "start"], function: name)
            let getter = try a[0].map { try attributeGetter($0) }
            return try iterate(value).reduce(a[1] ?? .int(0)) {
                try Operators.binary(.add, $0, try getter?($1) ?? $1, limits: limits)
            }
        case "join":
            let a = try args.bind(["d", "attribute"], function: name)
            let getter = try a[1].map { try attributeGetter($0) }
            let parts = try iterate(value).map { try (getter?($0) ?? $0).pythonString }
            return .string(parts.joined(separator: (a[0] ?? .string("")).pythonString))
        case "batch": return try batch(value, args)
        default: return nil
        }
    }

    func length(of value: JinjaValue) throws -> Int {
        switch value {
        case .string(let s): return s.unicodeScalars.count
        case .array(let items): return items.count
        case .object(let object): return object.count
        case .undefined: return 0
        default: throw JinjaError.runtime("object of type '\(value.typeName)' has no len()")
        }
    }

    private func dictSort(_ value: JinjaValue, _ args: Arguments) throws -> JinjaValue {
        let a = try args.bind(["case_sensitive", "by", "reverse"], function: "dictsort")
        guard case .object(let object) = value else { throw JinjaError.runtime("dictsort expects a mapping") }
        let by = try a[1].map { try string($0, "dictsort") } ?? "key"
        guard by == "key" || by == "value" else { throw JinjaError.runtime("You can only sort by either \"key\" or \"value\"") }
        let caseSensitive = a[0]?.isTruthy ?? false
        let pairs = object.valuePairs.map { JinjaValue.array([$0.key, $0.value]) }
        let key: (JinjaValue) throws -> JinjaValue = { pair in
            guard case .array(let kv) = pair else { return pair }
            let k = kv[by == "key" ? 0 : 1]
            return caseSensitive ? k : Renderer.ignoreCase(k)
        }
        return .array(try sorted(pairs, key: key, reverse: a[2]?.isTruthy ?? false))
    }

    private func batch(_ value: JinjaValue, _ args: Arguments) throws -> JinjaValue {
        let a = try args.bind(["linecount", "fill_with"], function: "batch")
        let size = try int(a[0] ?? .undefined, "batch")
        guard size > 0 else { throw JinjaError.runtime("batch size must be positive") }
        let items = try iterate(value)
        var batches: [JinjaValue] = []
        var start = 0
        while start < items.count {
            var chunk = Array(items[start..<min(start + size, items.count)])
            if chunk.count < size, let fill = a[1], fill != .none {
                chunk += Array(repeating: fill, count: size - chunk.count)
            }
            batches.append(.array(chunk))
            start += size
        }
        return .array(batches)
    }

    /// Stable sort by a key with Python ordering (mixed types throw like Python's `TypeError`).
    private func sorted(_ items: [JinjaValue], key: (JinjaValue) throws -> JinjaValue, reverse: Bool) throws -> [JinjaValue] {
        try countIterations(items.count)
        let keyed = try items.map { (try key($0), $0) }
        return try keyed.sorted { lhs, rhs in
            let c = try Operators.order(lhs.0, rhs.0)
            return reverse ? c > 0 : c < 0
        }.map(\.1)
    }

    private func sortKey(attribute: JinjaValue?, caseSensitive: Bool) throws -> (JinjaValue) throws -> JinjaValue {
        let getter = try attribute.map { try attributeGetter($0) }
        return { item in
            let k = try getter?(item) ?? item
            return caseSensitive ? k : Renderer.ignoreCase(k)
        }
    }

    static func ignoreCase(_ value: JinjaValue) -> JinjaValue {
        if case .string(let s) = value { return .string(s.lowercased()) }
        return value
    }

    /// jinja2's `make_attrgetter`: `"a.b.0"` looks up `item["a"]["b"][0]` (missing → undefined).
    func attributeGetter(_ attribute: JinjaValue, default fallback: JinjaValue? = nil) throws -> (JinjaValue) throws -> JinjaValue {
        let parts: [JinjaValue]
        switch attribute {
        case .string(let path):
            parts = path.split(separator: ".", omittingEmptySubsequences: false).map { part in
                Int(part).map { .int($0) } ?? .string(String(part))
            }
        default:
            parts = [attribute]
        }
        return { item in
            var current = item
            for part in parts {
                if current.isUndefined { break }
                current = try self.item(of: current, part)
            }
            if current.isUndefined, let fallback { return fallback }
            return current
        }
    }

    // MARK: - map / select / reject / selectattr / rejectattr

    func selectionFilter(_ name: String, _ value: JinjaValue, _ args: Arguments) throws -> JinjaValue? {
        switch name {
        case "map":
            guard value.isTruthy else { return .array([]) }  // jinja2: `if value:` before iterating
            let items = try iterate(value)
            try countIterations(items.count)
            return .array(try items.map(try mapFunction(args)))
        case "select", "reject", "selectattr", "rejectattr":
            guard value.isTruthy else { return .array([]) }
            let items = try iterate(value)
            try countIterations(items.count)
            var positional = args.positional
            var getter: ((JinjaValue) throws -> JinjaValue)?
            if name.hasSuffix("attr") {
                guard !positional.isEmpty else { throw JinjaError.runtime("\(name)() missing attribute name") }
                getter = try attributeGetter(positional.removeFirst())
            }
            let test = try selectionTest(positional, keyword: args.keyword)
            let keep = name.hasPrefix("select")
            return .array(try items.filter { try test(try getter?($0) ?? $0) == keep })
        default:
            return nil
        }
    }

    private func mapFunction(_ args: Arguments) throws -> (JinjaValue) throws -> JinjaValue {
        if args.positional.isEmpty, let attribute = args.keyword.first(where: { $0.0 == "attribute" })?.1 {
            let fallback = args.keyword.first(where: { $0.0 == "default" })?.1
            return try attributeGetter(attribute, default: fallback)
        }
        guard case .string(let filter)? = args.positional.first else {
            throw JinjaError.runtime("map() requires a filter name or attribute=")
        }
        let rest = Arguments(positional: Array(args.positional.dropFirst()), keyword: args.keyword)
        return { try self.applyFilter(filter, to: $0, rest) }
    }

    private func selectionTest(_ positional: [JinjaValue], keyword: [(String, JinjaValue)]) throws -> (JinjaValue) throws -> Bool {
        guard let first = positional.first else { return { $0.isTruthy } }
        let testName = try string(first, "select")
        let rest = Arguments(positional: Array(positional.dropFirst()), keyword: keyword)
        return { try self.applyTest(testName, $0, rest) }
    }
}
