import Testing
import EddyHTTPCore
@testable import EddyWebSocketCore

func upgradeRequest(_ extra: [(String, String)] = [], removing: Set<String> = [], method: HTTPMethod = .get,
                    version: HTTPVersion = .http1_1) -> HTTPRequest {
    var fields: [(String, String)] = [
        ("Host", "server.example.com"),
        ("Upgrade", "websocket"),
        ("Connection", "Upgrade"),
        ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ("Sec-WebSocket-Version", "13"),
    ].filter { !removing.contains($0.0) }
    fields += extra
    return HTTPRequest(method: method, target: "/chat", version: version, headers: HTTPHeaders(fields))
}

/// RFC 6455 §4.2: the server's opening handshake.
@Suite("§4.2 server handshake")
struct ServerHandshakeTests {
    @Test func acceptKeyFromRFCExample() {
        #expect(WebSocketAccept.acceptValue(forKey: "dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    }

    @Test func exact101Response() throws {
        let handshake = WebSocketServerHandshake(configuration: .init(deflate: .disabled))
        guard case .accept(let agreement) = handshake.negotiate(upgradeRequest()) else {
            Issue.record("rejected"); return
        }
        let expected = "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n\r\n"
        #expect(agreement.responseBytes() == Array(expected.utf8))
        let withCookie = agreement.responseBytes(extraHeaders: ["Set-Cookie": "s=1"])
        #expect(withCookie.map { String(decoding: $0, as: UTF8.self) }?.contains("Set-Cookie: s=1\r\n\r\n") == true)
    }

    @Test func exact426ForWrongVersion() {
        let handshake = WebSocketServerHandshake()
        let request = upgradeRequest([("Sec-WebSocket-Version", "8")], removing: ["Sec-WebSocket-Version"])
        guard case .reject(let response, _) = handshake.negotiate(request) else { Issue.record("accepted"); return }
        let expected = "HTTP/1.1 426 Upgrade Required\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n"
            + "Sec-WebSocket-Version: 13\r\nContent-Length: 21\r\n\r\n426 Upgrade Required\n"
        #expect(response.serialize() == Array(expected.utf8))
    }

    /// §4.2.1 truth table: (change to a valid request, expected status or 101).
    @Test(arguments: [
        ("valid", [], [], 101),
        ("POST", [], [], 400),
        ("HTTP/1.0", [], [], 400),
        ("no Upgrade", [], ["Upgrade"], 400),
        ("Upgrade: h2c", [("Upgrade", "h2c")], ["Upgrade"], 400),
        ("Upgrade token list, mixed case", [("Upgrade", "foo, WebSocket")], ["Upgrade"], 101),
        ("no Connection", [], ["Connection"], 400),
        ("Connection: keep-alive, Upgrade", [("Connection", "keep-alive, upgrade")], ["Connection"], 101),
        ("Connection: keep-alive", [("Connection", "keep-alive")], ["Connection"], 400),
        ("no key", [], ["Sec-WebSocket-Key"], 400),
        ("key of 15 bytes", [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25j")], ["Sec-WebSocket-Key"], 400),
        ("key not base64", [("Sec-WebSocket-Key", "!!!!!!!!!!!!!!!!!!!!!!==")], ["Sec-WebSocket-Key"], 400),
        ("two keys", [("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")], [], 400),
        ("no version", [], ["Sec-WebSocket-Version"], 426),
        ("version 8", [("Sec-WebSocket-Version", "8")], ["Sec-WebSocket-Version"], 426),
        ("version 13, 8", [("Sec-WebSocket-Version", "13, 8")], ["Sec-WebSocket-Version"], 426),
        ("no Host", [], ["Host"], 400),
        ("malformed extensions", [("Sec-WebSocket-Extensions", "permessage-deflate; =")], [], 400),
    ] as [(String, [(String, String)], [String], Int)])
    func validation(_ name: String, _ extra: [(String, String)], _ removing: [String], _ status: Int) {
        let method: HTTPMethod = name == "POST" ? .post : .get
        let version: HTTPVersion = name == "HTTP/1.0" ? .http1_0 : .http1_1
        let request = upgradeRequest(extra, removing: Set(removing), method: method, version: version)
        switch WebSocketServerHandshake().negotiate(request) {
        case .accept: #expect(status == 101, "\(name)")
        case .reject(let response, let error):
            #expect(response.status.code == status, "\(name): \(error)")
            #expect(error.status.code == status)
        }
    }

    @Test func originAllowList() {
        let handshake = WebSocketServerHandshake(configuration: .init(
            originPolicy: .allowList(["https://dash.example.com"], allowsMissingOrigin: false)))
        guard case .accept = handshake.negotiate(upgradeRequest([("Origin", "https://DASH.example.com")])) else {
            Issue.record("allowed origin rejected"); return
        }
        guard case .reject(let response, _) = handshake.negotiate(upgradeRequest([("Origin", "https://evil.example")])) else {
            Issue.record("foreign origin accepted"); return
        }
        #expect(response.status == .forbidden)
        guard case .reject = handshake.negotiate(upgradeRequest()) else { Issue.record("missing origin accepted"); return }
    }

    @Test func subprotocolByServerPreference() {
        let handshake = WebSocketServerHandshake(configuration: .init(subprotocols: ["eddy.v2", "eddy.v1"], deflate: .disabled))
        let request = upgradeRequest([("Sec-WebSocket-Protocol", "eddy.v1, eddy.v2, other")])
        guard case .accept(let agreement) = handshake.negotiate(request) else { Issue.record("rejected"); return }
        #expect(agreement.subprotocol == "eddy.v2")
        guard case .accept(let none) = handshake.negotiate(upgradeRequest([("Sec-WebSocket-Protocol", "other")])) else {
            Issue.record("rejected"); return
        }
        #expect(none.subprotocol == nil)
        #expect(none.response().headers.contains(name: "Sec-WebSocket-Protocol") == false)
    }

    /// The server default (`PerMessageDeflateConfiguration.server`) adds
    /// `server_no_context_takeover` unasked (RFC 7692 §7.1.1.1), so connections can share
    /// their loop's compressor; with context takeover configured, it is left out.
    @Test func deflateNegotiatedInResponse() {
        let request = upgradeRequest([("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")])
        guard case .accept(let agreement) = WebSocketServerHandshake().negotiate(request) else { Issue.record("rejected"); return }
        #expect(agreement.response().headers.first(name: "Sec-WebSocket-Extensions")
            == "permessage-deflate; server_no_context_takeover; server_max_window_bits=12; client_max_window_bits=12")
        let withContext = WebSocketServerHandshake(configuration: .init(deflate: PerMessageDeflateConfiguration()))
        guard case .accept(let kept) = withContext.negotiate(request) else { Issue.record("rejected"); return }
        #expect(kept.response().headers.first(name: "Sec-WebSocket-Extensions")
            == "permessage-deflate; server_max_window_bits=12; client_max_window_bits=12")
    }

    @Test func hookSeesTheRequest() async {
        let hook = WebSocketUpgradeHook { request, _ in
            request.cookie("token") == "ok" ? .accept(extraHeaders: HTTPHeaders()) : .reject(.error(.unauthorized))
        }
        let good = upgradeRequest([("Cookie", "token=ok")])
        #expect(await hook.decide(good, HTTPRouteParameters()) == .accept(extraHeaders: HTTPHeaders()))
        let decision = await hook.decide(upgradeRequest(), HTTPRouteParameters())
        guard case .reject(let response) = decision else { Issue.record("accepted"); return }
        #expect(response.status == .unauthorized)
    }
}

/// RFC 6455 §4.1: the client's opening handshake.
@Suite("§4.1 client handshake")
struct ClientHandshakeTests {
    @Test(arguments: [
        ("ws://example.com", false, "example.com", 80, "/", "example.com"),
        ("ws://example.com:8080/chat?x=1", false, "example.com", 8080, "/chat?x=1", "example.com:8080"),
        ("wss://example.com/a", true, "example.com", 443, "/a", "example.com"),
        ("WS://[::1]:9001?q", false, "[::1]", 9001, "/?q", "[::1]:9001"),
    ] as [(String, Bool, String, Int, String, String)])
    func urls(_ text: String, _ tls: Bool, _ host: String, _ port: Int, _ resource: String, _ hostHeader: String) throws {
        let url = try WebSocketURL(text)
        #expect(url.requiresTLS == tls)
        #expect(url.host == host)
        #expect(url.port == port)
        #expect(url.resource == resource)
        #expect(url.hostHeader == hostHeader)
        #expect(url.bareHost == (host.hasPrefix("[") ? "::1" : host), "the name for SNI and the certificate check")
    }

