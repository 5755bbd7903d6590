public import EddyDAGRedis
public import EddyDAGStream
public import EddyLoop
public import EddyRedis
import EddyDAG
import EddyRedisCore
import EddyShared

/// Every run stream this node follows, read with one blocking connection: each follower
/// first reads its run's stream from the start (`XRANGE` pages on the node's ordinary
/// client), then joins one shared loop of `XREAD COUNT n BLOCK ms STREAMS k1 k2 … id1 id2 …`
/// over the streams of every follower that has caught up. A burst of events across many runs
/// thus costs one `XREAD` per node, not one per run.
///
/// Guarantees, for each follower (`follow(runID:)`):
/// - It yields its run's entries from the first one, in `seq` order, each exactly once, then
///   `.caughtUp` after those stored when it began, then the live ones. Its position is the
///   last `seq` it yielded, and the shared read asks each stream for what comes after it, so
///   no entry is skipped or yielded twice, across lost connections too: the reader reconnects
///   with the configuration's backoff and reads on from every stream's position.
/// - It finishes after its run's `execution_complete`, or when its consumer stops iterating
///   (the stream's termination drops it from the next read). A malformed entry, or a key
///   that is not a stream, ends the followers of that run with an error, not the others.
///   Reading the stream's start failing ends that follower with the error.
/// - A follower that catches up while the shared read is blocked does not wait for the
///   block to time out: the read is interrupted with `CLIENT UNBLOCK <id>` sent on the
///   ordinary client (`CLIENT ID` of the blocking connection is read when it connects), and
///   sent again until the read in flight carries the new follower or has returned. Should
///   the server refuse `CLIENT UNBLOCK` (an ACL), the new follower waits at most one block.
/// - With no follower caught up, no blocking connection is held: the reader closes it and
///   ends, and the next follower that catches up starts it again.
/// - The reader never waits for a consumer: entries go into each follower's
///   `AsyncThrowingStream` buffer (unbounded), so a slow consumer of one run never delays
///   the others; what its buffer holds is bounded by its run's length. `RemoteRunFeed`, the
///   consumer in Eddy, never waits on dashboards (rooms hand events to bounded per-dashboard
///   outboxes), so its buffer holds only what arrived since its task last ran.
public final class RunStreamFollowers: Sendable {
    /// How long one `XREAD` blocks before it is sent again (an idle connection is thus checked).
    public let block: Duration
    /// The most entries one `XREAD` returns per stream.
    public let count: Int
    private let log: RedisEventLog
    private let configuration: RedisConfiguration
    private let loop: EventLoop
    private let report: @Sendable (String) -> Void
    private let state = Mutex(State())

    private struct Follower {
        let runID: String
        let key: String
        let continuation: AsyncThrowingStream<RemoteRunUpdate, any Error>.Continuation
        /// The last `seq` yielded.
        var cursor: Int64 = 0
        /// Caught up: read by the shared `XREAD`.
        var live = false
        var catchUp: Task<Void, Never>?
    }

    /// The shared read in flight: which one, its connection's `CLIENT ID`, and the
    /// generation of the follower set it asked for.
    private struct BlockedRead {
        var serial: Int
        var clientID: Int64
        var generation: Int
    }

    private struct State {
        var nextID = 0
        var followers: [Int: Follower] = [:]
        /// Bumped when a follower goes live, and when the last live one leaves.
        var generation = 0
        var reader: Task<Void, Never>?
        var readerRunning = false
        var blocked: BlockedRead?
        var waking = false
        var unblockRefusedReported = false
        var connection: RedisConnection?
        var stopped = false
    }

    /// - Parameters:
    ///   - log: the runs' streams; its client also sends `CLIENT UNBLOCK` and `TYPE`.
    ///   - configuration: how the blocking connection connects and backs off.
    ///   - block: `XREAD`'s `BLOCK` (at least 1 ms). Default 5 s.
    ///   - count: `XREAD`'s `COUNT`, per stream (at least 1). Default 512.
    ///   - report: hears lost connections and refused unblocks (never per event).
    public init(log: RedisEventLog, configuration: RedisConfiguration, on loop: EventLoop, block: Duration = .seconds(5),
                count: Int = 512, report: @escaping @Sendable (String) -> Void) {
        self.log = log
        self.configuration = configuration
        self.loop = loop
        self.block = max(block, .milliseconds(1))
        self.count = max(1, count)
        self.report = report
    }

