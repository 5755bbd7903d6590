import EddyLoop
import EddyRedis
import EddyTLS
import EddyTestSupport
import Glibc
import Testing

/// The Redis client against a real `redis-server` (Tests/Support/RedisServer.swift).
@Suite("Redis client", .timeLimit(.minutes(2)))
struct RedisClientTests {
    static func configuration(_ server: RedisServer, _ change: (inout RedisConfiguration) -> Void = { _ in }) throws -> RedisConfiguration {
        // Deadlines far above what a loaded 2-core CI machine needs (they failed at 5 s there);
        // the tests about deadlines set their own.
        var configuration = RedisConfiguration(endpoint: try RedisEndpoint(url: server.url),
                                               connectTimeout: .seconds(30), commandTimeout: .seconds(30),
                                               backoff: RedisBackoff(initial: .milliseconds(20), maximum: .milliseconds(200)))
        change(&configuration)
        return configuration
    }

    @Test func pipelinesAThousandCommandsAndMatchesRepliesInOrder() async throws {
        let server = try await RedisServer.start()
        defer { server.shutDown() }
        let loop = try EventLoop()
        let connection = try await RedisConnection.connect(try Self.configuration(server), on: loop)
        #expect(await connection.protocolVersion == 3)
        let sets = (0..<1000).map { RedisCommand("SET", "key:\($0)", "value \($0)") }
        let setReplies = try await connection.pipeline(sets)
        #expect(setReplies.allSatisfy { $0 == .simpleString("OK") })
        let gets = (0..<1000).map { RedisCommand("GET", "key:\($0)") } + [RedisCommand("INCR", "key:0")]
        let replies = try await connection.pipeline(gets)
        let inOrder = (0..<1000).allSatisfy { replies[$0] == .bulkString(Array("value \($0)".utf8)) }
        #expect(inOrder)
        // An error reply in a pipeline is that command's reply, not the pipeline's failure.
        #expect(replies[1000] == .error("ERR value is not an integer or out of range"))
        // Concurrent senders on the loop: each gets its own reply.
        let counted = try await Task(executorPreference: loop) {
            try await withThrowingTaskGroup(of: Bool.self) { group in
                for index in 0..<1000 {
                    group.addTask { try await connection.send(RedisCommand("GET", "key:\(index)")) == .bulkString(Array("value \(index)".utf8)) }
                }
                var matched = 0
                for try await ok in group where ok { matched += 1 }
                return matched
            }
        }.value
        #expect(counted == 1000)
        await connection.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func anErrorReplyThrowsAndTheConnectionGoesOn() async throws {
        let server = try await RedisServer.start()
        defer { server.shutDown() }
        let loop = try EventLoop()
        let client = RedisClient(configuration: try Self.configuration(server), on: loop)
        _ = try await client.send(RedisCommand("SET", "s", "text"))
        await #expect { try await client.send(RedisCommand("INCR", "s")) } throws: { error in
            guard case RedisError.server(let message) = error else { return false }
            return message.hasPrefix("ERR")
        }
        #expect(try await client.send(RedisCommand("PING")) == .simpleString("PONG"))
        await client.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func selectsTheDatabaseOfTheURL() async throws {
        let server = try await RedisServer.start()
        defer { server.shutDown() }
        let loop = try EventLoop()
        let three = RedisClient(configuration: RedisConfiguration(endpoint: try RedisEndpoint(url: server.url + "/3"), connectTimeout: .seconds(30), commandTimeout: .seconds(30)), on: loop)
        let zero = RedisClient(configuration: try Self.configuration(server), on: loop)
        _ = try await three.send(RedisCommand("SET", "where", "three"))
        #expect(try await three.send(RedisCommand("GET", "where")) == .bulkString(Array("three".utf8)))
        #expect(try await zero.send(RedisCommand("GET", "where")) == .null)
        await three.close()
        await zero.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func logsInWithAPasswordAndNeverShowsIt() async throws {
        let server = try await RedisServer.start(["--requirepass", "s3cret-pw"])
        defer { server.shutDown() }
        let loop = try EventLoop()
        var endpoint = try RedisEndpoint(url: server.url)
        await #expect { _ = try await RedisConnection.connect(RedisConfiguration(endpoint: endpoint, connectTimeout: .seconds(30), commandTimeout: .seconds(30)), on: loop) } throws: { error in
            guard case RedisError.authentication(let message) = error else { return false }
            return message.contains("requires a password")
        }
        endpoint.password = "wrong-pw"
        await #expect { _ = try await RedisConnection.connect(RedisConfiguration(endpoint: endpoint, connectTimeout: .seconds(30), commandTimeout: .seconds(30)), on: loop) } throws: { error in
            guard case RedisError.authentication = error else { return false }
            return !"\(error)".contains("wrong-pw")
        }
        endpoint.password = "s3cret-pw"
        #expect(!endpoint.description.contains("s3cret"))
        let connection = try await RedisConnection.connect(RedisConfiguration(endpoint: endpoint, connectTimeout: .seconds(30), commandTimeout: .seconds(30)), on: loop)
        #expect(try await connection.send(RedisCommand("PING")) == .simpleString("PONG"))
        #expect(!connection.endpointDescription.contains("s3cret"))
        await connection.close()
        let fromURL = try RedisEndpoint(url: "redis://:s3cret-pw@127.0.0.1:\(server.port)/2")
        #expect(fromURL.password == "s3cret-pw" && fromURL.database == 2 && "\(fromURL)" == "redis://:***@127.0.0.1:\(server.port)/2")
        #expect(await loop.shutdown().isClean)
    }

