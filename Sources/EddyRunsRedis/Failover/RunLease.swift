public import EddyRedis
import EddyRedisCore

/// The lease that says which node executes a run: the key `<prefix>run:{<run>}:lease`, whose
/// value is the owner's node name, with a time to live.
///
/// Guarantees (each operation is one Redis command, atomic in Redis):
/// - ``acquire(runID:)`` is `SET key node NX PX ttl`: of any number of nodes trying while the
///   key is absent, exactly one gets `true`;
/// - ``renew(runID:)`` extends the time to live only if the key still holds this node's name
///   (a Lua script: `GET` then `PEXPIRE`), so a node never renews a lease another node took;
/// - ``release(runID:)`` deletes the key only if it is still this node's (the same way).
///
/// A lease is only as good as its time to live: a node that stops renewing (dead, frozen,
/// cut off from Redis) loses it `ttl` after its last renewal, and must then stop acting for the
/// run (see `RunLeaseKeeper`); Redis refuses a stale owner's appends anyway, since the new
/// owner's entries take the stream's next ids first.
public struct RunLease: Sendable {
    public let node: String
    public let ttl: Duration
    public let keyPrefix: String
    private let client: RedisClient

    /// Renews only if the value is still ours; returns 1 if renewed, 0 otherwise.
    static let renewScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) else return 0 end
        """
    /// Renews if the value is still ours (1); if the key is gone — it expired while Redis was
    /// out of reach, or Redis restarted after its expiry — and the run's stream still ends at
    /// the `seq` this node stored last (nobody appended since), takes it again (2); otherwise 0.
    /// KEYS: lease, stream; ARGV: node, ttl in ms, the last stored `seq`.
    static let renewOrRetakeScript = """
        local holder = redis.call('GET', KEYS[1])
        if holder == ARGV[1] then return redis.call('PEXPIRE', KEYS[1], ARGV[2]) end
        if holder then return 0 end
        local top = redis.call('XREVRANGE', KEYS[2], '+', '-', 'COUNT', 1)
        local seq = 0
        if #top > 0 then seq = tonumber(string.match(top[1][1], '^(%d+)-')) end
        if seq ~= tonumber(ARGV[3]) then return 0 end
        redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
        return 2
        """
    /// Deletes only if the value is still ours; returns 1 if deleted, 0 otherwise.
    static let releaseScript = """
        if redis.call('GET', KEYS[1]) == ARGV[1] then return redis.call('DEL', KEYS[1]) else return 0 end
        """

    public init(node: String, ttl: Duration, client: RedisClient, keyPrefix: String = "eddy:") {
        self.node = node
        self.ttl = ttl
        self.client = client
        self.keyPrefix = keyPrefix
    }

    /// The run's lease key (same hash tag as its stream: one slot in a cluster).
    public func key(runID: String) -> String { "\(keyPrefix)run:{\(runID)}:lease" }

    var milliseconds: String { String(ttl.redisMilliseconds) }

    /// The `SET … NX PX` command, for callers that pipeline it with other commands.
    public func acquireCommand(runID: String) -> RedisCommand {
        RedisCommand("SET", key(runID: runID), node, "NX", "PX", milliseconds)
    }

    /// Takes the lease if nobody holds it; `true` if this node now holds it.
    public func acquire(runID: String) async throws -> Bool {
        let reply = try await client.send(acquireCommand(runID: runID))
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply.string == "OK"
    }

    /// Extends this node's lease by `ttl`; `false` if the lease is gone or another node's.
    public func renew(runID: String) async throws -> Bool {
        try await evaluate(Self.renewScript, runID: runID, extra: [milliseconds]) == 1
    }

    /// What ``renewOrRetake(runID:streamKey:storedSeq:)`` did.
    public enum Renewal: Sendable, Equatable {
        /// The lease was this node's and is extended.
        case renewed
        /// The lease had expired with nobody else taking it, the stream had not moved past
        /// `storedSeq`: it is this node's again.
        case retaken
        /// The lease is another node's, or the stream moved on without this node: the run is lost here.
        case lost
    }

    /// As ``renew(runID:)``, and if the lease is gone but nobody appended to the run's stream
    /// (`streamKey`) after `storedSeq`, takes it again — in one script, atomic in Redis. After an
    /// outage longer than the time to live this is how an owner keeps its runs when no other
    /// node took them over meanwhile (an adopter's first event moves the stream on).
    public func renewOrRetake(runID: String, streamKey: String, storedSeq: Int64) async throws -> Renewal {
        switch try await evaluate(Self.renewOrRetakeScript, runID: runID, keys: [streamKey],
                                  extra: [milliseconds, String(storedSeq)]) {
        case 1: return .renewed
        case 2: return .retaken
        default: return .lost
        }
    }

    /// Gives the lease up if it is still this node's; `true` if it was.
    @discardableResult
    public func release(runID: String) async throws -> Bool {
        try await evaluate(Self.releaseScript, runID: runID, extra: []) == 1
    }

    /// The node holding the run's lease, nil if none does.
    public func holder(runID: String) async throws -> String? {
        let reply = try await client.send(RedisCommand("GET", key(runID: runID)))
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply.string
    }

    /// Runs `script` with KEYS = the lease's key, then `keys`; ARGV = this node's name, then `extra`.
    private func evaluate(_ script: String, runID: String, keys: [String] = [], extra: [String]) async throws -> Int64 {
        let arguments = [script, String(1 + keys.count), key(runID: runID)] + keys + [node] + extra
        let reply = try await client.send(RedisCommand("EVAL", arguments: arguments.map { Array($0.utf8) }))
        if case .error(let message) = reply { throw RedisError.server(message) }
        return reply.integer ?? 0
    }
}
