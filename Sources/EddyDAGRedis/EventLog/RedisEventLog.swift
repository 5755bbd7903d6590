public import EddyDAG
public import EddyRedis

/// A run event log in Redis Streams: one stream per run (`<prefix>run:{<run>}:events`),
/// one entry per logged event with the entry ID `<seq>-1` and the canonical JSON bytes in
/// field `e`. The second backend behind `RunEventLog` (the start of issue 17's runs across
/// nodes; the engine still writes to SQLite).
///
/// Guarantees:
/// - `append` stores each run's events in `seq` order; Redis refuses an ID at or below the
///   stream's top, so appending an event again (a retry after a lost reply) stores nothing
///   twice: such refusals are counted as already stored, any other refusal throws. (So the
///   caller must append every `seq` of a run, in order, as the engine does: a `seq` skipped
///   and appended later would be taken for a duplicate.)
/// - `encodedEvents`/`events` return `after < seq <= upTo` in order (`XRANGE` with an
///   exclusive start, Redis 6.2 or later), read in pages of `pageSize` so no reply exceeds it.
public final class RedisEventLog: RunEventLog {
    public let client: RedisClient
    public let keyPrefix: String
    public let pageSize: Int

    public init(client: RedisClient, keyPrefix: String = "eddy:", pageSize: Int = 1000) {
        self.client = client
        self.keyPrefix = keyPrefix
        self.pageSize = max(1, pageSize)
    }

    /// The stream key of `runID` (the braces keep a run's keys in one Redis Cluster slot).
    public func streamKey(runID: String) -> String { "\(keyPrefix)run:{\(runID)}:events" }

    /// Appends logged events (one or several runs; each run's in increasing `seq`) in one pipeline.
    ///
    /// - Returns: how many were stored (events already in the log are not counted).
    /// - Throws: `RedisError` (unavailable, refused), or `RedisError.server` for a `seq` out of order.
    @discardableResult
    public func append(_ envelopes: [EventEnvelope]) async throws -> Int {
        var last: [String: Int64] = [:]
        for envelope in envelopes {
            if let previous = last[envelope.dagID], envelope.seq <= previous {
                throw RedisError.server("run \(envelope.dagID): seq \(envelope.seq) after \(previous)")
            }
            last[envelope.dagID] = envelope.seq
        }
        let commands = envelopes.map { envelope in
            RedisCommand("XADD", arguments: [Array(streamKey(runID: envelope.dagID).utf8), Array("\(envelope.seq)-1".utf8),
                                             Array("e".utf8), EncodedEvent(envelope).bytes])
        }
        var stored = 0
        for reply in try await client.pipeline(commands) {
            switch reply {
            case .error(let message) where message.contains("equal or smaller"): continue // already stored
            case .error(let message): throw RedisError.server(message)
            default: stored += 1
            }
        }
        return stored
    }

    /// The highest `seq` logged for `runID`, 0 if none.
    public func lastSeq(runID: String) async throws -> Int64 {
        let reply = try await client.send(RedisCommand("XREVRANGE", streamKey(runID: runID), "+", "-", "COUNT", "1"))
        guard let entry = reply.elements?.first else { return 0 }
        return try Self.seq(of: entry)
    }

    public func encodedEvents(runID: String, after: Int64, upTo: Int64 = .max) async throws -> [EncodedEvent] {
        try await events(runID: runID, after: after, upTo: upTo).map(EncodedEvent.init)
    }

    public func events(runID: String, after: Int64, upTo: Int64 = .max) async throws -> [EventEnvelope] {
        var result: [EventEnvelope] = []
        var cursor = after
        let end = upTo == .max ? "+" : "\(upTo)-1"
        // Bounded: each page advances the cursor past at least one entry.
        while true {
            let reply = try await client.send(RedisCommand("XRANGE", streamKey(runID: runID), "(\(cursor)-1", end,
                                                           "COUNT", String(pageSize)))
            let entries = reply.elements ?? []
            for entry in entries {
                let seq = try Self.seq(of: entry)
                guard seq > cursor, let fields = entry.elements?.dropFirst().first?.elements, fields.count >= 2,
                      let bytes = fields[1].bytes else {
                    throw RedisError.server("run \(runID): malformed stream entry after seq \(cursor)")
                }
                do { result.append(try ProtocolDecoder.decodeEnvelope(bytes)) } catch {
                    throw RedisError.server("run \(runID): stored event \(seq) does not decode: \(error)")
                }
                cursor = seq
            }
            if entries.count < pageSize { return result }
        }
    }

    /// The `seq` of an entry `[id, fields]` whose id is `<seq>-1`.
    private static func seq(of entry: RESPValue) throws -> Int64 {
        guard let id = entry.elements?.first?.string, let dash = id.firstIndex(of: "-"), let seq = Int64(id[..<dash]) else {
            throw RedisError.server("stream entry without a <seq>-1 id")
        }
        return seq
    }
}
