/// The hot-path metrics, one per-thread tally slot each (see `LoopTally`): what happens per
/// connection and per message on the event loops. Each maps to one swift-metrics series
/// (`metric`); metrics of rarer events (runs, commands, the event log) are recorded through
/// swift-metrics directly by the layers that see them.
///
/// Guarantees: every case has a distinct slot below `LoopTally.slotCount`, and the series
/// names follow Prometheus's conventions (`eddy_` prefix, `_total` on counters, units in names).
public enum TallyCounter: Int, CaseIterable, Sendable {
    case connectionsAccepted
    /// Accepted connections that closed.
    case connectionsClosed
    /// Signed: accepted connections open now (+1 on accept, -1 on close).
    case connectionsOpen
    case connectionsRefusedCapacity
    case connectionsRefusedAddress
    case handshakesRefused400, handshakesRefused401, handshakesRefused403, handshakesRefused404
    case handshakesRefused426, handshakesRefused429, handshakesRefused500, handshakesRefused503
    case handshakesRefusedOther
    case messagesReceived, messagesSent
    /// WebSocket bytes on the wire (frames, after deflate, before TLS).
    case bytesReceived, bytesSent
    /// Payload bytes handed to deflate, and what came out (the compression ratio is out / in).
    case deflateInputBytes, deflateOutputBytes
    case closes1000, closes1001, closes1002, closes1003, closes1006, closes1007
    case closes1008, closes1009, closes1011, closes1013, closesOther
    /// Signed: messages queued in outboxes now (added on enqueue, taken off on send or discard).
    case outboxQueuedMessages
    case outboxDroppedMessages
    case outboxCatchUpSnapshots

    /// How the slot is exposed: a counter, or a gauge that moves by the folded amount.
    public enum Kind: Sendable { case counter, gauge }

    /// The swift-metrics series: label, dimensions and kind.
    public var metric: (label: String, dimensions: [(String, String)], kind: Kind) {
        switch self {
        case .connectionsAccepted: ("eddy_connections_accepted_total", [], .counter)
        case .connectionsClosed: ("eddy_connections_closed_total", [], .counter)
        case .connectionsOpen: ("eddy_connections_open", [], .gauge)
        case .connectionsRefusedCapacity: ("eddy_connections_refused_total", [("status", "503")], .counter)
        case .connectionsRefusedAddress: ("eddy_connections_refused_total", [("status", "429")], .counter)
        case .handshakesRefused400: Self.refused("400")
        case .handshakesRefused401: Self.refused("401")
        case .handshakesRefused403: Self.refused("403")
        case .handshakesRefused404: Self.refused("404")
        case .handshakesRefused426: Self.refused("426")
        case .handshakesRefused429: Self.refused("429")
        case .handshakesRefused500: Self.refused("500")
        case .handshakesRefused503: Self.refused("503")
        case .handshakesRefusedOther: Self.refused("other")
        case .messagesReceived: ("eddy_websocket_messages_received_total", [], .counter)
        case .messagesSent: ("eddy_websocket_messages_sent_total", [], .counter)
        case .bytesReceived: ("eddy_websocket_received_bytes_total", [], .counter)
        case .bytesSent: ("eddy_websocket_sent_bytes_total", [], .counter)
        case .deflateInputBytes: ("eddy_websocket_deflate_input_bytes_total", [], .counter)
        case .deflateOutputBytes: ("eddy_websocket_deflate_output_bytes_total", [], .counter)
        case .closes1000: Self.closed("1000")
        case .closes1001: Self.closed("1001")
        case .closes1002: Self.closed("1002")
        case .closes1003: Self.closed("1003")
        case .closes1006: Self.closed("1006")
        case .closes1007: Self.closed("1007")
        case .closes1008: Self.closed("1008")
        case .closes1009: Self.closed("1009")
        case .closes1011: Self.closed("1011")
        case .closes1013: Self.closed("1013")
        case .closesOther: Self.closed("other")
        case .outboxQueuedMessages: ("eddy_outbox_queued_messages", [], .gauge)
        case .outboxDroppedMessages: ("eddy_outbox_dropped_messages_total", [], .counter)
        case .outboxCatchUpSnapshots: ("eddy_outbox_catch_up_snapshots_total", [], .counter)
        }
    }

    private static func refused(_ status: String) -> (String, [(String, String)], Kind) {
        ("eddy_websocket_handshakes_refused_total", [("status", status)], .counter)
    }

    private static func closed(_ code: String) -> (String, [(String, String)], Kind) {
        ("eddy_websocket_closes_total", [("code", code)], .counter)
    }

    /// The slot for a refused WebSocket handshake answered with `status`.
    public static func handshakeRefused(status: Int) -> TallyCounter {
        switch status {
        case 400: .handshakesRefused400
        case 401: .handshakesRefused401
        case 403: .handshakesRefused403
        case 404: .handshakesRefused404
        case 426: .handshakesRefused426
        case 429: .handshakesRefused429
        case 500: .handshakesRefused500
        case 503: .handshakesRefused503
        default: .handshakesRefusedOther
        }
    }

    /// The slot for a WebSocket connection that ended with close `code`.
    public static func closed(code: UInt16) -> TallyCounter {
        switch code {
        case 1000: .closes1000
        case 1001: .closes1001
        case 1002: .closes1002
        case 1003: .closes1003
        case 1006: .closes1006
        case 1007: .closes1007
        case 1008: .closes1008
        case 1009: .closes1009
        case 1011: .closes1011
        case 1013: .closes1013
        default: .closesOther
        }
    }
}
