public import EddyLoop
import EddyNet
import EddyTLS

extension RedisConnection {
    /// Connects to `configuration.endpoint` over TCP (TLS for `rediss://`) and logs in:
    /// `HELLO 3` with `AUTH` when a password is set, falling back to RESP2 (`AUTH`) on a
    /// server without `HELLO`, then `SELECT` when the database is not 0.
    ///
    /// - Throws: `RedisError.unavailable`, naming the endpoint, when the connection cannot be
    ///   made in time, or when what answers does not log in as a Redis server would (no
    ///   answer to `HELLO` within `connectTimeout`, the connection closed, bytes that are not
    ///   RESP); `RedisError.authentication` (the login refused); `RedisError.server` (a
    ///   `SELECT` refused).
    public static func connect(_ configuration: RedisConfiguration, on loop: EventLoop,
                               pushHandler: (@Sendable (RESPValue) -> Void)? = nil) async throws -> RedisConnection {
        let endpoint = configuration.endpoint
        let stream: any ByteStream
        do {
            if endpoint.usesTLS {
                let context = try configuration.tls ?? TLSContext(TLSConfiguration.client())
                stream = try await TLSStream.connect(host: endpoint.host, port: endpoint.port, context: context, on: loop,
                                                     connectTimeout: configuration.connectTimeout)
            } else {
                stream = try await TCPConnection.connect(host: endpoint.host, port: endpoint.port, on: loop,
                                                         timeout: configuration.connectTimeout)
            }
        } catch {
            throw RedisError.unavailable(endpoint: endpoint.description, reason: "\(error)", retryIn: nil)
        }
        let connection = RedisConnection(stream: stream, configuration: configuration, pushHandler: pushHandler)
        await connection.startReading()
        do {
            try await connection.logIn(endpoint, timeout: configuration.connectTimeout)
        } catch {
            await connection.close()
            switch error {
            case RedisError.authentication, RedisError.server:
                throw error // the server's own answer
            default:
                // Something listens there, but no Redis that answers: say where.
                throw RedisError.unavailable(endpoint: endpoint.description, reason: "\(error)", retryIn: nil)
            }
        }
        return connection
    }

    func logIn(_ endpoint: RedisEndpoint, timeout: Duration) async throws {
        var hello = RedisCommand("HELLO", "3")
        if let password = endpoint.password {
            hello.parts += [Array("AUTH".utf8), Array((endpoint.username ?? "default").utf8), Array(password.utf8)]
        }
        do {
            _ = try await send(hello, timeout: timeout)
            protocolVersion = 3
        } catch RedisError.server(let message) where message.hasPrefix("NOPROTO") || message.hasPrefix("ERR unknown command") {
            // A server before Redis 6: RESP2, and AUTH on its own.
            if let password = endpoint.password {
                let auth = endpoint.username.map { RedisCommand("AUTH", $0, password) } ?? RedisCommand("AUTH", password)
                do { _ = try await send(auth, timeout: timeout) } catch RedisError.server(let message) {
                    throw RedisError.authentication(message)
                }
            }
        } catch RedisError.server(let message) where message.hasPrefix("WRONGPASS") || message.hasPrefix("NOAUTH")
                    || message.hasPrefix("ERR AUTH") || message.hasPrefix("ERR invalid password") {
            throw RedisError.authentication(endpoint.password == nil ? "the server requires a password (\(message))" : message)
        }
        if endpoint.database != 0 {
            _ = try await send(RedisCommand("SELECT", String(endpoint.database)), timeout: timeout)
        }
    }
}
