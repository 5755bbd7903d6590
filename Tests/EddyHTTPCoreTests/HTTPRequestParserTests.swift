import Testing
@testable import EddyHTTPCore

@Suite("HTTP/1.1 request parser")
struct HTTPRequestParserTests {
    static func parseAll(_ text: String, limits: HTTPParserLimits = HTTPParserLimits()) -> HTTPParseResult {
        var parser = HTTPRequestParser(limits: limits)
        return parser.parse(Array(text.utf8))
    }

    static func status(_ text: String, limits: HTTPParserLimits = HTTPParserLimits()) -> Int? {
        if case .failure(let error) = parseAll(text, limits: limits) { return error.status.code }
        return nil
    }

    @Test func simpleRequest() throws {
        let text = "GET /api/dags/a%20b/stream?x=1&name=J%C3%B6rg+M&flag HTTP/1.1\r\nHost: h\r\nCookie: a=1; b=\"two\"\r\nCookie: c=3\r\nX-Multi: 1\r\nx-multi: 2\r\n\r\n"
        guard case .request(let request, let consumed) = Self.parseAll(text) else { Issue.record("no request"); return }
        #expect(consumed == text.utf8.count)
        #expect(request.method == .get)
        #expect(request.path == "/api/dags/a%20b/stream")
        #expect(request.queryValue("x") == "1")
        #expect(request.queryValue("name") == "Jörg M")
        #expect(request.queryItems.last?.name == "flag" && request.queryItems.last?.value == nil)
        #expect(request.headers["x-MULTI"] == ["1", "2"])
        #expect(request.cookie("b") == "two")
        #expect(request.cookie("c") == "3")
        #expect(request.keepAlive)
    }

    @Test func byteAtATimeAndPipelining() {
        let one = "GET /a HTTP/1.1\r\nHost: h\r\n\r\n"
        let two = "POST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello"
        let bytes = Array((one + two + "GET /c").utf8)
        var parser = HTTPRequestParser()
        var requests: [HTTPRequest] = []
        var pending: [UInt8] = []
        for byte in bytes {
            pending.append(byte)
            switch parser.parse(pending) {
            case .needMoreData: pending = []
            case .request(let request, let consumed):
                requests.append(request)
                pending = Array(pending[consumed...])
            case .failure(let error): Issue.record("\(error)")
            }
        }
        #expect(requests.map(\.path) == ["/a", "/b"])
        #expect(requests[1].body == Array("hello".utf8))
        #expect(parser.hasPartialRequest)
    }

    @Test func pipelinedBytesStayWithTheCaller() {
        let head = "GET /ws HTTP/1.1\r\nHost: h\r\n\r\n"
        var parser = HTTPRequestParser()
        let extra: [UInt8] = [0x81, 0x85, 1, 2, 3, 4]
        guard case .request(_, let consumed) = parser.parse(Array(head.utf8) + extra) else { Issue.record("no request"); return }
        #expect(consumed == head.utf8.count)
    }

    @Test func keepAliveSemantics() {
        func keepAlive(_ text: String) -> Bool? {
            if case .request(let request, _) = Self.parseAll(text) { return request.keepAlive }
            return nil
        }
        #expect(keepAlive("GET / HTTP/1.1\r\nHost: h\r\n\r\n") == true)
        #expect(keepAlive("GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n") == false)
        #expect(keepAlive("GET / HTTP/1.1\r\nHost: h\r\nConnection: Upgrade, Close\r\n\r\n") == false)
        #expect(keepAlive("GET / HTTP/1.0\r\n\r\n") == false)
        #expect(keepAlive("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n") == true)
    }

