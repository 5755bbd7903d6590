public import EddyDAG
import EddyRedisCore

/// Where the nodes sharing a Redis list their runs: one hash, `<prefix>runs`, field = run id,
/// value = a `RunRegistryRecord`; and one pub/sub channel, `<prefix>lobby`, carrying the same records
/// as runs start, finish or are removed. Runs' logs are the streams of `RedisEventLog` with
/// the same prefix.
///
/// Guarantees: the hash holds each run's latest record (its owner writes it, with `HSET`,
/// before it publishes the change), so a node that reads the hash after subscribing misses no
/// run; records only move forward (a run is announced once its stream has its first event).
public struct RunRegistry: Sendable, Hashable {
    public let keyPrefix: String

    public init(keyPrefix: String = "eddy:") { self.keyPrefix = keyPrefix }

    /// The hash of every node's runs.
    public var runsKey: String { keyPrefix + "runs" }
    /// The channel of lobby changes.
    public var lobbyChannel: String { keyPrefix + "lobby" }
}

/// One run's registry record (or lobby change): its owner node and a lobby message
/// (`run_started`, `run_finished`, `run_removed`), encoded as `<node>\n<lobby JSON>`.
///
/// Guarantees: `init(decoding:)` never traps; it returns nil for anything but a node name,
/// a newline and a lobby message that decodes.
public struct RunRegistryRecord: Sendable, Hashable {
    public var node: String
    public var message: LobbyMessage

    public init(node: String, message: LobbyMessage) {
        self.node = node
        self.message = message
    }

    /// The stored and published form: `<node>\n<lobby JSON>`.
    public var bytes: [UInt8] { Array(node.utf8) + [UInt8(ascii: "\n")] + message.jsonBytes }

    /// Decodes `bytes`; nil unless they hold a node name, a newline and a lobby message.
    public init?(decoding bytes: [UInt8]) {
        guard let newline = bytes.firstIndex(of: UInt8(ascii: "\n")), newline > 0,
              let message = try? LobbyMessage(decoding: Array(bytes[(newline + 1)...])) else { return nil }
        self.node = String(decoding: bytes[..<newline], as: UTF8.self)
        self.message = message
    }

    /// The run this record is about, and its summary (nil for a removal).
    public var summary: RunSummary? {
        switch message.event {
        case .runStarted(let run), .runFinished(let run): run
        case .runs, .runRemoved, .heartbeat: nil
        }
    }

    /// The run this record is about (nil for a lobby message that names no run).
    public var dagID: String? {
        switch message.event {
        case .runStarted(let run), .runFinished(let run): run.dagID
        case .runRemoved(let dagID): dagID
        case .runs, .heartbeat: nil
        }
    }
}

extension RESPValue {
    /// The field/value pairs of an `HGETALL` reply (a RESP3 map, or a RESP2 flat array).
    var hashPairs: [(RESPValue, RESPValue)] {
        switch self {
        case .map(let pairs): return pairs.map { ($0.key, $0.value) }
        case .array(let flat):
            return stride(from: 0, to: flat.count - 1, by: 2).map { (flat[$0], flat[$0 + 1]) }
        default: return []
        }
    }
}
