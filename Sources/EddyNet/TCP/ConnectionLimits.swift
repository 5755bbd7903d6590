import Glibc

/// How many connections a listener keeps, in total and per peer address, and how fast one
/// address may open new ones.
///
/// Guarantees: a connection over a limit is accepted, told why (the `refusals` message for
/// the reason, if any: plain TCP has none, an HTTP server sets 503 and 429 answers) and
/// closed at once, without an event loop handle: refusing costs one file descriptor for a few
/// system calls, never a task, a timer or a spinning loop, and the served connections are not
/// affected. A refused connection never reaches the listener's handler.
public struct ConnectionLimits: Sendable, Hashable {
    /// Open connections at most. Default: the process's open-file limit (`RLIMIT_NOFILE`,
    /// soft) less 64 descriptors kept for everything else (the event log, the listener,
    /// pipes), so the server refuses cleanly instead of meeting `EMFILE`.
    public var maxConnections: Int
    /// Open connections per peer address (IPv4 or IPv6, any port) at most, or nil (the
    /// default) for no such limit: behind a proxy or a NAT, many users share one address.
    public var maxConnectionsPerAddress: Int?
    /// New connections per second per peer address (bursts up to the same number), or nil
    /// (the default) for no such limit.
    public var newConnectionsPerSecondPerAddress: Int?
    /// What a refused connection is sent before it is closed, by reason; a reason without
    /// an entry closes at once. Default: none.
    public var refusals: [ConnectionRefusal: [UInt8]] = [:]

    public init(maxConnections: Int? = nil, maxConnectionsPerAddress: Int? = nil, newConnectionsPerSecondPerAddress: Int? = nil) {
        self.maxConnections = max(1, maxConnections ?? Self.defaultMaxConnections)
        self.maxConnectionsPerAddress = maxConnectionsPerAddress.map { max(1, $0) }
        self.newConnectionsPerSecondPerAddress = newConnectionsPerSecondPerAddress.map { max(1, $0) }
    }

    /// The process's soft open-file limit less 64 (at least 1).
    public static var defaultMaxConnections: Int {
        var limit = rlimit()
        // RLIM_INFINITY is all ones; Int(clamping:) turns it into Int.max.
        guard getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit) == 0 else { return 1 << 20 }
        return max(1, Int(clamping: limit.rlim_cur) - 64)
    }

    /// Whether a peer's address must be known (a per-address limit is set).
    var tracksAddresses: Bool { maxConnectionsPerAddress != nil || newConnectionsPerSecondPerAddress != nil }
}

/// Why a listener refused a connection.
public enum ConnectionRefusal: Sendable, Hashable, CaseIterable {
    /// `maxConnections` are open.
    case capacity
    /// `maxConnectionsPerAddress` are open from the peer's address.
    case addressLimit
    /// The peer's address opened connections faster than `newConnectionsPerSecondPerAddress`.
    case addressRate
}

/// How many connections a listener has refused, by reason.
public struct ConnectionRefusalCounts: Sendable, Hashable {
    public var capacity = 0
    public var addressLimit = 0
    public var addressRate = 0

    public init() {}

    mutating func record(_ reason: ConnectionRefusal) {
        switch reason {
        case .capacity: capacity += 1
        case .addressLimit: addressLimit += 1
        case .addressRate: addressRate += 1
        }
    }
}
