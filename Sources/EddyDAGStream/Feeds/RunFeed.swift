import EddyDAG
import EddyLoop
import EddyRooms
import EddyWebSocket

/// Publishes one run into its room while dashboards watch it: every logged event at its
/// `seq`, framed (and compressed) once for all of them by the `FrameCache`, and a
/// `heartbeat` every interval.
///
/// Guarantees: one engine subscription per run however many dashboards, on however many
/// loops, watch it; from its creation on, every logged event of the run is published, in
/// order (the subscription is atomic with the engine's publication). When the run's
/// subscription ends (the run finished, or the engine stopped), `isRunning` turns false;
/// heartbeats go on until `stop()`.
final class RunFeed: RoomFeed {
    private let running = FeedLiveness()
    private let forwarding: Task<Void, Never>
    private let heartbeat: ScheduledWork

    /// Subscribes to the run (so the feed publishes everything after this call) and starts
    /// forwarding; heartbeats run on `loop`.
    ///
    /// The forwarding task runs on the global executor, not on a loop: a loop busy writing a
    /// burst to thousands of dashboards would hold every committed event back for that long
    /// before the rooms even saw it, and then each shard's loop would again (one wait where
    /// there need be none). From the global executor a publish reaches every shard's loop
    /// directly, in order (`RoomRegistry.publish` is callable from anywhere), and the event's
    /// framing and compression run off the loops.
    init(runID: String, room: String, engine: DAGEngine, frames: FrameCache, rooms: RoomRegistry,
         heartbeatInterval: Duration, on loop: EventLoop) throws(DAGEngineError) {
        let subscription = try engine.subscribeEncoded(runID: runID)
        let running = self.running
        forwarding = Task(executorPreference: globalConcurrentExecutor) {
            for await event in subscription {
                guard event.isLogged else { continue } // the subscription's own start (a snapshot)
                rooms.publish(frames.prepared(forLogged: event), to: room, position: event.seq)
            }
            running.end()
        }
        heartbeat = loop.scheduleRepeating(every: heartbeatInterval) {
            // Safe to drop: the only failure is a run the engine no longer knows (forgotten);
            // its feed is being taken down and has nobody left to tell.
            guard let beat = try? engine.heartbeat(runID: runID) else { return }
            // Not positioned: every dashboard gets it, whatever it already has.
            rooms.publish(PreparedMessage(utf8Text: beat.jsonBytes), to: room)
        }
    }

    var isRunning: Bool { running.isLive }

    func stop() {
        forwarding.cancel()
        heartbeat.cancel()
    }
}
