import Foundation

/// Python semantics of the arithmetic and comparison operators on template values.
enum Operators {
    static func unary(_ op: UnaryOp, _ value: JinjaValue) throws -> JinjaValue {
        guard let n = value.number else {
            throw JinjaError.runtime("bad operand type for unary \(op == .minus ? "-" : "+"): '\(value.typeName)'")
        }
        guard op == .minus else { return n.value }
        switch n {
        case .int(let i):
            guard i != Int.min else { throw overflow() }
            return .int(-i)
        case .double(let d):
            return .double(-d)
        }
    }

    static func binary(_ op: BinaryOp, _ a: JinjaValue, _ b: JinjaValue, limits: JinjaLimits) throws -> JinjaValue {
        if let x = a.number, let y = b.number { return try numeric(op, x, y) }
        switch (op, a, b) {
        case let (.add, .string(x), .string(y)):
            guard x.utf8.count + y.utf8.count <= limits.maxOutputBytes else { throw tooLarge("string") }
            return .string(x + y)
        case let (.add, .array(x), .array(y)):
            guard x.count + y.count <= limits.maxIterations else { throw tooLarge("list") }
            return .array(x + y)
        case (.add, .string, _), (.add, .array, _):
            throw JinjaError.runtime("can only concatenate \(a.typeName) (not \"\(b.typeName)\") to \(a.typeName)")
        case (.multiply, .string, _), (.multiply, .array, _):
            return try repeated(a, b, limits: limits)
        case (.multiply, _, .string), (.multiply, _, .array):
            return try repeated(b, a, limits: limits)
        case let (.modulo, .string(format), _):
            return .string(try PercentFormat.format(format, b))
        default:
            throw JinjaError.runtime(
                "unsupported operand type(s) for \(op.rawValue): '\(a.typeName)' and '\(b.typeName)'")
        }
    }

    private static func repeated(_ sequence: JinjaValue, _ times: JinjaValue, limits: JinjaLimits) throws -> JinjaValue {
        guard case .int(let n)? = times.number else {
            throw JinjaError.runtime("can't multiply sequence by non-int of type '\(times.typeName)'")
        }
        let count = max(n, 0)
        switch sequence {
        case .string(let s):
            guard s.utf8.count.multipliedReportingOverflow(by: count).partialValue <= limits.maxOutputBytes,
                  s.utf8.count.multipliedReportingOverflow(by: count).overflow == false
            else { throw JinjaError.runtime("string repetition result is too large") }
            return .string(String(repeating: s, count: count))
        case .array(let items):
            guard items.count.multipliedReportingOverflow(by: count).partialValue <= limits.maxIterations,
                  items.count.multipliedReportingOverflow(by: count).overflow == false
            else { throw JinjaError.runtime("list repetition result is too large") }
            return .array(Array([[JinjaValue]](repeating: items, count: count).joined()))
        default:
            throw JinjaError.runtime("can't multiply sequence")
        }
    }

    private static func tooLarge(_ what: String) -> JinjaError {
        JinjaError.runtime("\(what) result is too large")
    }

    private static func overflow() -> JinjaError {
        JinjaError.runtime("integer overflow (values beyond 64 bits are not supported)")
    }

    // MARK: - Numbers

    private static func numeric(_ op: BinaryOp, _ a: JinjaNumber, _ b: JinjaNumber) throws -> JinjaValue {
        if case .int(let x) = a, case .int(let y) = b { return try integer(op, x, y) }
        let x = a.asDouble
        let y = b.asDouble
        switch op {
        case .add: return .double(x + y)
        case .subtract: return .double(x - y)
        case .multiply: return .double(x * y)
        case .divide:
            guard y != 0 else { throw JinjaError.runtime("float division by zero") }
            return .double(x / y)
        case .floorDivide:
            guard y != 0 else { throw JinjaError.runtime("float floor division by zero") }
            return .double(floatDivMod(x, y).div)
        case .modulo:
            guard y != 0 else { throw JinjaError.runtime("float modulo") }
            return .double(floatDivMod(x, y).mod)
        case .power:
            if x == 0, y < 0 { throw JinjaError.runtime("0.0 cannot be raised to a negative power") }
            return .double(pow(x, y))
        }
    }

