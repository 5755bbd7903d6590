import EddyWebSocketCore

/// `WebSocketProtocol` receiving untrusted bytes, as a server or a client, with or without
/// permessage-deflate, under small limits so that the fuzzer reaches them. Invariants: no
/// message exceeds `maxMessageSize` (decompressed, against inflation bombs); `.closed` comes
/// exactly once when the connection failed or closed, and last; the same bytes in small
/// chunks give the same events as in one read (see `agree`).
enum WebSocketFuzzing {
    static let configuration = WebSocketConfiguration(maxFrameSize: 4096, maxMessageSize: 8192, maxFragments: 16)

    static func run(_ bytes: [UInt8]) -> [String] {
        var input = FuzzInput(bytes)
        let control = input.byte()
        let role: WebSocketRole = control & 1 == 0 ? .server : .client
        let deflate = control & 2 == 0 ? nil : PerMessageDeflateParameters(
            serverNoContextTakeover: control & 4 != 0, clientNoContextTakeover: control & 8 != 0)
        let chunkSize = Int(input.byte() % 32) + 1
        let data = input.rest
        var violations: [String] = []
        let whole = events(role: role, deflate: deflate, pieces: [data], violations: &violations)
        let chunked = events(role: role, deflate: deflate, pieces: chunks(of: data, size: chunkSize), violations: &violations)
        if !agree(whole, chunked) {
            violations.append("\(role) (deflate: \(deflate != nil)) in chunks of \(chunkSize) bytes: \(chunked) vs \(whole) in one read")
        }
        return violations
    }

    /// Whether two feeds of the same bytes were heard alike: the same messages, then a close
    /// with the same code. Two exceptions, both about which of two faults is found first:
    /// - a close reason may differ (a compressed text message both undecompressable and
    ///   not UTF-8 is 1007 either way, but which check fails first depends on how much of
    ///   the message was inflated when the read ended);
    /// - one side may say 1006 (the stream ended in the middle of a frame) where the other
    ///   found a fault in that frame's first bytes.
    static func agree(_ left: [WebSocketEvent], _ right: [WebSocketEvent]) -> Bool {
        if left == right { return true }
        guard left.count == right.count, left.dropLast() == right.dropLast(),
              case .closed(let one)? = left.last, case .closed(let other)? = right.last else { return false }
        return one.code == other.code || one.code == .abnormalClosure || other.code == .abnormalClosure
    }

    /// Everything the application hears from `pieces`, then the end of the stream.
    static func events(role: WebSocketRole, deflate: PerMessageDeflateParameters?, pieces: [[UInt8]],
                       violations: inout [String]) -> [WebSocketEvent] {
        var connection = WebSocketProtocol(role: role, configuration: configuration, deflate: deflate)
        var heard: [WebSocketEvent] = []
        for piece in pieces {
            connection.receiveData(piece)
            heard += connection.takeEvents()
            // As the driver does: the message before a deferred error is delivered first.
            connection.failDeferred()
            heard += connection.takeEvents()
            _ = connection.takeActions()
        }
        connection.receiveEOF()
        heard += connection.takeEvents()
        for event in heard {
            switch event {
            case .text(let text) where text.utf8.count > configuration.maxMessageSize:
                violations.append("a text message of \(text.utf8.count) bytes")
            case .binary(let payload) where payload.count > configuration.maxMessageSize:
                violations.append("a binary message of \(payload.count) bytes")
            case .ping(let payload) where payload.count > 125, .pong(let payload) where payload.count > 125:
                violations.append("a control payload of \(payload.count) bytes")
            default:
                break
            }
        }
        let closes = heard.indices.filter { if case .closed = heard[$0] { true } else { false } }
        if closes != [heard.count - 1] {
            violations.append("closed events at \(closes) of \(heard.count) (once, last, after the end of the stream)")
        }
        return heard
    }
}
