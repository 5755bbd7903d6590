/// A small, pure HTTP router: given a request it says what to do, it never performs
/// I/O itself.
///
/// Routes are tried in the order they were added. A route whose path matches but whose
/// method does not is remembered, so an unmatched request gets 405 with `Allow`
/// (RFC 9110 §15.5.6) instead of 404. Upgrade routes (WebSocket) accept GET only
/// (RFC 6455 §4.1), so any other method on such a path is 405.
///
/// `Upgrade` is whatever the upgrade layer needs to accept a connection (Eddy's
/// WebSocket layer uses its endpoint configuration); the router only carries it.
///
/// - Important: the router is a value; build it before serving and share it
///   read-only (it is `Sendable`).
public struct HTTPRouter<Upgrade: Sendable>: Sendable {
    /// An async request handler. Handlers run on the connection's loop; a slow handler
    /// delays only its own connection.
    public typealias Handler = @Sendable (HTTPRequest, HTTPRouteParameters) async -> HTTPResponse

    enum Destination: Sendable {
        case handler(Handler)
        case staticFiles(StaticFileDirectory)
        case upgrade(Upgrade)
        case fixed(HTTPResponse)
    }

    struct Route: Sendable {
        var methods: Set<HTTPMethod>
        var pattern: HTTPRoutePattern?
        var prefix: String?
        var destination: Destination
    }

    private var routes: [Route] = []

    public init() {}

    /// Adds a handler route. Throws when the pattern is invalid. A GET route answers HEAD
    /// too (RFC 9110 §9.3.2): the handler runs, and the server sends the head alone.
    public mutating func add(_ method: HTTPMethod, _ pattern: String, handler: @escaping Handler) throws(HTTPRouterError) {
        guard let parsed = HTTPRoutePattern(pattern) else { throw HTTPRouterError(invalidPattern: pattern) }
        let methods: Set<HTTPMethod> = method == .get ? [.get, .head] : [method]
        routes.append(Route(methods: methods, pattern: parsed, prefix: nil, destination: .handler(handler)))
    }

    /// Adds an upgrade route (GET only).
    public mutating func addUpgrade(_ pattern: String, _ upgrade: Upgrade) throws(HTTPRouterError) {
        guard let parsed = HTTPRoutePattern(pattern) else { throw HTTPRouterError(invalidPattern: pattern) }
        routes.append(Route(methods: [.get], pattern: parsed, prefix: nil, destination: .upgrade(upgrade)))
    }

    /// Serves files below `directory` for paths starting with `prefix` (which must
    /// start and end with `/`), for GET and HEAD.
    public mutating func addStaticFiles(prefix: String, directory: String) throws(HTTPRouterError) {
        guard prefix.hasPrefix("/"), prefix.hasSuffix("/") else { throw HTTPRouterError(invalidPattern: prefix) }
        routes.append(Route(methods: [.get, .head], pattern: nil, prefix: prefix,
                            destination: .staticFiles(StaticFileDirectory(root: directory))))
    }

    /// `GET /healthz` (or another path) answered `200 ok` without running any handler.
    public mutating func addHealthCheck(path: String = "/healthz") throws(HTTPRouterError) {
        guard let parsed = HTTPRoutePattern(path) else { throw HTTPRouterError(invalidPattern: path) }
        routes.append(Route(methods: [.get, .head], pattern: parsed, prefix: nil, destination: .fixed(.text("ok\n"))))
    }

    /// Decides what to do with `request`.
    public func route(_ request: HTTPRequest) -> HTTPRouteMatch<Upgrade> {
        let path = request.path
        var allowed: Set<HTTPMethod> = []
        for route in routes {
            if let pattern = route.pattern {
                guard let parameters = pattern.match(path: path) else { continue }
                guard route.methods.contains(request.method) else { allowed.formUnion(route.methods); continue }
                switch route.destination {
                case .handler(let handler): return .handler(handler, parameters)
                case .upgrade(let upgrade): return .upgrade(upgrade, parameters)
                case .fixed(let response): return .respond(response)
                case .staticFiles: continue
                }
            } else if let prefix = route.prefix, path.hasPrefix(prefix), case .staticFiles(let directory) = route.destination {
                guard route.methods.contains(request.method) else { allowed.formUnion(route.methods); continue }
                switch directory.resolve(relativePath: String(path.dropFirst(prefix.count))) {
                case .some(let file): return .staticFile(file)
                case .none: return .respond(.error(.forbidden, close: false))
                }
            }
        }
        if !allowed.isEmpty {
            var response = HTTPResponse.error(.methodNotAllowed, close: false)
            response.headers.add(name: "Allow", value: allowed.map(\.rawValue).sorted().joined(separator: ", "))
            return .respond(response)
        }
        return .respond(.error(.notFound, close: false))
    }
}

/// What the router decided for a request.
///
/// Guarantees: exactly one of: run a handler, serve a file (already checked against
/// path traversal), hand the connection to an upgrade layer, or send a fixed response
/// (404, 405 with Allow, 403 for a refused file path, health check).
public enum HTTPRouteMatch<Upgrade: Sendable>: Sendable {
    case handler(HTTPRouter<Upgrade>.Handler, HTTPRouteParameters)
    case staticFile(StaticFile)
    case upgrade(Upgrade, HTTPRouteParameters)
    case respond(HTTPResponse)
}

/// A router configuration mistake (an invalid pattern), thrown while building routes.
public struct HTTPRouterError: Error, Sendable, Equatable, CustomStringConvertible {
    public let pattern: String
    init(invalidPattern: String) { self.pattern = invalidPattern }
    public var description: String { "invalid route pattern: \(pattern)" }
}
