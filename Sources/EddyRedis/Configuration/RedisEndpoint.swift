/// Where a Redis server is and how to log in: parsed from `redis://[[USER][:PASSWORD]@]HOST[:PORT][/DB]`
/// (`rediss://` for TLS).
///
/// Guarantees: `description` (what logs and errors show) never contains the password; a
/// URL that does not parse throws a `RedisError.invalidURL` that does not quote it either.
public struct RedisEndpoint: Sendable, Hashable, CustomStringConvertible {
    public var host: String
    public var port: Int
    /// The logical database (`SELECT`), 0 by default.
    public var database: Int
    public var username: String?
    public var password: String?
    /// `rediss://`: TLS to the server.
    public var usesTLS: Bool

    public init(host: String = "127.0.0.1", port: Int = 6379, database: Int = 0, username: String? = nil,
                password: String? = nil, usesTLS: Bool = false) {
        self.host = host
        self.port = port
        self.database = database
        self.username = username
        self.password = password
        self.usesTLS = usesTLS
    }

    /// Parses a `redis://` or `rediss://` URL.
    public init(url: String) throws(RedisError) {
        let scheme: Substring
        var rest: Substring
        if url.hasPrefix("redis://") {
            (scheme, rest) = ("redis", url.dropFirst("redis://".count))
        } else if url.hasPrefix("rediss://") {
            (scheme, rest) = ("rediss", url.dropFirst("rediss://".count))
        } else {
            throw .invalidURL("expected redis://HOST:PORT[/DB] or rediss://…")
        }
        var username: String?, password: String?
        if let at = rest.lastIndex(of: "@") {
            let credentials = rest[..<at]
            rest = rest[rest.index(after: at)...]
            if let colon = credentials.firstIndex(of: ":") {
                username = credentials[..<colon].isEmpty ? nil : String(credentials[..<colon])
                password = String(credentials[credentials.index(after: colon)...])
            } else if !credentials.isEmpty {
                username = String(credentials)
            }
        }
        var database = 0
        if let slash = rest.firstIndex(of: "/") {
            let path = rest[rest.index(after: slash)...]
            rest = rest[..<slash]
            if !path.isEmpty {
                guard let number = Int(path), number >= 0 else { throw .invalidURL("database '\(path)' is not a number") }
                database = number
            }
        }
        var host = rest, port = 6379
        if rest.hasPrefix("["), let close = rest.firstIndex(of: "]") { // [::1]:6379
            host = rest[rest.index(after: rest.startIndex)..<close]
            let after = rest[rest.index(after: close)...]
            if after.hasPrefix(":") {
                guard let number = Int(after.dropFirst()), (1...65535).contains(number) else { throw .invalidURL("bad port") }
                port = number
            }
        } else if let colon = rest.lastIndex(of: ":") {
            guard let number = Int(rest[rest.index(after: colon)...]), (1...65535).contains(number) else {
                throw .invalidURL("port '\(rest[rest.index(after: colon)...])' is not a port number")
            }
            (host, port) = (rest[..<colon], number)
        }
        guard !host.isEmpty else { throw .invalidURL("no host") }
        self.init(host: String(host), port: port, database: database, username: username, password: password,
                  usesTLS: scheme == "rediss")
    }

    /// The URL without its password (`redis://user:***@host:port/db`).
    public var description: String {
        let credentials = switch (username, password) {
        case (nil, nil): ""
        case (let user?, nil): "\(user)@"
        case (let user, _?): "\(user ?? ""):***@"
        }
        let hostPart = host.contains(":") ? "[\(host)]" : host
        return "\(usesTLS ? "rediss" : "redis")://\(credentials)\(hostPart):\(port)/\(database)"
    }
}
