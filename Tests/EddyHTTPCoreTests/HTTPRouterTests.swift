import Testing
@testable import EddyHTTPCore

@Suite("Response serializer")
struct HTTPResponseTests {
    @Test func exactBytes() {
        let response = HTTPResponse(status: .ok, headers: ["Content-Type": "text/plain", "Content-Length": "999"], body: Array("hi".utf8))
        #expect(response.serialize() == Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 2\r\n\r\nhi".utf8))
    }

    @Test func noBodyStatuses() {
        let response = HTTPResponse(status: .noContent, body: Array("ignored".utf8))
        #expect(response.serialize() == Array("HTTP/1.1 204 No Content\r\n\r\n".utf8))
    }

    /// HEAD gets GET's head, Content-Length included, and no body (RFC 9110 §9.3.2).
    @Test func headKeepsTheContentLength() {
        let response = HTTPResponse.text("ok\n")
        #expect(response.serialize(omittingBody: true) == Array("HTTP/1.1 200 OK\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: 3\r\n\r\n".utf8))
        #expect(response.serialize()?.count == (response.serialize(omittingBody: true)?.count ?? 0) + 3)
    }

    @Test func responseSplittingIsRefused() {
        let response = HTTPResponse(status: .ok, headers: ["X": "a\r\nSet-Cookie: evil=1"])
        #expect(response.serialize() == nil)
    }
}

@Suite("Router")
struct HTTPRouterTests {
    static func router() throws -> HTTPRouter<String> {
        var router = HTTPRouter<String>()
        try router.addHealthCheck()
        try router.add(.get, "/api/dags/{id}/stream") { _, parameters in .text("stream \(parameters["id"] ?? "")") }
        try router.add(.post, "/api/dags/{id}/runs") { request, _ in .text("run \(request.body.count)") }
        try router.addUpgrade("/ws/{room}", "websocket-endpoint")
        try router.addStaticFiles(prefix: "/static/", directory: "/srv/www/")
        return router
    }

    static func request(_ method: HTTPMethod, _ target: String) -> HTTPRequest {
        HTTPRequest(method: method, target: target, headers: ["Host": "h"])
    }

    @Test func parameterisedHandler() async throws {
        guard case .handler(let handler, let parameters) = try Self.router().route(Self.request(.get, "/api/dags/d%2F1/stream?x=1")) else {
            Issue.record("no handler"); return
        }
        #expect(parameters["id"] == "d/1")
        #expect(await handler(Self.request(.get, "/"), parameters).body == Array("stream d/1".utf8))
    }

    @Test func getRoutesAnswerHead() async throws {
        guard case .handler(let handler, let parameters) = try Self.router().route(Self.request(.head, "/api/dags/d1/stream")) else {
            Issue.record("HEAD did not reach the GET handler"); return
        }
        #expect(await handler(Self.request(.head, "/"), parameters).body == Array("stream d1".utf8))
        guard case .respond(let refused) = try Self.router().route(Self.request(.head, "/api/dags/d1/runs")) else {
            Issue.record("HEAD reached a POST handler"); return
        }
        #expect(refused.status == .methodNotAllowed)
    }

    @Test func healthz() throws {
        guard case .respond(let response) = try Self.router().route(Self.request(.get, "/healthz")) else {
            Issue.record("no response"); return
        }
        #expect(response.status == .ok)
    }

    @Test func upgradeRoute() throws {
        guard case .upgrade(let endpoint, let parameters) = try Self.router().route(Self.request(.get, "/ws/lobby")) else {
            Issue.record("no upgrade"); return
        }
        #expect(endpoint == "websocket-endpoint")
        #expect(parameters["room"] == "lobby")
    }

    @Test func wrongMethodIs405WithAllow() throws {
        guard case .respond(let response) = try Self.router().route(Self.request(.post, "/ws/lobby")) else {
            Issue.record("no response"); return
        }
        #expect(response.status == .methodNotAllowed)
        #expect(response.headers.first(name: "Allow") == "GET")
    }

    @Test(arguments: ["/nope", "/api/dags/x", "/api/dags/x/stream/", "/api/dags//stream", "/healthz/x"])
    func unknownIs404(_ path: String) throws {
        guard case .respond(let response) = try Self.router().route(Self.request(.get, path)) else {
            Issue.record("matched \(path)"); return
        }
        #expect(response.status == .notFound)
    }

    @Test func staticFiles() throws {
        guard case .staticFile(let file) = try Self.router().route(Self.request(.get, "/static/js/app.js")) else {
            Issue.record("no file"); return
        }
        #expect(file == StaticFile(path: "/srv/www/js/app.js", contentType: "text/javascript; charset=utf-8"))
        guard case .staticFile(let index) = try Self.router().route(Self.request(.head, "/static/")) else {
            Issue.record("no index"); return
        }
        #expect(index.path == "/srv/www/index.html")
    }

    @Test(arguments: ["/static/../etc/passwd", "/static/a/%2e%2e/b", "/static/%2E%2E%2Fsecret", "/static/a%2Fb",
                      "/static/.env", "/static/a//b", "/static/a%00b", "/static/a%5Cb", "/static/%zz"])
    func pathTraversalIsRefused(_ path: String) throws {
        guard case .respond(let response) = try Self.router().route(Self.request(.get, path)) else {
            Issue.record("served \(path)"); return
        }
        #expect(response.status == .forbidden)
    }

    @Test func contentTypes() {
        #expect(StaticFileDirectory.contentType(forFileName: "a.HTML") == "text/html; charset=utf-8")
        #expect(StaticFileDirectory.contentType(forFileName: "x.wasm") == "application/wasm")
        #expect(StaticFileDirectory.contentType(forFileName: "noext") == "application/octet-stream")
    }

    @Test func invalidPatterns() {
        var router = HTTPRouter<String>()
        #expect(throws: HTTPRouterError.self) { try router.add(.get, "no-slash") { _, _ in .text("") } }
        #expect(throws: HTTPRouterError.self) { try router.add(.get, "/a/{}") { _, _ in .text("") } }
        #expect(throws: HTTPRouterError.self) { try router.add(.get, "/a/x{id}") { _, _ in .text("") } }
    }
}
