import Foundation
import Tokenizer

/// Loads the reference fixtures made by `scripts/reference/make_jinja_fixtures.py` (real
/// Python jinja2 configured like HF transformers). Paths are relative to this file, so the
/// tests find `Tests/Fixtures/jinja` without SwiftPM resources.
enum JinjaFixtures {
    static let directory = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent()
        .deletingLastPathComponent()
        .appendingPathComponent("Fixtures/jinja")

    /// The script's fixed `strftime_now` clock: 2025-01-15 12:30:45 local time.
    static let fixedNow: Date = {
        var components = DateComponents()
        (components.year, components.month, components.day) = (2025, 1, 15)
        (components.hour, components.minute, components.second) = (12, 30, 45)
        var calendar = Calendar(identifier: .gregorian)
        calendar.timeZone = TimeZone.current
        return calendar.date(from: components) ?? Date(timeIntervalSince1970: 0)
    }()

    static func load(_ name: String) -> [JinjaObject] {
        guard let data = try? Data(contentsOf: directory.appendingPathComponent(name)),
              case .array(let items)? = try? JinjaValue(jsonData: data)
        else { return [] }
        return items.compactMap { item in
            if case .object(let object) = item { return object }
            return nil
        }
    }

    static func string(_ object: JinjaObject, _ key: String) -> String? {
        if case .string(let s)? = object[key] { return s }
        return nil
    }

    static func bool(_ object: JinjaObject, _ key: String) -> Bool {
        if case .bool(let b)? = object[key] { return b }
        return false
    }

    static func dictionary(_ value: JinjaValue?) -> [String: JinjaValue] {
        guard case .object(let object)? = value else { return [:] }
        return Dictionary(object.pairs.map { ($0.key, $0.value) }, uniquingKeysWith: { _, last in last })
    }

    /// Where two renders first differ (in code points), with a little context, for failure messages.
    static func mismatch(expected: String, actual: String) -> String {
        let e = Array(expected.unicodeScalars)
        let a = Array(actual.unicodeScalars)
        var i = 0
        while i < e.count, i < a.count, e[i] == a[i] { i += 1 }
        func snippet(_ s: [Unicode.Scalar]) -> String {
            var view = String.UnicodeScalarView()
            view.append(contentsOf: s[max(0, i - 30)..<min(s.count, i + 30)])
            return String(reflecting: String(view))
        }
        return "first difference at code point \(i) (expected \(e.count), got \(a.count)):\n"
            + "  expected …\(snippet(e))…\n  actual   …\(snippet(a))…"
    }
}
