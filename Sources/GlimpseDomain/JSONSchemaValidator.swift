import Foundation

/// The part of JSON Schema that Glance's request schemas use, applied as python-jsonschema's
/// `validate` applies it (no format checking): `type` (one or a list; `integer` accepts
/// integral numbers, booleans are not numbers), `enum`, `required`, `properties`,
/// `additionalProperties` (false or a schema), `items`, `uniqueItems`, `minItems`, `maxItems`,
/// `minLength`, `maxLength` (in code points), `minimum`, `maximum`, `allOf`, and local `$ref`s
/// (`#/definitions/…`). Other keywords (`description`, `default`, `readOnly`, `format`, …) are
/// ignored.
///
/// ```swift
/// if let reason = JSONSchemaValidator(schema: MetadefSchemas.tag).firstError(in: body) { … }
/// ```
public struct JSONSchemaValidator: Sendable {
    public let schema: JSONValue

    public init(schema: JSONValue) {
        self.schema = schema
    }

    /// The first violation, worded as python-jsonschema words it (`'name' is a required
    /// property`), or `nil` when `instance` is valid.
    public func firstError(in instance: JSONValue) -> String? {
        validate(instance, against: schema, depth: 0)
    }

    func validate(_ instance: JSONValue, against schema: JSONValue, depth: Int) -> String? {
        guard depth < 32 else { return "schema nesting is too deep" }
        if case .bool(let allowed) = schema {
            return allowed ? nil : "False schema does not allow \(Self.repr(instance))"
        }
        guard let s = schema.objectValue else { return nil }

        if let ref = s["$ref"]?.stringValue {
            guard let target = resolve(ref) else { return "Unresolvable JSON pointer: \(Self.repr(.string(ref)))" }
            if let e = validate(instance, against: target, depth: depth + 1) { return e }
        }
        for sub in s["allOf"]?.arrayValue ?? [] {
            if let e = validate(instance, against: sub, depth: depth + 1) { return e }
        }
        if let type = s["type"] {
            let names = type.arrayValue?.compactMap(\.stringValue) ?? type.stringValue.map { [$0] } ?? []
            if !names.isEmpty, !names.contains(where: { Self.isInstance(instance, of: $0) }) {
                let expected = type.arrayValue != nil ? Self.repr(type) : Self.repr(.string(names[0]))
                return "\(Self.repr(instance)) is not of type \(expected)"
            }
        }
        if let options = s["enum"]?.arrayValue, !options.contains(where: { Self.equal($0, instance) }) {
            return "\(Self.repr(instance)) is not one of \(Self.repr(.array(options)))"
        }
        switch instance {
        case .object(let o):
            if let e = validateObject(o, s, depth: depth) { return e }
        case .array(let a):
            if let e = validateArray(a, s, depth: depth) { return e }
        case .string(let text):
            let length = text.unicodeScalars.count
            if let max = Self.number(s["maxLength"]), Double(length) > max { return "\(Self.repr(instance)) is too long" }
            if let min = Self.number(s["minLength"]), Double(length) < min {
                return min == 1 ? "\(Self.repr(instance)) should be non-empty" : "\(Self.repr(instance)) is too short"
            }
        case .int, .double:
            guard let value = Self.number(instance) else { break }
            if let min = Self.number(s["minimum"]), value < min {
                return "\(Self.repr(instance)) is less than the minimum of \(Self.repr(s["minimum"]!))"
            }
            if let max = Self.number(s["maximum"]), value > max {
                return "\(Self.repr(instance)) is greater than the maximum of \(Self.repr(s["maximum"]!))"
            }
        default:
            break
        }
        return nil
    }

    func validateObject(_ o: JSONObject, _ s: JSONObject, depth: Int) -> String? {
        for name in s["required"]?.arrayValue?.compactMap(\.stringValue) ?? [] where o[name] == nil {
            return "\(Self.repr(.string(name))) is a required property"
        }
        let declared = s["properties"]?.objectValue
        if let declared {
            for (key, value) in o.pairs {
                guard let sub = declared[key] else { continue }
                if let e = validate(value, against: sub, depth: depth + 1) { return e }
            }
        }
        if let additional = s["additionalProperties"] {
            let extras = o.pairs.filter { declared?[$0.0] == nil }
            if additional == .bool(false), !extras.isEmpty {
                let names = extras.map(\.0).sorted().map { Self.repr(.string($0)) }.joined(separator: ", ")
                return "Additional properties are not allowed (\(names) \(extras.count == 1 ? "was" : "were") unexpected)"
            }
            if additional.objectValue != nil {
                for (_, value) in extras {
                    if let e = validate(value, against: additional, depth: depth + 1) { return e }
                }
            }
        }
        return nil
    }

