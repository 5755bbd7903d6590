import EddyDAG
import EddyRooms
import EddyWebSocket

/// Runs other nodes own (`RemoteRuns`): listed with this node's, streamed from their
/// owner's mirrored log through the same rooms and outboxes as local runs.
extension DAGStreamGateway {
    /// This node's runs, then other nodes' (a run id both know is listed once: as this node's,
    /// unless ``servesRemote(local:)`` says its copy here is not the one to show).
    static func withRemote(_ local: [RunSummary], _ remote: (any RemoteRuns)?) -> [RunSummary] {
        guard let remote else { return local }
        let others = remote.summaries().map(\.run)
        let elsewhere = Set(others.map(\.dagID))
        let mine = local.filter { !elsewhere.contains($0.dagID) || !servesRemote(localStatus: $0.status, finished: $0.finished) }
        let known = Set(mine.map(\.dagID))
        return mine + others.filter { !known.contains($0.dagID) }.sorted { $0.dagID < $1.dagID }
    }

    /// Whether a run another node announced as its own is served from that node's log rather
    /// than from this node's copy (`local`, nil when this node does not know the run): when this
    /// node has no copy, or its copy ended `interrupted` — this node died or lost its lease while
    /// running it, and the other node took it over (failover), so its log goes on there.
    static func servesRemote(local: DAGStateStore?) -> Bool {
        guard let local else { return true }
        return servesRemote(localStatus: local.state.status, finished: local.isFinished)
    }

    private static func servesRemote(localStatus: ExecutionStatus?, finished: Bool) -> Bool {
        finished && localStatus == .interrupted
    }

    /// A lobby listing with other nodes' runs added (same serial: the serial orders this node's messages).
    static func withRemote(_ listing: LobbyMessage, _ remote: (any RemoteRuns)?) -> LobbyMessage {
        guard let remote, case .runs(let runs) = listing.event else { return listing }
        return LobbyMessage(epoch: listing.epoch, ts: listing.ts, event: .runs(withRemote(runs, remote)), serial: listing.serial)
    }

    /// One dashboard of a run `owner` executes: joins the run's room once the remote feed
    /// holds the run's log, at the feed's head; operators' commands go to the owner.
    func remoteStream(_ socket: WebSocket, dagID: String, owner: String, resume: ResumePoint?, role: StreamRole,
                      source: any RemoteRuns) async throws {
        let (frames, rooms, logger, engine) = (self.frames, self.rooms, self.logger, self.engine)
        let room = Self.runRoom(dagID)
        let maxReplay = configuration.outboxLimits.maxMessages
        let interval = configuration.heartbeatInterval
        let loop = socket.eventLoop
        try feeds.retain(room) { [self] in
            let feed = RemoteRunFeed(runID: dagID, owner: owner, room: room, source: source, frames: frames, rooms: rooms,
                                     window: maxReplay, heartbeatInterval: interval, logger: logger,
                                     now: { engine.log.currentTime }, on: loop)
            self.remoteFeeds.withLock { $0[dagID] = feed }
            return feed
        }
        let feed = remoteFeeds.withLock { $0[dagID] }
        defer {
            feeds.release(room)
            // Forget the feed once nobody watches, unless a newer one replaced it meanwhile
            // (RoomFeeds's lock is never taken under this one: `retain` nests them the other way).
            if feeds.members(of: room) == 0 {
                remoteFeeds.withLock { if let current = $0[dagID], current === feed { $0[dagID] = nil } }
            }
        }
        guard let feed, await feed.waitUntilCaughtUp() else {
            _ = await socket.close(code: .internalError, reason: "run \(dagID): its log on node \(owner) cannot be read")
            return
        }
        let floor = MemberFloor()
        let outbox = Outbox(socket: socket, policy: .catchUp, limits: configuration.outboxLimits) {
            guard let snapshot = feed.snapshot(ts: engine.log.currentTime) else { return nil }
            floor.raise(to: snapshot.seq)
            return frames.prepare(snapshot).frame(for: socket)
        }
        try await rooms.serve(outbox, in: room, floor: floor, startingAt: {
            guard let start = feed.start(after: resume, maxReplay: maxReplay, ts: engine.log.currentTime) else {
                throw RemoteRunError.gap(expected: 1, received: 0)
            }
            let windowBits = outbox.socket.sharedCompressionWindowBits
            for event in start.replay ?? [] {
                outbox.offer(frame: frames.prepared(forLogged: event).frame(forSharedWindowBits: windowBits))
            }
            if let snapshot = start.snapshot {
                outbox.offer(frame: frames.prepare(snapshot).frame(forSharedWindowBits: windowBits))
            }
            return start.head
        }) {
            joined.add(1, ordering: .relaxed)
            defer { joined.subtract(1, ordering: .relaxed) }
            try await forwardCommands(socket, outbox: outbox, feed: feed, role: role, source: source)
        }
    }

    /// Sends operators' commands to the run's owner (the directory's current one: it changes
    /// at a failover; this node's engine once it adopted the run) and queues its reply; viewers' commands,
    /// those over the rate limit and those read after `closeAll` are refused here, as for a
    /// local run. An owner that does not answer gets the command a `rejected` saying so.
    private func forwardCommands(_ socket: WebSocket, outbox: Outbox, feed: RemoteRunFeed, role: StreamRole,
                                 source: any RemoteRuns) async throws {
        // At the run's head as this node knows it.
        func refuse(_ bytes: [UInt8], _ reason: String) -> EventEnvelope {
            let head = feed.head
            return rejection(bytes, dagID: feed.runID, epoch: head.epoch, seq: head.seq, reason: reason)
        }
        let engine = self.engine
        try await answerCommands(socket, outbox: outbox, role: role, refuse: refuse, apply: { bytes in
            // After a failover the run may have a new owner, possibly this node (it adopted the run).
            if (try? engine.state(runID: feed.runID)) != nil { return await engine.handleClientMessage(bytes, runID: feed.runID) }
            let owner = source.owner(of: feed.runID) ?? feed.owner
            return await source.forward(command: bytes, runID: feed.runID, owner: owner) ?? refuse(bytes,
                "node \(owner), which runs \(feed.runID), did not answer in time: the command may or may not have been applied")
        })
    }
}
