// jinja2's built-in tests (`x is defined`, `n is divisibleby 3`, `s is string`, ...).

extension Renderer {
    static let testNames: Set<String> = [
        "defined", "undefined", "none", "string", "number", "integer", "float", "mapping", "iterable",
        "sequence", "boolean", "true", "false", "callable", "odd", "even", "divisibleby", "eq", "equalto",
        "==", "ne", "!=", "lt", "lessthan", "<", "le", "<=", "gt", "greaterthan", ">", "ge", ">=", "in",
        "sameas", "lower", "upper", "escaped", "filter", "test",
    ]

    func applyTest(_ name: String, _ value: JinjaValue, _ args: Arguments) throws -> Bool {
        if let result = typeTest(name, value) { return result }
        let argument = args.positional.first ?? args.keyword.first?.1 ?? .undefined
        switch name {
        case "odd", "even":
            let remainder = try Operators.binary(.modulo, value, .int(2), limits: limits)
            return remainder.pyEquals(.int(name == "odd" ? 1 : 0))
        case "divisibleby":
            return try Operators.binary(.modulo, value, argument, limits: limits).pyEquals(.int(0))
        case "eq", "equalto", "==": return value.pyEquals(argument)
        case "ne", "!=": return !value.pyEquals(argument)
        case "lt", "lessthan", "<": return try Operators.compare(.lt, value, argument)
        case "le", "<=": return try Operators.compare(.le, value, argument)
        case "gt", "greaterthan", ">": return try Operators.compare(.gt, value, argument)
        case "ge", ">=": return try Operators.compare(.ge, value, argument)
        case "in": return try Operators.contains(argument, value)
        case "sameas": return value.pyEquals(argument) && value.typeName == argument.typeName
        case "lower": return PyStr.isCase(value.pythonString, lower: true)
        case "upper": return PyStr.isCase(value.pythonString, lower: false)
        case "escaped": return false
        case "filter":
            guard case .string(let filter) = value else { return false }
            return Renderer.filterNames.contains(filter)
        case "test":
            guard case .string(let test) = value else { return false }
            return Renderer.testNames.contains(test)
        default:
            throw JinjaError.runtime("No test named '\(name)'.")
        }
    }

    /// Tests about the value's type; nil when `name` is not one of them.
    private func typeTest(_ name: String, _ value: JinjaValue) -> Bool? {
        switch name {
        case "defined": return !value.isUndefined
        case "undefined": return value.isUndefined
        case "none": return value == .none
        case "boolean": if case .bool = value { return true } else { return false }
        case "true": return value == .bool(true)
        case "false": return value == .bool(false)
        case "string": if case .string = value { return true } else { return false }
        case "number": return value.number != nil
        case "integer": if case .int = value { return true } else { return false }
        case "float": if case .double = value { return true } else { return false }
        case "mapping": if case .object = value { return true } else { return false }
        case "callable":
            switch value {
            case .callable, .undefined: return true
            default: return false
            }
        case "iterable", "sequence":
            switch value {
            case .string, .array, .object, .undefined: return true
            default: return false
            }
        default: return nil
        }
    }
}
