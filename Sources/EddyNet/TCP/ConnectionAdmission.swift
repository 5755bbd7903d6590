import EddyMetrics
import EddyShared

/// A listener's count of open connections, in total and per peer address, and its
/// per-address rate buckets: what `ConnectionLimits` are checked against. `admit` runs on
/// the accepting loop, `release` on the loop of the connection that closed.
final class ConnectionAdmission: Sendable {
    /// A peer's address, port left out (see `eddy_peer_key`).
    struct PeerKey: Hashable, Sendable {
        let high: UInt64
        let low: UInt64
    }

    private struct Peer {
        var open = 0
        var tokens: Double
        var refilled: ContinuousClock.Instant
    }

    private struct State {
        var open = 0
        var peers: [PeerKey: Peer] = [:]
        var refused = ConnectionRefusalCounts()
    }

    /// Addresses remembered at most; beyond it, those with no open connection are forgotten
    /// (their rate bucket starts full again), so a scan from many addresses cannot grow memory.
    static let maxRememberedPeers = 65_536

    let limits: ConnectionLimits
    private let state = Mutex(State())

    init(limits: ConnectionLimits) {
        self.limits = limits
    }

    /// Counts a new connection in, or says why it must be refused (and counts that).
    func admit(_ peer: PeerKey?, now: ContinuousClock.Instant) -> ConnectionRefusal? {
        state.withLock { state in
            let refusal = Self.check(&state, peer: peer, limits: limits, now: now)
            if let refusal {
                state.refused.record(refusal)
            } else {
                state.open += 1
                if let peer { state.peers[peer]?.open += 1 }
            }
            return refusal
        }
    }

    private static func check(_ state: inout State, peer: PeerKey?, limits: ConnectionLimits, now: ContinuousClock.Instant) -> ConnectionRefusal? {
        guard state.open < limits.maxConnections else { return .capacity }
        guard let peer else { return nil }
        if state.peers[peer] == nil {
            if state.peers.count >= maxRememberedPeers { state.peers = state.peers.filter { $0.value.open > 0 } }
            state.peers[peer] = Peer(tokens: Double(limits.newConnectionsPerSecondPerAddress ?? 0), refilled: now)
        }
        guard var entry = state.peers[peer] else { return nil }
        defer { state.peers[peer] = entry }
        if let limit = limits.maxConnectionsPerAddress, entry.open >= limit { return .addressLimit }
        if let rate = limits.newConnectionsPerSecondPerAddress {
            let elapsed = Double((now - entry.refilled) / .milliseconds(1)) / 1000
            entry.tokens = min(Double(rate), entry.tokens + elapsed * Double(rate))
            entry.refilled = now
            guard entry.tokens >= 1 else { return .addressRate }
            entry.tokens -= 1
        }
        return nil
    }

    /// Counts a connection out (it closed, or was never adopted by its loop).
    func release(_ peer: PeerKey?) {
        LoopTally.add(.connectionsClosed)
        LoopTally.add(.connectionsOpen, -1)
        state.withLock { state in
            state.open -= 1
            if let peer, var entry = state.peers[peer] {
                entry.open -= 1
                state.peers[peer] = entry
            }
        }
    }

    var openCount: Int { state.withLock { $0.open } }
    var refused: ConnectionRefusalCounts { state.withLock { $0.refused } }
}

/// Where an accepted connection came from: the listener's acceptor, which counted it in
/// and may keep it in its table of kept-open connections, and the peer's key it was counted
/// under. The connection's `Marks` say which of the two are still owed.
struct ConnectionAcceptance {
    let acceptor: Acceptor
    let peer: ConnectionAdmission.PeerKey?
}