    @Test(arguments: ["http://example.com", "ws://", "ws://example.com:0", "ws://example.com:99999", "ws://u@example.com",
                      "ws://example.com/#frag", "ws://example.com:abc"])
    func invalidURLs(_ text: String) {
        #expect(throws: WebSocketHandshakeError.self) { try WebSocketURL(text) }
    }

    @Test func exactRequestBytes() throws {
        let handshake = try WebSocketClientHandshake(
            url: WebSocketURL("ws://server.example.com/chat"), subprotocols: ["chat", "superchat"],
            extraHeaders: ["Authorization": "Bearer t"], origin: "http://example.com",
            deflate: .init(), key: "dGhlIHNhbXBsZSBub25jZQ==")
        let expected = "GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
            + "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\nOrigin: http://example.com\r\n"
            + "Sec-WebSocket-Protocol: chat, superchat\r\n"
            + "Sec-WebSocket-Extensions: permessage-deflate; server_max_window_bits=12; client_max_window_bits, "
            + "permessage-deflate; client_max_window_bits\r\n"
            + "Authorization: Bearer t\r\n\r\n"
        #expect(handshake.requestBytes == Array(expected.utf8))
    }

    @Test func generatedKeysAreValidAndDistinct() throws {
        let url = try WebSocketURL("ws://h/")
        let a = try WebSocketClientHandshake(url: url).key
        let b = try WebSocketClientHandshake(url: url).key
        #expect(WebSocketAccept.isValidKey(a) && WebSocketAccept.isValidKey(b))
        #expect(a != b)
    }

