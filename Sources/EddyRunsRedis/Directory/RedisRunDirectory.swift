public import EddyDAG
public import EddyDAGStream
public import EddyLoop
public import EddyRedis
import EddyDAGRedis
import EddyRedisCore
import EddyShared
import struct Synchronization.Atomic

/// The other nodes' runs, as this node knows them from Redis: the `RunRegistry` hash read
/// whenever the lobby channel is (re)subscribed, kept up to date by that channel; and each
/// run's log read from its stream (`RedisEventLog`) and followed live by `RunStreamFollowers`:
/// one `XREAD BLOCK` over every followed run's stream, on one blocking connection per node.
/// The `RemoteRuns` a gateway serves other nodes' runs from.
///
/// Guarantees (besides `RemoteRuns`'s):
/// - Records only move forward: a run heard as finished is never listed as running again
///   because an older record arrives late; a live run announced by another node than its
///   owner has changed owner (failover); this node's own records are ignored.
/// - `follow` reads the stream from its start (`XRANGE`, in pages), then from the last entry
///   it yielded (the shared `XREAD BLOCK` asks each stream for what follows its followers'
///   position): no entry is skipped or yielded twice, across lost connections too (the
///   reader reconnects with the configuration's backoff and reads on from the same ids). A
///   follower added while the shared read blocks interrupts it (`CLIENT UNBLOCK`); one that
///   ends, or whose stream holds a malformed entry, leaves the others running.
/// - Pub/sub is at most once: a change published while this node was disconnected is picked
///   up by the hash read at the next subscription.
/// - `forward` answers every call exactly once: the owner's reply, or nil after `commandTimeout`.
public final class RedisRunDirectory: RemoteRuns {
    public let node: String
    public let registry: RunRegistry
    public let configuration: RedisConfiguration
    private let loop: EventLoop
    private let client: RedisClient
    private let log: RedisEventLog
    private let subscriber: RedisSubscriber
    private let followers: RunStreamFollowers
    private let runs = Mutex<[String: RemoteRunSummary]>([:])
    private let listeners = Mutex<(next: Int, all: [Int: AsyncStream<LobbyMessage.Event>.Continuation])>((0, [:]))
    private let ready = Atomic<Bool>(false)
    private let listening = Mutex<Task<Void, Never>?>(nil)
    private let report: @Sendable (String) -> Void
    /// Forwarded commands waiting for their owner's reply, by request id.
    private let pending = Mutex<(next: Int, waiting: [String: CheckedContinuation<EventEnvelope?, Never>])>((0, [:]))
    /// How long `forward` waits for the owner's reply. Default 10 s.
    public let commandTimeout: Duration

    /// - Parameters:
    ///   - followBlock: how long the shared `XREAD` over the followed runs blocks before it is
    ///     sent again (`RunStreamFollowers.block`). Default 5 s.
    ///   - report: hears link changes and unreadable records (never per event).
    public init(node: String, configuration: RedisConfiguration, registry: RunRegistry = RunRegistry(), on loop: EventLoop,
                commandTimeout: Duration = .seconds(10), followBlock: Duration = .seconds(5),
                report: @escaping @Sendable (String) -> Void) {
        self.node = node
        self.commandTimeout = commandTimeout
        self.registry = registry
        self.configuration = configuration
        self.loop = loop
        self.report = report
        client = RedisClient(configuration: configuration, on: loop)
        log = RedisEventLog(client: client, keyPrefix: registry.keyPrefix)
        followers = RunStreamFollowers(log: log, configuration: configuration, on: loop, block: followBlock, report: report)
        subscriber = RedisSubscriber(configuration: configuration, on: loop,
                                     channels: [registry.lobbyChannel, registry.repliesChannel(node: node)])
    }