    /// Follows `runID`'s stream (see the type): its entries from the start, `.caughtUp`, then
    /// live ones, until `execution_complete`. After `stop()`, the stream throws `CancellationError`.
    public func follow(runID: String) -> AsyncThrowingStream<RemoteRunUpdate, any Error> {
        let (stream, continuation) = AsyncThrowingStream.makeStream(of: RemoteRunUpdate.self)
        let key = log.streamKey(runID: runID)
        let id = state.withLock { state -> Int? in
            guard !state.stopped else { return nil }
            state.nextID += 1
            state.followers[state.nextID] = Follower(runID: runID, key: key, continuation: continuation)
            return state.nextID
        }
        guard let id else {
            continuation.finish(throwing: CancellationError())
            return stream
        }
        continuation.onTermination = { [weak self] _ in self?.drop(id) }
        let task = Task(executorPreference: loop) { [self] in await catchUp(id, runID: runID, continuation) }
        let dropped = state.withLock { state -> Bool in
            guard state.followers[id] != nil else { return true }
            state.followers[id]?.catchUp = task
            return false
        }
        if dropped { task.cancel() }
        return stream
    }

    /// Ends every follower (`CancellationError`) and closes the blocking connection; later
    /// `follow` calls end at once.
    public func stop() async {
        let (followers, reader, connection) = state.withLock { state in
            state.stopped = true
            defer { state.followers = [:] }
            return (Array(state.followers.values), state.reader, state.connection)
        }
        for follower in followers {
            follower.catchUp?.cancel()
            follower.continuation.finish(throwing: CancellationError())
        }
        reader?.cancel()
        await connection?.close()
        await reader?.value
    }

    /// How many followers there are (catching up or live), for tests and logs.
    public var followerCount: Int { state.withLock { $0.followers.count } }

    // MARK: - One follower

    private func catchUp(_ id: Int, runID: String, _ continuation: AsyncThrowingStream<RemoteRunUpdate, any Error>.Continuation) async {
        do {
            var cursor: Int64 = 0
            var finished = false
            for entry in try await log.entries(runID: runID, after: 0) {
                continuation.yield(.event(entry.encoded, entry.envelope))
                cursor = entry.seq
                if case .executionComplete = entry.envelope.event { finished = true }
            }
            continuation.yield(.caughtUp)
            if finished { end([id], nil) } else { goLive(id, cursor: cursor) }
        } catch {
            end([id], Task.isCancelled ? CancellationError() : error)
        }
    }

    /// The follower joins the shared read from `cursor`; starts the reader, or interrupts its read.
    private func goLive(_ id: Int, cursor: Int64) {
        let running = state.withLock { state -> Bool in
            guard !state.stopped, state.followers[id] != nil else { return true }
            state.followers[id]?.cursor = cursor
            state.followers[id]?.live = true
            state.generation += 1
            if state.readerRunning { return true }
            state.readerRunning = true
            state.reader = Task(executorPreference: loop) { [self] in await read() }
            return false
        }
        if running { wake() }
    }

    /// The stream's termination: the follower leaves (its catch-up is cancelled, the next
    /// read leaves its stream out; the last live one interrupts the read, which then ends).
    private func drop(_ id: Int) {
        let (catchUp, emptied) = state.withLock { state -> (Task<Void, Never>?, Bool) in
            guard let follower = state.followers.removeValue(forKey: id) else { return (nil, false) }
            let emptied = follower.live && !state.followers.values.contains { $0.live }
            if emptied { state.generation += 1 }
            return (follower.catchUp, emptied)
        }
        catchUp?.cancel()
        if emptied { wake() }
    }

    /// Removes the followers and finishes their streams (outside the lock: `finish` runs
    /// `onTermination`, which takes it).
    private func end(_ ids: [Int], _ error: (any Error)?) {
        let ended = state.withLock { state in ids.compactMap { state.followers.removeValue(forKey: $0) } }
        for follower in ended {
            if let error { follower.continuation.finish(throwing: error) } else { follower.continuation.finish() }
        }
    }