    func validateArray(_ a: [JSONValue], _ s: JSONObject, depth: Int) -> String? {
        if let items = s["items"], items.objectValue != nil || items.boolValue != nil {
            for item in a {
                if let e = validate(item, against: items, depth: depth + 1) { return e }
            }
        }
        if let min = Self.number(s["minItems"]), Double(a.count) < min {
            return min == 1 ? "\(Self.repr(.array(a))) should be non-empty" : "\(Self.repr(.array(a))) is too short"
        }
        if let max = Self.number(s["maxItems"]), Double(a.count) > max { return "\(Self.repr(.array(a))) is too long" }
        if s["uniqueItems"] == .bool(true) {
            for i in a.indices {
                for j in a.indices where j > i && Self.equal(a[i], a[j]) {
                    return "\(Self.repr(.array(a))) has non-unique elements"
                }
            }
        }
        return nil
    }

    /// Follows a local JSON pointer (`#/definitions/property`) from the root schema.
    func resolve(_ ref: String) -> JSONValue? {
        guard ref.hasPrefix("#") else { return nil }
        var node = schema
        for token in ref.dropFirst().split(separator: "/", omittingEmptySubsequences: true) {
            let key = token.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
            switch node {
            case .object(let o): guard let next = o[key] else { return nil }; node = next
            case .array(let a): guard let i = Int(key), a.indices.contains(i) else { return nil }; node = a[i]
            default: return nil
            }
        }
        return node
    }

    static func isInstance(_ value: JSONValue, of type: String) -> Bool {
        switch (type, value) {
        case ("null", .null), ("boolean", .bool), ("string", .string), ("array", .array), ("object", .object): true
        case ("number", .int), ("number", .double), ("integer", .int): true
        case ("integer", .double(let d)): d.isFinite && d == d.rounded()
        default: false
        }
    }

    static func number(_ value: JSONValue?) -> Double? {
        switch value {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    /// JSON equality as jsonschema sees it: `1 == 1.0`, but `true` is not `1`; object key order is irrelevant.
    static func equal(_ a: JSONValue, _ b: JSONValue) -> Bool {
        switch (a, b) {
        case (.int, .double), (.double, .int), (.int, .int), (.double, .double): number(a) == number(b)
        case (.array(let x), .array(let y)): x.count == y.count && zip(x, y).allSatisfy { equal($0, $1) }
        case (.object(let x), .object(let y)):
            x.pairs.count == y.pairs.count && x.pairs.allSatisfy { key, value in y[key].map { equal(value, $0) } ?? false }
        default: a == b
        }
    }

    /// Python's `repr` of the decoded JSON value, as jsonschema puts it in its messages.
    public static func repr(_ value: JSONValue) -> String {
        switch value {
        case .null: return "None"
        case .bool(let b): return b ? "True" : "False"
        case .int(let i): return String(i)
        case .double(let d): return pythonFloat(d)
        case .string(let s):
            let quote: Character = s.contains("'") && !s.contains("\"") ? "\"" : "'"
            var out = String(quote)
            for c in s.unicodeScalars {
                switch c {
                case "\\": out += "\\\\"
                case "\n": out += "\\n"
                case "\r": out += "\\r"
                case "\t": out += "\\t"
                case _ where Character(c) == quote: out += "\\" + String(quote)
                case _ where c.value < 0x20 || c.value == 0x7F:
                    let hex = String(c.value, radix: 16)
                    out += "\\x" + String(repeating: "0", count: 2 - hex.count) + hex
                default: out.unicodeScalars.append(c)
                }
            }
            out.append(quote)
            return out
        case .array(let a): return "[" + a.map(repr).joined(separator: ", ") + "]"
        case .object(let o): return "{" + o.pairs.map { repr(.string($0.0)) + ": " + repr($0.1) }.joined(separator: ", ") + "}"
        }
    }

    /// Python's `repr(float)` for the common cases (`0.5`, `2.0`, `1e+20`).
    public static func pythonFloat(_ d: Double) -> String {
        if d.isNaN { return "nan" }
        if d.isInfinite { return d < 0 ? "-inf" : "inf" }
        if d == d.rounded(), abs(d) < 1e16 { return String(Int64(d)) + ".0" }
        var text = "\(d)"
        if let e = text.firstIndex(of: "e") {
            let mantissa = text[..<e]
            var exponent = String(text[text.index(after: e)...])
            var sign = "+"
            if exponent.hasPrefix("-") { sign = "-"; exponent.removeFirst() } else if exponent.hasPrefix("+") { exponent.removeFirst() }
            if exponent.count < 2 { exponent = "0" + exponent }
            text = mantissa + "e" + sign + exponent
        }
        return text
    }
}
