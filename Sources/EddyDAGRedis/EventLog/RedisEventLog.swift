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
    /// The start of every key this log writes (default `eddy:`); logs that share runs share it.
    public let keyPrefix: String
    /// The most entries one `XRANGE` asks for (at least 1).
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
        try await append(encoded: envelopes.map(EncodedEvent.init))
    }

    /// Appends events as the engine logged them (their bytes are stored as they are, never
    /// re-encoded), with the guarantees of `append(_:)`: one pipeline, one `XADD` per event.
    @discardableResult
    public func append(encoded events: [EncodedEvent]) async throws -> Int {
        guard !events.isEmpty else { return 0 }
        var last: [String: Int64] = [:]
        for event in events {
            if let previous = last[event.dagID], event.seq <= previous {
                throw RedisError.server("run \(event.dagID): seq \(event.seq) after \(previous)")
            }
            last[event.dagID] = event.seq
        }
        let commands = events.map { event in
            RedisCommand("XADD", arguments: [Array(streamKey(runID: event.dagID).utf8), Array("\(event.seq)-1".utf8),
                                             Array("e".utf8), event.bytes])
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
        return try StreamEntry.seq(of: entry)
    }

    /// The stored bytes as they are (decoded once, to check them and read their key).
    public func encodedEvents(runID: String, after: Int64, upTo: Int64 = .max) async throws -> [EncodedEvent] {
        try await entries(runID: runID, after: after, upTo: upTo).map(\.encoded)
    }

    /// The stored events with `after < seq <= upTo`, decoded, in `seq` order.
    public func events(runID: String, after: Int64, upTo: Int64 = .max) async throws -> [EventEnvelope] {
        try await entries(runID: runID, after: after, upTo: upTo).map(\.envelope)
    }

    /// The stored events with `after < seq <= upTo`, in pages of `pageSize`.
    public func entries(runID: String, after: Int64, upTo: Int64 = .max) async throws -> [StreamEntry] {
        var result: [StreamEntry] = []
        var cursor = after
        let end = upTo == .max ? "+" : "\(upTo)-1"
        // Bounded: each page advances the cursor past at least one entry (checked by `decode`).
        while true {
            let reply = try await client.send(RedisCommand("XRANGE", streamKey(runID: runID), "(\(cursor)-1", end,
                                                           "COUNT", String(pageSize)))
            let entries = reply.elements ?? []
            for entry in entries {
                let decoded = try StreamEntry(entry, runID: runID, after: cursor)
                result.append(decoded)
                cursor = decoded.seq
            }
            if entries.count < pageSize { return result }
        }
    }
}