    // MARK: - The shared read

    /// One `XREAD` request: the streams with the lowest position among their followers.
    private struct Request {
        var keys: [String]
        /// For each key, the lowest `seq` its live followers yielded: the read asks for what follows.
        var positions: [Int64]
    }

    /// The reader: one blocking connection, one `XREAD` at a time over every live follower's
    /// stream, until none is live or `stop()`.
    private func read() async {
        var connection: RedisConnection?
        var clientID: Int64?
        var failures = 0
        var serial = 0
        // Bounded: ends when no follower is live or on stop; every round either blocks for up
        // to `block` in Redis or, after a failure, waits a backoff first.
        reading: while true {
            var request: Request?
            do {
                if connection == nil || connection?.isClosed == true {
                    await connection?.close()
                    connection = nil
                    guard state.withLock({ state in Self.hasLive(&state) }) else { break reading }
                    let fresh = try await RedisConnection.connect(configuration, on: loop)
                    clientID = (try? await fresh.send(RedisCommand("CLIENT", "ID")))?.integer
                    let stopped = state.withLock { state in
                        state.connection = fresh
                        return state.stopped
                    }
                    connection = fresh
                    if stopped { break reading }
                }
                guard let link = connection else { break reading }
                serial += 1
                let current = serial
                guard let next = state.withLock({ state -> Request? in
                    guard Self.hasLive(&state) else { return nil }
                    var position: [String: Int64] = [:]
                    var keys: [String] = []
                    for follower in state.followers.values where follower.live {
                        if let known = position[follower.key] {
                            position[follower.key] = min(known, follower.cursor)
                        } else {
                            position[follower.key] = follower.cursor
                            keys.append(follower.key)
                        }
                    }
                    if let clientID { state.blocked = BlockedRead(serial: current, clientID: clientID, generation: state.generation) }
                    return Request(keys: keys, positions: keys.map { position[$0] ?? 0 })
                }) else { break reading }
                request = next
                var arguments: [[UInt8]] = ["COUNT", String(count), "BLOCK", String(block.redisMilliseconds), "STREAMS"].map { Array($0.utf8) }
                arguments += next.keys.map { Array($0.utf8) }
                arguments += next.positions.map { Array("\($0)-1".utf8) }
                let reply = try await link.send(RedisCommand("XREAD", arguments: arguments), timeout: block + configuration.commandTimeout)
                state.withLock { state in if state.blocked?.serial == current { state.blocked = nil } }
                failures = 0
                dispatch(reply, asked: next)
            } catch {
                state.withLock { $0.blocked = nil }
                if state.withLock({ $0.stopped }) { break reading }
                if let request, let failure = error as? RedisError, case .server(let message) = failure,
                   await refuse(keys: request.keys, message) {
                    continue // the streams that made the read fail are left out now
                }
                await connection?.close()
                connection = nil
                failures += 1
                if failures == 1 { report("following runs' streams: \(error); reconnecting") }
                try? await Task.sleep(for: configuration.backoff.delay(afterFailures: failures))
            }
        }
        state.withLock { state in
            if state.connection === connection { state.connection = nil }
        }
        await connection?.close()
    }

    /// Whether a follower is live; if none, marks the reader ended (in the same lock as the
    /// check, so a follower going live after it starts a new reader).
    private static func hasLive(_ state: inout State) -> Bool {
        if !state.stopped, state.followers.values.contains(where: { $0.live }) { return true }
        state.readerRunning = false
        state.reader = nil
        return false
    }

