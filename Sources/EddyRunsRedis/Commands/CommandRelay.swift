public import EddyDAG
public import EddyLoop
public import EddyRedis
import EddyRedisCore

/// The owner's side of commands across nodes: answers the commands other nodes forward to
/// this node (`RedisRunDirectory.forward`) with this node's engine, and sends each reply back
/// to the node that asked.
///
/// Channels: requests arrive on `<prefix>commands:<node>` as `ForwardedCommand`s; each reply
/// (`<request id>\n<envelope JSON>`) goes to `<prefix>replies:<asking node>`.
///
/// Guarantees: every request that arrives is applied once, by `engine.handleClientMessage`,
/// in arrival order, so first-decision-wins holds across nodes exactly as on one node (the
/// engine decides); its reply is published once. Pub/sub is at most once: a request or a
/// reply lost with a connection is not retried (the asking node answers its dashboard that
/// no reply came).
public final class CommandRelay: Sendable {
    public let node: String
    public let engine: DAGEngine
    public let registry: RunRegistry
    private let subscriber: RedisSubscriber
    private let client: RedisClient
    private let loop: EventLoop
    private let report: @Sendable (String) -> Void
    private let listening = MutexBox<Task<Void, Never>?>(nil)

    public init(engine: DAGEngine, node: String, configuration: RedisConfiguration, registry: RunRegistry = RunRegistry(),
                on loop: EventLoop, report: @escaping @Sendable (String) -> Void) {
        self.engine = engine
        self.node = node
        self.registry = registry
        self.loop = loop
        self.report = report
        client = RedisClient(configuration: configuration, on: loop)
        subscriber = RedisSubscriber(configuration: configuration, on: loop, channels: [registry.commandsChannel(node: node)])
    }

    /// Subscribes and answers requests until `stop()`.
    public func start() {
        let task = Task(executorPreference: loop) { [self] in
            for await event in subscriber.events {
                guard case .message(_, _, let payload) = event else { continue }
                guard let request = ForwardedCommand(decoding: payload) else {
                    report("command relay: a request that does not decode was skipped")
                    continue
                }
                let reply = await engine.handleClientMessage(request.bytes, runID: request.runID)
                let answer = Array(request.requestID.utf8) + [UInt8(ascii: "\n")] + reply.jsonBytes
                do {
                    _ = try await client.send(RedisCommand("PUBLISH", arguments: [
                        Array(registry.repliesChannel(node: request.replyNode).utf8), answer]))
                } catch {
                    report("command relay: the reply to \(request.replyNode) was lost: \(error)")
                }
            }
        }
        listening.set(task)
        subscriber.start()
    }

    /// Stops answering: closes the subscription, waits for the listening task to end, then
    /// closes the connection replies are published on.
    public func stop() async {
        await subscriber.stop()
        await listening.get()?.value
        await client.close()
    }
}

/// A command forwarded to a run's owner: `<asking node>\n<request id>\n<run id>\n<command JSON>`.
///
/// Guarantees: `init(decoding:)` never traps; nil unless all four parts are there.
public struct ForwardedCommand: Sendable, Hashable {
    /// The node that asked, whose replies channel gets the answer.
    public var replyNode: String
    /// Matches the reply to the asking node's waiting `forward`.
    public var requestID: String
    /// The run the command is for.
    public var runID: String
    /// The dashboard's command, as JSON bytes.
    public var bytes: [UInt8]

    public init(replyNode: String, requestID: String, runID: String, bytes: [UInt8]) {
        self.replyNode = replyNode
        self.requestID = requestID
        self.runID = runID
        self.bytes = bytes
    }

    /// The published form: the four parts joined by `\n`.
    public var encoded: [UInt8] { Array("\(replyNode)\n\(requestID)\n\(runID)\n".utf8) + bytes }

    /// Decodes `payload`; nil unless it holds all four parts, the first three non-empty.
    public init?(decoding payload: [UInt8]) {
        let parts = payload.split(separator: UInt8(ascii: "\n"), maxSplits: 3, omittingEmptySubsequences: false)
        guard parts.count == 4, !parts[0].isEmpty, !parts[1].isEmpty, !parts[2].isEmpty else { return nil }
        self.init(replyNode: String(decoding: parts[0], as: UTF8.self), requestID: String(decoding: parts[1], as: UTF8.self),
                  runID: String(decoding: parts[2], as: UTF8.self), bytes: Array(parts[3]))
    }
}

extension RunRegistry {
    /// Where commands for `node`'s runs are sent.
    public func commandsChannel(node: String) -> String { keyPrefix + "commands:" + node }
    /// Where replies to `node`'s forwarded commands are sent.
    public func repliesChannel(node: String) -> String { keyPrefix + "replies:" + node }
}
