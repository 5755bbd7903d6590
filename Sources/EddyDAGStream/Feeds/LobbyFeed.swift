import EddyDAG
import EddyLoop
import EddyRooms
import EddyWebSocket

/// Publishes the lobby into its room while anyone watches it: every run starting, finishing
/// or being removed, at its lobby serial, encoded once for all watchers, and a `heartbeat`
/// every interval.
///
/// Guarantees: one engine lobby subscription however many watchers; from its creation on,
/// every lobby message is published, in order. With `remote`, other nodes' lobby changes are
/// published too, unpositioned (each after the remote listing reflects it, so a watcher may
/// get one twice, never miss one; the dashboard upserts by `dag_id`). `isRunning` turns false when the engine
/// stops; heartbeats go on until `stop()`.
final class LobbyFeed: RoomFeed {
    private let running = FeedLiveness()
    private let forwarding: Task<Void, Never>
    private let heartbeat: ScheduledWork
    private let remoteForwarding: Task<Void, Never>?

    init(room: String, engine: DAGEngine, rooms: RoomRegistry, heartbeatInterval: Duration,
         remote: (any RemoteRuns)? = nil, on loop: EventLoop) throws(DAGEngineError) {
        let subscription = try engine.subscribeLobby()
        let running = self.running
        forwarding = Task(executorPreference: loop) {
            var first = true
            for await message in subscription {
                // The subscription starts with a listing; every watcher joins with its own.
                if first {
                    first = false
                    continue
                }
                rooms.publish(PreparedMessage(utf8Text: message.jsonBytes), to: room, position: Int64(message.serial))
            }
            running.end()
        }
        remoteForwarding = remote.map { remote in
            let changes = remote.lobbyChanges()
            return Task(executorPreference: loop) {
                for await change in changes {
                    let message = LobbyMessage(epoch: engine.epoch, ts: engine.log.currentTime, event: change)
                    rooms.publish(PreparedMessage(utf8Text: message.jsonBytes), to: room)
                }
            }
        }
        heartbeat = loop.scheduleRepeating(every: heartbeatInterval) {
            let beat = LobbyMessage(epoch: engine.epoch, ts: engine.log.currentTime, event: .heartbeat)
            rooms.publish(PreparedMessage(utf8Text: beat.jsonBytes), to: room)
        }
    }

    var isRunning: Bool { running.isLive }

    func stop() {
        forwarding.cancel()
        remoteForwarding?.cancel()
        heartbeat.cancel()
    }
}