    static func response(_ status: Int = 101, _ fields: [(String, String)]) -> HTTPResponseHead {
        HTTPResponseHead(statusCode: status, reasonPhrase: "x", headers: HTTPHeaders(fields))
    }

    static let good: [(String, String)] = [
        ("Upgrade", "websocket"), ("Connection", "Upgrade"), ("Sec-WebSocket-Accept", "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="),
    ]

    @Test(arguments: [
        ("valid", 101, good, true),
        ("200", 200, good, false),
        ("no Upgrade", 101, Array(good.dropFirst()), false),
        ("wrong accept", 101, [good[0], good[1], ("Sec-WebSocket-Accept", "AAAAAAAAAAAAAAAAAAAAAAAAAAA=")], false),
        ("offered subprotocol", 101, good + [("Sec-WebSocket-Protocol", "chat")], true),
        ("unoffered subprotocol", 101, good + [("Sec-WebSocket-Protocol", "other")], false),
        ("deflate accepted", 101, good + [("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=10")], true),
        ("deflate client bits 8", 101, good + [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits=8")], true),
        ("deflate server bits 16", 101, good + [("Sec-WebSocket-Extensions", "permessage-deflate; server_max_window_bits=16")], false),
        // The default offer has no value: any window up to 15 is allowed (this client still
        // compresses with at most its own 12 bits).
        ("deflate client bits 15 to an offer without value", 101, good + [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits=15")], true),
        ("deflate client bits without value", 101, good + [("Sec-WebSocket-Extensions", "permessage-deflate; client_max_window_bits")], false),
        ("deflate unknown parameter", 101, good + [("Sec-WebSocket-Extensions", "permessage-deflate; foo")], false),
        ("unoffered extension", 101, good + [("Sec-WebSocket-Extensions", "x-webkit-deflate-frame")], false),
        ("two deflate elements", 101, good + [("Sec-WebSocket-Extensions", "permessage-deflate, permessage-deflate")], false),
    ] as [(String, Int, [(String, String)], Bool)])
    func responseValidation(_ name: String, _ status: Int, _ fields: [(String, String)], _ ok: Bool) throws {
        let handshake = try WebSocketClientHandshake(
            url: WebSocketURL("ws://server.example.com/chat"), subprotocols: ["chat"], key: "dGhlIHNhbXBsZSBub25jZQ==")
        switch handshake.validate(Self.response(status, fields)) {
        case .success: #expect(ok, "\(name)")
        case .failure(let error): #expect(!ok, "\(name): \(error)")
        }
    }

    /// With `offersWindowBitsValue`, the offer says 12 and a larger answer fails (RFC 7692 §7.1.2.2).
    @Test(arguments: [("client_max_window_bits=12", true), ("client_max_window_bits=10", true), ("client_max_window_bits=13", false),
                      ("client_max_window_bits=15", false)])
    func responseToAnOfferWithAValue(_ parameter: String, _ ok: Bool) throws {
        var deflate = PerMessageDeflateConfiguration()
        deflate.offersWindowBitsValue = true
        let handshake = try WebSocketClientHandshake(url: WebSocketURL("ws://h/"), deflate: deflate, key: "dGhlIHNhbXBsZSBub25jZQ==")
        #expect(String(decoding: handshake.requestBytes, as: UTF8.self).contains("permessage-deflate; client_max_window_bits=12\r\n"))
        let fields = Self.good + [("Sec-WebSocket-Extensions", "permessage-deflate; " + parameter)]
        switch handshake.validate(Self.response(101, fields)) {
        case .success: #expect(ok, "\(parameter)")
        case .failure(let error): #expect(!ok, "\(parameter): \(error)")
        }
    }

    /// A server's answer of 15 to an offer without value leaves this client compressing with 12.
    @Test func aLargerAllowedWindowDoesNotGrowTheClientsCompressor() {
        let settings = PerMessageDeflateCodec.Settings(parameters: PerMessageDeflateParameters(clientMaxWindowBits: 15), role: .client,
                                                       configuration: PerMessageDeflateConfiguration())
        #expect(settings.compressWindowBits == 12)
    }

    /// Client request → HTTP parser → server negotiation → response parser → client validation.
    @Test func endToEndHandshake() throws {
        let client = try WebSocketClientHandshake(url: WebSocketURL("ws://localhost:9001/stream?dag=1"), subprotocols: ["eddy.v1"])
        var requestParser = HTTPRequestParser()
        guard case .request(let request, let consumed) = requestParser.parse(client.requestBytes) else {
            Issue.record("request did not parse"); return
        }
        #expect(consumed == client.requestBytes.count)
        #expect(request.queryValue("dag") == "1")
        let server = WebSocketServerHandshake(configuration: .init(subprotocols: ["eddy.v1"]))
        guard case .accept(let agreement) = server.negotiate(request), let bytes = agreement.responseBytes() else {
            Issue.record("rejected"); return
        }
        var responseParser = HTTPResponseHeadParser()
        let frame = serverFrame(.text, Array("first".utf8))
        guard case .head(let head, let used) = responseParser.parse(bytes + frame) else { Issue.record("no head"); return }
        #expect(used == bytes.count)  // the frame after the head stays with the caller
        guard case .success(let clientAgreement) = client.validate(head) else { Issue.record("invalid"); return }
        #expect(clientAgreement.subprotocol == "eddy.v1")
        #expect(clientAgreement.deflate == agreement.deflate)
        #expect(agreement.deflate == PerMessageDeflateParameters(serverNoContextTakeover: true, serverMaxWindowBits: 12, clientMaxWindowBits: 12))
    }
}