    /// Hands each stream's entries to its live followers, each from its own position. A
    /// follower whose position is below what the read asked for (it went live meanwhile,
    /// behind another follower of its run) gets nothing now: the next read starts from it.
    private func dispatch(_ reply: RESPValue, asked request: Request) {
        let asked = Dictionary(zip(request.keys, request.positions), uniquingKeysWith: { first, _ in first })
        for (key, raws) in reply.streamReads where !raws.isEmpty {
            guard let start = asked[key] else { continue }
            let readers = state.withLock { state in
                state.followers.filter { $0.value.live && $0.value.key == key && $0.value.cursor >= start }
                    .map { (id: $0.key, follower: $0.value) }
            }
            guard let runID = readers.first?.follower.runID else { continue }
            var entries: [StreamEntry] = []
            do {
                var cursor = start
                for raw in raws {
                    let entry = try StreamEntry(raw, runID: runID, after: cursor)
                    entries.append(entry)
                    cursor = entry.seq
                }
            } catch {
                // A malformed entry: reading on would not help; the other runs go on.
                end(readers.map(\.id), error)
                continue
            }
            for (id, follower) in readers {
                let fresh = entries.filter { $0.seq > follower.cursor }
                guard let last = fresh.last else { continue }
                let finished = fresh.contains { if case .executionComplete = $0.envelope.event { true } else { false } }
                let present = state.withLock { state -> Bool in
                    guard state.followers[id] != nil else { return false }
                    state.followers[id]?.cursor = last.seq
                    return true
                }
                guard present else { continue }
                for entry in fresh { follower.continuation.yield(.event(entry.encoded, entry.envelope)) }
                if finished { end([id], nil) }
            }
        }
    }

    /// After `XREAD` failed with a server error: ends the followers of any stream whose key
    /// holds something else than a stream (`TYPE`), with that error. False if none did.
    private func refuse(keys: [String], _ message: String) async -> Bool {
        var refused = false
        for key in keys {
            guard let type = try? await log.client.send(RedisCommand("TYPE", key)).string, type != "stream", type != "none" else {
                continue
            }
            let ids = state.withLock { state in state.followers.filter { $0.value.key == key }.map { $0.key } }
            end(ids, RedisError.server("\(key) holds a \(type), not a stream: \(message)"))
            refused = true
        }
        return refused
    }

    /// Interrupts the read in flight when it does not carry the latest follower set:
    /// `CLIENT UNBLOCK` on the ordinary client, again until the read is unblocked or has
    /// returned (the command can reach Redis before the `XREAD` does).
    private func wake() {
        let go = state.withLock { state -> Bool in
            guard !state.waking, let blocked = state.blocked, blocked.generation < state.generation else { return false }
            state.waking = true
            return true
        }
        guard go else { return }
        Task(executorPreference: loop) { [self] in
            var failed = true
            // Bounded: at most 2,000 attempts 1 ms apart, and only while a stale read is in flight.
            for _ in 0..<2000 {
                guard let target = state.withLock({ state in
                    state.blocked.flatMap { $0.generation < state.generation ? $0 : nil }
                }) else {
                    failed = false
                    break
                }
                do {
                    let reply = try await log.client.send(RedisCommand("CLIENT", "UNBLOCK", String(target.clientID)))
                    if reply.integer == 1 {
                        state.withLock { state in if state.blocked?.serial == target.serial { state.blocked = nil } }
                        failed = false
                        break
                    }
                } catch {
                    let first = state.withLock { state in
                        defer { state.unblockRefusedReported = true }
                        return !state.unblockRefusedReported
                    }
                    if first { report("following runs' streams: CLIENT UNBLOCK failed (\(error)); a new follower may wait one block") }
                    break
                }
                try? await Task.sleep(for: .milliseconds(1))
            }
            state.withLock { $0.waking = false }
            // A change that came while this one was finishing (not after a failure: the read
            // then ends by its block timeout, and trying again at once would spin).
            if !failed { wake() }
        }
    }
}

extension RESPValue {
    /// The streams of an `XREAD` reply with their entries (a RESP3 map of streams, or a RESP2
    /// array of `[key, entries]`); none on a timeout or an unblock (`null`).
    var streamReads: [(key: String, entries: [RESPValue])] {
        switch self {
        case .map(let pairs):
            return pairs.compactMap { pair in pair.key.string.map { ($0, pair.value.elements ?? []) } }
        case .array(let streams):
            return streams.compactMap { stream in
                guard let parts = stream.elements, parts.count >= 2, let key = parts[0].string else { return nil }
                return (key, parts[1].elements ?? [])
            }
        default:
            return []
        }
    }
}