    /// Subscribes to the lobby channel and waits (at most `timeout`) until the registry is read.
    public func start(waitingUpTo timeout: Duration) async {
        let task = Task(executorPreference: loop) { [self] in
            for await event in subscriber.events {
                switch event {
                case .ready:
                    await refresh()
                case .message(let channel, _, let payload) where channel != registry.lobbyChannel:
                    replied(payload)
                case .message(_, _, let payload):
                    guard let record = RunRegistryRecord(decoding: payload) else {
                        report("lobby channel: a record that does not decode was skipped")
                        continue
                    }
                    heard(record)
                case .state(let state):
                    report("lobby channel: \(state)")
                }
            }
        }
        listening.withLock { $0 = task }
        subscriber.start()
        // Bounded: at most timeout / 20 ms checks.
        let deadline = ContinuousClock.now + timeout
        while !ready.load(ordering: .acquiring), ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(20))
        }
    }

    /// Stops listening and closes the connections; `lobbyChanges` streams end, and `follow`
    /// streams throw `CancellationError`.
    public func stop() async {
        await followers.stop()
        await subscriber.stop()
        await listening.withLock { $0 }?.value
        await client.close()
        for continuation in listeners.withLock({ $0.all.values }) { continuation.finish() }
    }

    // MARK: - RemoteRuns

    public func summaries() -> [RemoteRunSummary] {
        runs.withLock { Array($0.values) }
    }

    public func owner(of runID: String) -> String? {
        runs.withLock { $0[runID]?.node }
    }

    public func lobbyChanges() -> AsyncStream<LobbyMessage.Event> {
        let (stream, continuation) = AsyncStream.makeStream(of: LobbyMessage.Event.self)
        let id = listeners.withLock { listeners in
            listeners.next += 1
            listeners.all[listeners.next] = continuation
            return listeners.next
        }
        continuation.onTermination = { [weak self] _ in _ = self?.listeners.withLock { $0.all.removeValue(forKey: id) } }
        return stream
    }

    public func follow(runID: String) -> AsyncThrowingStream<RemoteRunUpdate, any Error> {
        followers.follow(runID: runID)
    }

    /// Sends a command to the run's owner (`CommandRelay` there) and returns the owner's reply:
    /// its engine's `command_result` (or `error`), or nil when no reply came within
    /// `commandTimeout` (or no relay listens on the owner's channel).
    public func forward(command bytes: [UInt8], runID: String, owner: String) async -> EventEnvelope? {
        let requestID = pending.withLock { pending -> String in
            pending.next += 1
            return "\(node)-\(pending.next)"
        }
        let request = ForwardedCommand(replyNode: node, requestID: requestID, runID: runID, bytes: bytes)
        let channel = registry.commandsChannel(node: owner)
        let (client, timeout) = (self.client, commandTimeout)
        return await withCheckedContinuation { continuation in
            pending.withLock { $0.waiting[requestID] = continuation }
            Task(executorPreference: loop) { [self] in
                do {
                    let reply = try await client.send(RedisCommand("PUBLISH", arguments: [Array(channel.utf8), request.encoded]))
                    if reply.integer == 0 { resolve(requestID, nil) } // nobody listens there
                } catch {
                    resolve(requestID, nil)
                }
                try? await Task.sleep(for: timeout)
                resolve(requestID, nil)
            }
        }
    }

    /// A reply `<request id>\n<envelope>` on this node's replies channel.
    private func replied(_ payload: [UInt8]) {
        guard let newline = payload.firstIndex(of: UInt8(ascii: "\n")),
              let envelope = try? ProtocolDecoder.decodeEnvelope(Array(payload[(newline + 1)...])) else {
            report("replies channel: a reply that does not decode was skipped")
            return
        }
        resolve(String(decoding: payload[..<newline], as: UTF8.self), envelope)
    }

    /// Answers a waiting `forward` once (later answers find nothing).
    private func resolve(_ requestID: String, _ reply: EventEnvelope?) {
        pending.withLock { $0.waiting.removeValue(forKey: requestID) }?.resume(returning: reply)
    }

    // MARK: - The registry

    /// Reads the whole registry (after each subscription, so nothing published since is missed).
    private func refresh() async {
        do {
            let reply = try await client.send(RedisCommand("HGETALL", registry.runsKey))
            var fresh: [String: RemoteRunSummary] = [:]
            for (_, value) in reply.hashPairs {
                guard let bytes = value.bytes, let record = RunRegistryRecord(decoding: bytes), record.node != node,
                      let run = record.summary else { continue }
                fresh[run.dagID] = RemoteRunSummary(node: record.node, run: run)
            }
            runs.withLock { runs in
                for (runID, known) in runs { if let newer = fresh[runID] { fresh[runID] = Self.forward(known, newer) } }
                runs = fresh
            }
            ready.store(true, ordering: .releasing)
        } catch {
            report("run registry: reading \(registry.runsKey) failed: \(error)")
        }
    }

    /// Applies one published change, then tells the lobbies (after, so a lobby listing taken
    /// in between already has it).
    private func heard(_ record: RunRegistryRecord) {
        guard record.node != node, let runID = record.dagID else { return }
        runs.withLock { runs in
            if let run = record.summary {
                let heard = RemoteRunSummary(node: record.node, run: run)
                runs[runID] = runs[runID].map { Self.forward($0, heard) } ?? heard
            } else {
                runs[runID] = nil
            }
        }
        for continuation in listeners.withLock({ Array($0.all.values) }) { continuation.yield(record.message.event) }
    }

    /// The later of two records of a run: finished wins over running; a live run's record from
    /// another node is its new owner's (a failover: the old owner is dead or fenced and announces
    /// nothing more, and its records were published before the new owner's lease could exist);
    /// otherwise the higher `last_seq`. (The new owner's first record may carry a lower
    /// `last_seq` than the old owner's last: it is its mirror's top after its first pipeline.)
    static func forward(_ known: RemoteRunSummary, _ heard: RemoteRunSummary) -> RemoteRunSummary {
        if known.run.finished && !heard.run.finished { return known }
        if !known.run.finished && known.node != heard.node { return heard }
        if known.run.finished == heard.run.finished && known.run.lastSeq > heard.run.lastSeq { return known }
        return heard
    }
}