    private static func integer(_ op: BinaryOp, _ x: Int, _ y: Int) throws -> JinjaValue {
        func checked(_ r: (partialValue: Int, overflow: Bool)) throws -> JinjaValue {
            if r.overflow { throw overflow() }
            return .int(r.partialValue)
        }
        switch op {
        case .add: return try checked(x.addingReportingOverflow(y))
        case .subtract: return try checked(x.subtractingReportingOverflow(y))
        case .multiply: return try checked(x.multipliedReportingOverflow(by: y))
        case .divide:
            guard y != 0 else { throw JinjaError.runtime("division by zero") }
            return .double(Double(x) / Double(y))
        case .floorDivide, .modulo:
            guard y != 0 else { throw JinjaError.runtime("integer division or modulo by zero") }
            guard !(x == Int.min && y == -1) else { throw overflow() }
            var q = x / y
            var r = x % y
            if r != 0, (r < 0) != (y < 0) {
                q -= 1
                r += y
            }
            return .int(op == .floorDivide ? q : r)
        case .power:
            if y < 0 {
                guard x != 0 else { throw JinjaError.runtime("0.0 cannot be raised to a negative power") }
                return .double(pow(Double(x), Double(y)))
            }
            return try checked(integerPower(x, y))
        }
    }

    private static func integerPower(_ base: Int, _ exponent: Int) -> (partialValue: Int, overflow: Bool) {
        var result = 1
        var b = base
        var e = exponent
        var overflowed = false
        while e > 0 {
            if e & 1 == 1 {
                let r = result.multipliedReportingOverflow(by: b)
                result = r.partialValue
                overflowed = overflowed || r.overflow
            }
            e >>= 1
            if e > 0 {
                let r = b.multipliedReportingOverflow(by: b)
                b = r.partialValue
                overflowed = overflowed || r.overflow
            }
        }
        return (result, overflowed)
    }

    /// CPython's `float_divmod`: floor division and a modulo with the divisor's sign.
    static func floatDivMod(_ x: Double, _ y: Double) -> (div: Double, mod: Double) {
        var mod = fmod(x, y)
        var div = (x - mod) / y
        if mod != 0 {
            if (y < 0) != (mod < 0) {
                mod += y
                div -= 1
            }
        } else {
            mod = copysign(0, y)
        }
        var floorDiv: Double
        if div != 0 {
            floorDiv = div.rounded(.down)
            if div - floorDiv > 0.5 { floorDiv += 1 }
        } else {
            floorDiv = copysign(0, x / y)
        }
        return (floorDiv, mod)
    }

    // MARK: - Comparisons

    static func compare(_ op: CompareOp, _ a: JinjaValue, _ b: JinjaValue) throws -> Bool {
        switch op {
        case .eq: return a.pyEquals(b)
        case .ne: return !a.pyEquals(b)
        case .isIn: return try contains(b, a)
        case .notIn: return !(try contains(b, a))
        case .lt: return try order(a, b, op) < 0
        case .le: return try order(a, b, op) <= 0
        case .gt: return try order(a, b, op) > 0
        case .ge: return try order(a, b, op) >= 0
        }
    }

    /// Python ordering (-1, 0, 1) for numbers, strings (by code point) and lists.
    static func order(_ a: JinjaValue, _ b: JinjaValue, _ op: CompareOp = .lt) throws -> Int {
        if let x = a.number, let y = b.number {
            if case .int(let i) = x, case .int(let j) = y { return i < j ? -1 : (i == j ? 0 : 1) }
            let (p, q) = (x.asDouble, y.asDouble)
            return p < q ? -1 : (p == q ? 0 : 1)
        }
        switch (a, b) {
        case let (.string(x), .string(y)):
            return compareScalars(x, y)
        case let (.array(x), .array(y)):
            for (p, q) in zip(x, y) where !p.pyEquals(q) { return try order(p, q, op) }
            return x.count < y.count ? -1 : (x.count == y.count ? 0 : 1)
        default:
            throw JinjaError.runtime(
                "'\(op.rawValue)' not supported between instances of '\(a.typeName)' and '\(b.typeName)'")
        }
    }

    static func compareScalars(_ x: String, _ y: String) -> Int {
        var i = x.unicodeScalars.makeIterator()
        var j = y.unicodeScalars.makeIterator()
        while true {
            switch (i.next(), j.next()) {
            case (nil, nil): return 0
            case (nil, _): return -1
            case (_, nil): return 1
            case let (p?, q?): if p != q { return p.value < q.value ? -1 : 1 }
            }
        }
    }

    /// Python `item in container`.
    static func contains(_ container: JinjaValue, _ item: JinjaValue) throws -> Bool {
        switch container {
        case .string(let s):
            guard case .string(let needle) = item else {
                throw JinjaError.runtime("'in <string>' requires string as left operand, not \(item.typeName)")
            }
            return PyStr.find(Array(s.unicodeScalars), Array(needle.unicodeScalars)) != nil
        case .array(let items): return items.contains { $0.pyEquals(item) }
        case .object(let object):
            return object[key: item] != nil
        case .namespace(let ns):
            if case .string(let key) = item { return ns[key] != nil }
            return false
        case .undefined: return false
        default: throw JinjaError.runtime("argument of type '\(container.typeName)' is not iterable")
        }
    }
}
