import EddyDAG
import Testing

@Suite("JSON writer and parser")
struct JSONTests {
    @Test("numbers are spelled like ECMAScript's Number#toString", arguments: [
        (1.0, "1"), (10.0, "10"), (-0.5, "-0.5"), (0.1, "0.1"), (0.0125, "0.0125"), (1e-6, "0.000001"),
        (1e-7, "1e-7"), (2.5e-7, "2.5e-7"), (1.5e21, "1.5e+21"), (1e21, "1e+21"), (1e20, "100000000000000000000"),
        (123456.789, "123456.789"), (0.30000000000000004, "0.30000000000000004"), (-1234.5, "-1234.5"),
    ])
    func numberSpelling(value: Double, expected: String) {
        #expect(JSONValue.double(value).jsonString == expected)
    }

    @Test func nonFiniteNumbersBecomeNull() {
        #expect(JSONValue.double(.infinity).jsonString == "null")
        #expect(JSONValue.double(.nan).jsonString == "null")
    }

    @Test func stringsAreEscapedLikeJSONStringify() {
        let s = JSONValue.string("a\"b\\c\n\t\u{01}é/☕")
        #expect(s.jsonString == #""a\"b\\c\n\t\u0001é/☕""#)
    }

    @Test func objectsKeepMemberOrder() throws {
        let text = #"{"z":1,"a":[true,false,null],"m":{"k":"v"},"d":-2.5}"#
        let value = try JSONParser.parse(text)
        #expect(value.jsonString == text)
        #expect(value["z"] == .int(1))
        #expect(value["d"] == .double(-2.5))
    }

    @Test func parserDecodesEscapesAndSurrogatePairs() throws {
        let value = try JSONParser.parse(#""\u00e9\ud83d\ude00\/\b""#)
        #expect(value == .string("é😀/\u{08}"))
    }

    @Test("malformed input is a thrown error, never a crash", arguments: [
        "", "{", "[1,]", "{\"a\"}", "nul", "01", "1.", "\"\\x\"", "\"\\ud800\"", "[1] 2", "\"a\nb\"", "-", "{\"a\":1,}",
    ])
    func malformed(text: String) {
        #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
    }

    @Test func depthIsBounded() {
        let deep = String(repeating: "[", count: 100) + String(repeating: "]", count: 100)
        #expect(throws: JSONParseError.self) { try JSONParser.parse(deep) }
        #expect((try? JSONParser.parse(deep, maxDepth: 200)) != nil)
    }

    /// Found by the `json` fuzz target: `1e400` was read as infinity, which the writer can
    /// only spell `null`.
    @Test func numbersBeyondDoublesRangeAreRefused() throws {
        for text in ["1e400", "-1e400", "[1, 2e999]"] {
            #expect(throws: JSONParseError.self) { try JSONParser.parse(text) }
        }
        #expect(try JSONParser.parse("1e-400") == .double(0))
        #expect(try JSONParser.parse("1.7976931348623157e308") == .double(.greatestFiniteMagnitude))
    }

    @Test func integersStayIntegers() throws {
        #expect(try JSONParser.parse("9007199254740993") == .int(9_007_199_254_740_993))
        #expect(try JSONParser.parse("1e3") == .double(1000))
        #expect(try JSONParser.parse("1e3").jsonString == "1000")
    }
}
