import ArgumentParser
import EddyNet

/// The connection limits of every server command (see `ConnectionLimits`).
struct ConnectionLimitOptions: ParsableArguments {
    @Option(help: "Open connections at most; more are refused (HTTP servers answer 503). Default: the open-file limit less 64.")
    var maxConnections: Int?
    @Option(help: "Open connections per client IP address at most (HTTP: 429). Default: no limit.")
    var maxConnectionsPerIp: Int?
    @Option(help: "New connections per second per client IP address (HTTP: 429). Default: no limit.")
    var connectionRatePerIp: Int?

    func validate() throws {
        for (flag, value) in [("--max-connections", maxConnections), ("--max-connections-per-ip", maxConnectionsPerIp),
                              ("--connection-rate-per-ip", connectionRatePerIp)] {
            if let value, value < 1 { throw ValidationError("\(flag) must be at least 1") }
        }
    }

    var limits: ConnectionLimits {
        ConnectionLimits(maxConnections: maxConnections, maxConnectionsPerAddress: maxConnectionsPerIp,
                         newConnectionsPerSecondPerAddress: connectionRatePerIp)
    }
}