    @Test(arguments: [
        ("GET / HTTP/1.1\r\nHost: h\r\n\r\n", nil),
        ("\r\nGET / HTTP/1.1\r\nHost: h\r\n\r\n", nil),            // leading empty line ignored
        ("GET  / HTTP/1.1\r\nHost: h\r\n\r\n", 400),              // double space
        ("GET / HTTP/1.1\r\n\r\n", 400),                          // no Host
        ("GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),    // two Hosts
        ("GET / HTTP/1.1\r\nHost : h\r\n\r\n", 400),              // space before colon
        ("GET / HTTP/1.1\r\nHost: h\r\n folded\r\n\r\n", 400),     // obs-fold
        ("GET / HTTP/1.1\r\nHost: h\nX: y\r\n\r\n", 400),         // bare LF
        ("GET / HTTP/1.1\r\nHost: h\r\nX: a\u{1}b\r\n\r\n", 400), // control character
        ("G@T / HTTP/1.1\r\nHost: h\r\n\r\n", 400),               // method not a token
        ("GET noslash HTTP/1.1\r\nHost: h\r\n\r\n", 400),
        ("GET / HTTP/2.0\r\nHost: h\r\n\r\n", 505),
        ("GET / HTTX/1.1\r\nHost: h\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: abc\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 2000000\r\n\r\n", 413),
        ("POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 99999999999999999999999\r\n\r\n", 413),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n", 501),
        ("POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\nContent-Length: 3\r\n\r\n", 400),
    ] as [(String, Int?)])
    func statuses(_ text: String, _ expected: Int?) {
        #expect(Self.status(text) == expected, "\(text.debugDescription)")
    }

    /// A bare LF or CR is refused when it arrives: a client that ends lines with LF alone
    /// never sends the CRLF CRLF that would end its head, and must not be left waiting.
    @Test(arguments: [
        ("GET / HTTP/1.1\nHost: h\n", "bare LF", 14),        // LF-only lines
        ("GET / HTTP/1.1\r\nHost: h\n", "bare LF", 23),      // one bare LF after a CRLF line
        ("GET / HTTP/1.1\r\nHost: h\r\n\n", "bare LF", 25),  // a bare LF as the blank line
        ("GET / HTTP/1.1\rHost: h", "bare CR", 15),           // bare CR
    ] as [(String, String, Int)])
    func bareLineEndsFailAtOnce(_ text: String, _ reason: String, _ offendingByte: Int) {
        var parser = HTTPRequestParser()
        #expect(parser.parse(Array(text.utf8)) == .failure(.malformed(reason)), "\(text.debugDescription)")
        // Byte by byte, the failure comes with the offending byte, not later.
        var bytewise = HTTPRequestParser()
        var failedAt: Int?
        for (index, byte) in text.utf8.enumerated() {
            if case .failure = bytewise.parse([byte]) { failedAt = index; break }
        }
        #expect(failedAt == offendingByte, "\(text.debugDescription)")
    }

    @Test func requestLineLimitIs414() {
        let limits = HTTPParserLimits()
        let target = "/" + String(repeating: "a", count: 4096)
        #expect(Self.status("GET \(target) HTTP/1.1\r\nHost: h\r\n\r\n") == 414)
        // Detected before the line ends.
        var parser = HTTPRequestParser(limits: limits)
        let result = parser.parse(Array("GET \(target)".utf8))
        #expect(result == .failure(HTTPParseError.uriTooLong))
        // Exactly at the limit is fine.
        let atLimit = "/" + String(repeating: "a", count: 4096 - 14 - 1)
        #expect(Self.status("GET \(atLimit) HTTP/1.1\r\nHost: h\r\n\r\n") == nil)
    }

    @Test func headerBytesLimitIs431() {
        let big = String(repeating: "x", count: 8200)
        #expect(Self.status("GET / HTTP/1.1\r\nHost: h\r\nX: \(big)\r\n\r\n") == 431)
    }

    @Test func headerCountLimitIs431() {
        var text = "GET / HTTP/1.1\r\nHost: h\r\n"
        for i in 0..<100 { text += "X-\(i): v\r\n" }
        #expect(Self.status(text + "\r\n") == 431)
        #expect(Self.status(text + "\r\n", limits: HTTPParserLimits(maxHeaderCount: 101)) == nil)
    }

    @Test func failureIsSticky() {
        var parser = HTTPRequestParser()
        _ = parser.parse(Array("BAD\r\n\r\n".utf8))
        #expect(parser.parse(Array("GET / HTTP/1.1\r\nHost: h\r\n\r\n".utf8)) == .failure(.malformed("request line")))
    }

    @Test func percentDecoding() {
        #expect(percentDecoded("a%2Fb") == "a/b")
        #expect(percentDecoded("a+b", plusAsSpace: true) == "a b")
        #expect(percentDecoded("a+b") == "a+b")
        #expect(percentDecoded("%zz") == nil)
        #expect(percentDecoded("%C3") == nil)  // not UTF-8
    }

    @Test func absoluteFormTarget() {
        guard case .request(let request, _) = Self.parseAll("GET http://h/x/y?q=1 HTTP/1.1\r\nHost: h\r\n\r\n") else {
            Issue.record("no request"); return
        }
        #expect(request.path == "/x/y")
        #expect(request.queryValue("q") == "1")
    }
}

@Suite("HTTP response head parser")
struct HTTPResponseHeadParserTests {
    @Test func parsesStatusAndHeaders() {
        var parser = HTTPResponseHeadParser()
        let bytes = Array("HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n\r\nrest".utf8)
        var result = HTTPResponseHeadParser.Result.needMoreData
        var fed = 0
        for byte in bytes {  // one byte at a time
            fed += 1
            result = parser.parse([byte])
            if case .head = result { break }
        }
        guard case .head(let head, let consumed) = result else { Issue.record("no head"); return }
        #expect(consumed == 1)
        #expect(fed == bytes.count - 4)
        #expect(head.statusCode == 101)
        #expect(head.reasonPhrase == "Switching Protocols")
        #expect(head.headers.first(name: "upgrade") == "websocket")
    }

    @Test func rejectsGarbage() {
        var parser = HTTPResponseHeadParser()
        #expect(parser.parse(Array("HTTP/1.1 1x1 OK\r\n\r\n".utf8)) == .failure(.malformed("status line")))
    }
}
