import Glibc
import Logging

/// The log lines of a listener's refusals by `ConnectionLimits`: one warning per 10 s at most
/// while connections are refused (a flood must not become a flood of log lines), carrying
/// how many were refused since the last line and one remote address. The address is looked
/// up only for the refusal that is logged. Loop-thread state of the `Acceptor`.
struct RefusalLog {
    /// What the next line says: the remote address and the count it covers.
    struct Report {
        let remote: String
        let refused: Int
    }

    let logger: Logger
    private var loggedAt: ContinuousClock.Instant?
    private var unlogged = 0

    init(logger: Logger) { self.logger = logger }

    /// Counts a refusal of `client` (still open); a report when a line is due.
    mutating func refusing(_ client: Int32) -> Report? {
        unlogged += 1
        let now = ContinuousClock.now
        if let loggedAt, now - loggedAt < .seconds(10) { return nil }
        loggedAt = now
        defer { unlogged = 0 }
        return Report(remote: Self.remoteAddress(of: client), refused: unlogged)
    }

    /// Writes the warning for `report`.
    func log(_ report: Report, reason: ConnectionRefusal, limits: ConnectionLimits) {
        logger.warning("connections refused by limits", metadata: [
            "reason": "\(reason)", "refused": "\(report.refused)", "remote_address": "\(report.remote)",
            "max_connections": "\(limits.maxConnections)",
        ])
    }

    /// The peer's address of a socket, as text ("?" if the kernel no longer knows it).
    private static func remoteAddress(of client: Int32) -> String {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let address: SocketAddress? = withUnsafeMutableBytes(of: &storage) { raw in
            guard let pointer = raw.baseAddress?.assumingMemoryBound(to: sockaddr.self) else { return nil }
            return getpeername(client, pointer, &length) == 0 ? SocketAddress(pointer) : nil
        }
        return address.map { "\($0)" } ?? "?"
    }
}
