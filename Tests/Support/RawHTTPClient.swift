public import EddyLoop
public import EddyNet
public import Testing

/// A minimal HTTP/1.1 client over raw TCP, for sending exactly the bytes a test wants.
public struct RawHTTPClient: Sendable {
    public let connection: TCPConnection
    /// Bytes read after the last response taken (the start of what follows it).
    public internal(set) var buffer: [UInt8] = []

    public static func connect(port: Int, loop: EventLoop) async throws -> RawHTTPClient {
        RawHTTPClient(connection: try await TCPConnection.connect(host: "127.0.0.1", port: port, on: loop))
    }

    public func send(_ text: String) async throws { try await connection.write(Array(text.utf8)) }

    /// Reads one response: status code, head text, body. Nil if the server closed first.
    /// A response to HEAD (`toHead`) has no body, whatever its Content-Length says.
    public mutating func response(toHead: Bool = false) async throws -> (status: Int, head: String, body: String)? {
        while true {
            if let end = findHeadEnd() {
                let head = String(decoding: buffer[..<end], as: UTF8.self)
                let length = toHead ? 0 : Self.contentLength(head) ?? 0
                if buffer.count >= end + 4 + length {
                    let body = String(decoding: buffer[(end + 4)..<(end + 4 + length)], as: UTF8.self)
                    buffer.removeFirst(end + 4 + length)
                    let status = Int(head.split(separator: " ")[1]) ?? 0
                    return (status, head, body)
                }
            }
            guard let chunk = try await connection.read() else { return nil }
            buffer += chunk
        }
    }

    /// The Content-Length of a response head, if it has one.
    public static func contentLength(_ head: String) -> Int? {
        head.split(separator: "\r\n").first { $0.lowercased().hasPrefix("content-length:") }
            .flatMap { Int(String($0.split(separator: ":")[1].filter { $0 != " " })) }
    }

    /// Whether the server closed the connection (reads to end of stream).
    public mutating func serverClosed() async -> Bool {
        do {
            while let chunk = try await connection.read() { buffer += chunk }
            return true
        } catch {
            return true // reset counts as closed
        }
    }

    private func findHeadEnd() -> Int? {
        guard buffer.count >= 4 else { return nil }
        for i in 0...(buffer.count - 4) where buffer[i] == 13 && buffer[i + 1] == 10 && buffer[i + 2] == 13 && buffer[i + 3] == 10 {
            return i
        }
        return nil
    }
}

/// Sends `request` on a fresh connection to 127.0.0.1:`port` and expects an answer with
/// `status` (whose head contains `headerContains`, if given), then, when `closes`, that the
/// server closes the connection; finally that the server still answers `GET /healthz` with
/// 200 on another connection (a bad request affects only its own connection).
public func expectAnswer(_ status: Int, to request: String, port: Int, loop: EventLoop, closes: Bool = true,
                         headerContains: String? = nil, sourceLocation: SourceLocation = #_sourceLocation) async throws {
    var client = try await RawHTTPClient.connect(port: port, loop: loop)
    try await client.send(request)
    let response = try #require(try await client.response(), "no response to \(request.debugDescription)", sourceLocation: sourceLocation)
    #expect(response.status == status, "request \(request.prefix(80).debugDescription)", sourceLocation: sourceLocation)
    if let headerContains { #expect(response.head.contains(headerContains), "\(response.head)", sourceLocation: sourceLocation) }
    if closes { #expect(await client.serverClosed(), sourceLocation: sourceLocation) }
    await client.connection.close()
    var probe = try await RawHTTPClient.connect(port: port, loop: loop)
    try await probe.send("GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
    #expect(try await probe.response()?.status == 200, "the server stopped serving", sourceLocation: sourceLocation)
    await probe.connection.close()
}

/// `GET path` with `Connection: close` on 127.0.0.1:`port`, read to the end (bounded: 10 s):
/// the whole response as text.
public func httpGet(_ path: String, port: Int, loop: EventLoop) async throws -> String {
    try await loop.withTimeout(.seconds(10)) {
        let connection = try await TCPConnection.connect(host: "127.0.0.1", port: port, on: loop)
        try await connection.write(Array("GET \(path) HTTP/1.1\r\nHost: 127.0.0.1:\(port)\r\nConnection: close\r\n\r\n".utf8))
        var bytes: [UInt8] = []
        while let chunk = try await connection.read() { bytes += chunk }
        await connection.close()
        return String(decoding: bytes, as: UTF8.self)
    }
}
