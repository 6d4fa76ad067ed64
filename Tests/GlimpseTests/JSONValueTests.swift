import GlimpseDomain
import Testing

@Suite struct JSONValueTests {
    func parse(_ s: String) throws -> JSONValue { try JSONValue.parse(Array(s.utf8)) }

    @Test func parsesEveryKind() throws {
        let v = try parse(#"{"a": [1, -2.5, true, false, null, "x\u00e9\n"], "b": {"c": 1e3}}"#)
        let o = try #require(v.objectValue)
        #expect(o["a"] == .array([.int(1), .double(-2.5), .bool(true), .bool(false), .null, .string("xé\n")]))
        #expect(o["b"]?.objectValue?["c"] == .double(1000))
    }

    @Test(arguments: ["{bad", "", "[1,]", "{\"a\":}", "tru", "\"unterminated", "{\"a\" 1}", "[1] 2", "01x", "\"\\x\""])
    func refusesMalformed(_ text: String) {
        #expect(throws: GlimpseError.self) { try parse(text) }
    }

    @Test func limitsNesting() {
        let deep = String(repeating: "[", count: 200) + String(repeating: "]", count: 200)
        #expect(throws: GlimpseError.self) { try parse(deep) }
    }

    @Test func roundTripsThroughSerializer() throws {
        let text = #"{"k": "quote\" back\\ ctrl\u0001", "n": 12, "l": [null]}"#
        let v = try parse(text)
        #expect(try parse(v.serialized()) == v)
    }

    /// Written as Python's `json.dumps(..., ensure_ascii=False)` writes it, as Glance answers.
    @Test func serializesAsPythonsJSONDumps() {
        let v = JSONValue.object(JSONObject([
            ("s", .string("q\" b\\ \u{8}\u{C}\n\r\t\u{1}\u{1F} é 😀 \u{7F}")),
            ("i", .array([.int(0), .int(-7), .int(Int64.max), .int(Int64.min)])),
            ("d", .array([.double(2), .double(-0.5)])),
            ("b", .array([.bool(true), .bool(false), .null])),
            ("e", .object(JSONObject())),
        ]))
        let want = #"{"s": "q\" b\\ \b\f\n\r\t\u0001\u001f é 😀 \#u{7F}", "i": [0, -7, 9223372036854775807, -9223372036854775808], "d": [2.0, -0.5], "b": [true, false, null], "e": {}}"#
        #expect(v.serialized() == want)
        #expect(v.serializedBytes() == Array(want.utf8))
    }

    @Test func surrogatePairs() throws {
        #expect(try parse(#""\ud83d\ude00""#) == .string("😀"))
        #expect(throws: GlimpseError.self) { try parse(#""\ud83d""#) }
    }
}