    @Test func aReplyOverTheBulkLimitClosesTheConnectionWithAPreciseError() async throws {
        let server = try await RedisServer.start()
        defer { server.shutDown() }
        let loop = try EventLoop()
        let connection = try await RedisConnection.connect(try Self.configuration(server) { $0.limits.maxBulkLength = 1000 }, on: loop)
        _ = try await connection.send(RedisCommand("SET", "big", String(repeating: "x", count: 1001)))
        _ = try await connection.send(RedisCommand("SET", "small", String(repeating: "x", count: 1000)))
        #expect(try await connection.send(RedisCommand("GET", "small")).bytes?.count == 1000)
        await #expect { _ = try await connection.send(RedisCommand("GET", "big")) } throws: { error in
            guard case RedisError.protocolViolation(.bulkTooLong(length: 1001, limit: 1000)) = error else { return false }
            return true
        }
        #expect(connection.isClosed)
        #expect(await loop.shutdown().isClean)
    }

    @Test func aCommandPastItsDeadlineFailsAndABlockingReadWaitsOnItsOwnConnection() async throws {
        let server = try await RedisServer.start()
        defer { server.shutDown() }
        let loop = try EventLoop()
        let configuration = try Self.configuration(server)
        let blocked = try await RedisConnection.connect(configuration, on: loop)
        await #expect { _ = try await blocked.send(RedisCommand("BLPOP", "nothing", "0"), timeout: .milliseconds(200)) } throws: { error in
            guard case RedisError.timedOut(command: "BLPOP", _) = error else { return false }
            return true
        }
        #expect(blocked.isClosed)
        // XREAD BLOCK 0 without a deadline, on a connection of its own, while another writes.
        let reader = try await RedisConnection.connect(configuration, on: loop)
        let writer = try await RedisConnection.connect(configuration, on: loop)
        let read = Task { try await reader.send(RedisCommand("XREAD", "BLOCK", "0", "STREAMS", "events", "$"), timeout: nil) }
        var reply = RESPValue.null
        for attempt in 0..<100 { // until the XREAD is parked (bounded: 100 × 20 ms)
            _ = try await writer.send(RedisCommand("XADD", "events", "*", "n", String(attempt)))
            try await loop.sleep(for: .milliseconds(20))
            if attempt > 0, let clients = try await writer.send(RedisCommand("CLIENT", "LIST")).string, clients.contains("cmd=xread") { break }
        }
        _ = try await writer.send(RedisCommand("XADD", "events", "*", "n", "last"))
        reply = try await read.value
        // RESP3: a map from stream name to entries (RESP2 would be an array of pairs).
        guard case .map(let streams) = reply else { Issue.record("XREAD replied \(reply)"); return }
        #expect(streams.first?.key.string == "events" && streams.first?.value.elements?.isEmpty == false)
        await reader.close()
        await writer.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func publishedMessagesArriveInOrderAsAnAsyncSequence() async throws {
        let server = try await RedisServer.start()
        defer { server.shutDown() }
        let loop = try EventLoop()
        let configuration = try Self.configuration(server)
        let subscriber = RedisSubscriber(configuration: configuration, on: loop, channels: ["news"], patterns: ["room:*"])
        subscriber.start()
        var events = subscriber.events.makeAsyncIterator()
        try await Self.waitForReady(&events)
        let client = RedisClient(configuration: configuration, on: loop)
        var publishes = (0..<500).map { RedisCommand("PUBLISH", "room:\($0 % 3)", "m\($0)") }
        publishes.append(RedisCommand("PUBLISH", "news", "done"))
        let receivers = try await client.pipeline(publishes)
        #expect(receivers.allSatisfy { $0 == .integer(1) })
        var received: [String] = []
        while let event = await events.next() {
            guard case .message(let channel, let pattern, let payload) = event else { continue }
            if channel == "news" { break }
            #expect(pattern == "room:*")
            received.append(String(decoding: payload, as: UTF8.self))
        }
        let inOrder = received == (0..<500).map { "m\($0)" }
        #expect(inOrder)
        await subscriber.stop()
        await client.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func reconnectsAndResubscribesAfterRedisRestarts() async throws {
        let server = try await RedisServer.start()
        defer { server.shutDown() }
        let loop = try EventLoop()
        let configuration = try Self.configuration(server)
        let subscriber = RedisSubscriber(configuration: configuration, on: loop, channels: ["c"])
        subscriber.start()
        var events = subscriber.events.makeAsyncIterator()
        try await Self.waitForReady(&events)
        let client = RedisClient(configuration: configuration, on: loop)
        #expect(try await client.send(RedisCommand("PUBLISH", "c", "before")) == .integer(1))
        #expect(await Self.nextMessage(&events) == "before")

        try await server.restart()
        try await Self.waitForReady(&events) // it saw the loss, reconnected and subscribed again
        // The client's connection died with the server: commands fail, then it reconnects.
        var delivered = false
        for _ in 0..<200 where !delivered { // bounded: 200 × 20 ms plus backoff
            if let reply = try? await client.send(RedisCommand("PUBLISH", "c", "after")) {
                delivered = reply == .integer(1)
            } else {
                try await loop.sleep(for: .milliseconds(20))
            }
        }
        #expect(delivered)
        #expect(await Self.nextMessage(&events) == "after")
        await subscriber.stop()
        await client.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func aCongestedConnectionRefusesFireAndForgetCommandsUntilItDrains() async throws {
        let server = try await RedisServer.start()
        defer { server.shutDown() }
        let pid = try #require(server.processIdentifier)
        let loop = try EventLoop()
        // A deadline far longer than the pause, however slow a loaded machine makes the loop below.
        let connection = try await RedisConnection.connect(try Self.configuration(server) { $0.commandTimeout = .seconds(90) }, on: loop)
        // A server that reads nothing (paused): the socket buffers fill, then the stream's queue.
        kill(pid, SIGSTOP)
        let payload = String(repeating: "x", count: 65_536)
        var (sent, refused) = (0, false)
        for _ in 0..<4000 where !refused { // bounded: at most 256 MiB offered
            if await connection.sendWithoutWaiting(RedisCommand("PUBLISH", "c", payload)) { sent += 1 } else { refused = true }
        }
        kill(pid, SIGCONT)
        #expect(refused && sent > 0, "sent \(sent)")
        // Once the server reads again, the queue drains and replies still match.
        #expect(try await connection.send(RedisCommand("ECHO", "after")) == .bulkString(Array("after".utf8)))
        var accepted = false
        for _ in 0..<250 where !accepted { // bounded: 250 × 20 ms
            accepted = await connection.sendWithoutWaiting(RedisCommand("PING"))
            if !accepted { try await loop.sleep(for: .milliseconds(20)) }
        }
        #expect(accepted)
        await connection.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func aSubscriberNoticesAFrozenServerAndRecoversWhenItThaws() async throws {
        let server = try await RedisServer.start()
        defer { server.shutDown() }
        let pid = try #require(server.processIdentifier)
        let loop = try EventLoop()
        let configuration = try Self.configuration(server) {
            $0.healthCheckInterval = .milliseconds(100)
            $0.commandTimeout = .seconds(1)
        }
        let subscriber = RedisSubscriber(configuration: configuration, on: loop, channels: ["c"])
        subscriber.start()
        var events = subscriber.events.makeAsyncIterator()
        try await Self.waitForReady(&events)
        // Frozen: the TCP connection stays open, only the unanswered PING tells.
        kill(pid, SIGSTOP)
        var noticed = false
        for _ in 0..<1000 where !noticed {
            guard let event = await events.next() else { break }
            if case .state(.disconnected(let reason)) = event { noticed = reason.contains("PING") }
        }
        kill(pid, SIGCONT)
        #expect(noticed)
        try await Self.waitForReady(&events)
        // Pub/sub is at most once, and on a loaded machine the new connection may be replaced
        // again: publish until one arrives (bounded: 400 × 50 ms, then the stream is ended).
        let client = RedisClient(configuration: configuration, on: loop)
        let publisher = Task {
            for index in 0..<400 where !Task.isCancelled {
                _ = try? await client.send(RedisCommand("PUBLISH", "c", "thawed-\(index)"))
                try? await loop.sleep(for: .milliseconds(50))
            }
            await subscriber.stop()
        }
        #expect(await Self.nextMessage(&events)?.hasPrefix("thawed-") == true)
        publisher.cancel()
        await publisher.value
        await subscriber.stop()
        await client.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func fallsBackToRESP2OnAServerWithoutHELLO() async throws {
        // A server before Redis 6 has no HELLO: this one has it renamed away.
        let server = try await RedisServer.start(["--rename-command", "HELLO", "", "--requirepass", "pw2"])
        defer { server.shutDown() }
        let loop = try EventLoop()
        let configuration = try Self.configuration(server) { $0.endpoint.password = "pw2"; $0.endpoint.database = 1 }
        let connection = try await RedisConnection.connect(configuration, on: loop)
        #expect(await connection.protocolVersion == 2)
        let replies = try await connection.pipeline([RedisCommand("SET", "k", "v"), RedisCommand("GET", "k"),
                                                     RedisCommand("GET", "missing"), RedisCommand("CLIENT", "INFO")])
        #expect(Array(replies.prefix(3)) == [.simpleString("OK"), .bulkString([118]), .null])
        #expect(replies[3].string?.contains("db=1") == true)
        await connection.close()
        // Pub/sub over RESP2: arrays, not pushes.
        let subscriber = RedisSubscriber(configuration: configuration, on: loop, channels: ["c"], patterns: ["p:*"])
        subscriber.start()
        var events = subscriber.events.makeAsyncIterator()
        try await Self.waitForReady(&events)
        let client = RedisClient(configuration: configuration, on: loop)
        _ = try await client.pipeline([RedisCommand("PUBLISH", "c", "one"), RedisCommand("PUBLISH", "p:x", "two")])
        #expect(await Self.nextMessage(&events) == "one")
        #expect(await Self.nextMessage(&events) == "two")
        await subscriber.stop()
        await client.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func connectsOverTLSWithRediss() async throws {
        let certificates = try await TestCertificates.shared.value
        let tlsPort = try freeLoopbackPort()
        let server = try await RedisServer.start(["--tls-port", String(tlsPort), "--tls-cert-file", certificates.server.certificate,
                                                  "--tls-key-file", certificates.server.key, "--tls-ca-cert-file", certificates.ca,
                                                  "--tls-auth-clients", "no", "--requirepass", "tls-pw"])
        defer { server.shutDown() }
        let loop = try EventLoop()
        var endpoint = try RedisEndpoint(url: "rediss://localhost:\(tlsPort)/2")
        endpoint.password = "tls-pw"
        #expect(endpoint.usesTLS && "\(endpoint)" == "rediss://:***@localhost:\(tlsPort)/2")
        let trusting = try TLSContext(.client(trustRoots: .certificates(.file(certificates.ca))))
        let client = RedisClient(configuration: RedisConfiguration(endpoint: endpoint, connectTimeout: .seconds(30), commandTimeout: .seconds(30), tls: trusting), on: loop)
        let replies = try await client.pipeline((0..<100).map { RedisCommand("ECHO", "tls \($0)") })
        let echoed = replies == (0..<100).map { RESPValue.bulkString(Array("tls \($0)".utf8)) }
        #expect(echoed)
        await client.close()
        // A server certificate the client does not trust: refused, saying why.
        let untrusting = try TLSContext(.client(trustRoots: .certificates(.file(certificates.otherCA))))
        await #expect { _ = try await RedisConnection.connect(RedisConfiguration(endpoint: endpoint, tls: untrusting), on: loop) } throws: { error in
            guard case RedisError.unavailable(_, let reason, _) = error else { return false }
            return reason.lowercased().contains("certificate") && !"\(error)".contains("tls-pw")
        }
        #expect(await loop.shutdown().isClean)
    }

    @Test func anUnreachableServerFailsFastWithItsEndpointAndTheRetryTime() async throws {
        let loop = try EventLoop()
        // Held until the end: a port merely free a moment ago may be taken meanwhile by
        // another test's listener, which answers the connection but not HELLO.
        let refusing = try RefusingLoopbackPort()
        let port = refusing.port
        let client = RedisClient(configuration: RedisConfiguration(endpoint: RedisEndpoint(port: port, password: "pw-not-shown"),
                                                                   backoff: RedisBackoff(initial: .seconds(30))), on: loop)
        await #expect { _ = try await client.send(RedisCommand("PING")) } throws: { error in
            "\(error)".contains("127.0.0.1:\(port)") && !"\(error)".contains("pw-not-shown")
        }
        // Backing off: the next command fails at once, saying when the next attempt is, and
        // naming the endpoint once.
        await #expect { _ = try await client.send(RedisCommand("PING")) } throws: { error in
            guard case RedisError.unavailable(_, _, let retryIn?) = error else { return false }
            let text = "\(error)"
            return retryIn > .seconds(1) && text.components(separatedBy: "redis://:***@127.0.0.1:\(port)/0").count == 2
                && text.contains("; retrying in ") && text.hasSuffix(" s") && !text.contains("seconds")
        }
        withExtendedLifetime(refusing) {}
        await client.close()
        #expect(await loop.shutdown().isClean)
    }

    @Test func aPeerThatDoesNotAnswerTheLoginIsUnavailableWithItsEndpoint() async throws {
        let loop = try EventLoop()
        let silent = try SilentLoopbackListener()
        let endpoint = RedisEndpoint(port: silent.port, password: "pw-not-shown")
        await #expect {
            _ = try await RedisConnection.connect(RedisConfiguration(endpoint: endpoint, connectTimeout: .milliseconds(300)), on: loop)
        } throws: { error in
            guard case RedisError.unavailable(let named, let reason, nil) = error else { return false }
            return named == "redis://:***@127.0.0.1:\(silent.port)/0" && reason.contains("HELLO")
                && "\(error)".contains("127.0.0.1:\(silent.port)") && !"\(error)".contains("pw-not-shown")
        }
        withExtendedLifetime(silent) {}
        #expect(await loop.shutdown().isClean)
    }

    static func waitForReady(_ events: inout AsyncStream<RedisSubscriber.Event>.Iterator) async throws {
        for _ in 0..<1000 {
            guard let event = await events.next() else { break }
            if case .ready = event { return }
        }
        throw ChildProcessError("the subscriber ended before it was ready")
    }

    static func nextMessage(_ events: inout AsyncStream<RedisSubscriber.Event>.Iterator) async -> String? {
        for _ in 0..<1000 {
            guard let event = await events.next() else { return nil }
            if case .message(_, _, let payload) = event { return String(decoding: payload, as: UTF8.self) }
        }
        return nil
    }
}
