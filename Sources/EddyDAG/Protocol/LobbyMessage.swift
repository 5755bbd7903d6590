/// A message of the lobby stream (`GET /api/dags/stream`): the runs listing first, then every
/// run that starts, finishes or is deleted by retention, as it happens, and heartbeats.
///
/// Guarantees: the listing and the events after it are taken atomically with the engine's
/// publication, so applying them in order gives the engine's current runs, with no run missed
/// or reported twice. Encoding is canonical (keys in the documented order,
/// `docs/protocol.md`); decoding never traps.
public struct LobbyMessage: Sendable, Hashable {
    public enum Event: Sendable, Hashable {
        /// Every run the engine knows, oldest first. Always the first message.
        case runs([RunSummary])
        case runStarted(RunSummary)
        case runFinished(RunSummary)
        /// The run's history was deleted by the event log's retention policy.
        case runRemoved(dagID: String)
        case heartbeat
    }

    public var epoch: Int64
    public var ts: Int64
    public var event: Event
    /// The engine's order of lobby messages (not sent on the wire; 0 when decoded): a `runs`
    /// listing reflects every message with a serial up to its own, so a sender that sends a
    /// fresh listing skips queued messages at or below it.
    public var serial: UInt64

    public init(epoch: Int64, ts: Int64, event: Event, serial: UInt64 = 0) {
        self.epoch = epoch
        self.ts = ts
        self.event = event
        self.serial = serial
    }

    /// The wire `type`.
    public var typeName: String {
        switch event {
        case .runs: "runs"
        case .runStarted: "run_started"
        case .runFinished: "run_finished"
        case .runRemoved: "run_removed"
        case .heartbeat: "heartbeat"
        }
    }

    /// The canonical JSON: `{"v":1,"type":…,"epoch":…,"ts":…,` then `runs`, `run` or `dag_id`.
    public var jsonBytes: [UInt8] {
        var w = JSONWriter(reservingCapacity: 128)
        w.writeRaw("{\"v\":")
        w.writeInt(EventEnvelope.protocolVersion)
        w.writeRaw(",\"type\":")
        w.writeString(typeName)
        w.writeRaw(",\"epoch\":")
        w.writeInt(epoch)
        w.writeRaw(",\"ts\":")
        w.writeInt(ts)
        switch event {
        case .runs(let runs):
            w.writeRaw(",\"runs\":[")
            for (i, run) in runs.enumerated() {
                if i > 0 { w.writeRaw(",") }
                Self.write(run, into: &w)
            }
            w.writeRaw("]")
        case .runStarted(let run), .runFinished(let run):
            w.writeRaw(",\"run\":")
            Self.write(run, into: &w)
        case .runRemoved(let dagID):
            w.writeRaw(",\"dag_id\":")
            w.writeString(dagID)
        case .heartbeat:
            break
        }
        w.writeRaw("}")
        return w.bytes
    }

    /// `{"dag_id":…,"finished":…,"status":…|null,"last_seq":…}`
    public static func write(_ run: RunSummary, into w: inout JSONWriter) {
        w.writeRaw("{\"dag_id\":")
        w.writeString(run.dagID)
        w.writeRaw(run.finished ? ",\"finished\":true,\"status\":" : ",\"finished\":false,\"status\":")
        if let status = run.status { w.writeString(status.rawValue) } else { w.writeRaw("null") }
        w.writeRaw(",\"last_seq\":")
        w.writeInt(run.lastSeq)
        w.writeRaw("}")
    }

    /// Decodes a lobby message.
    public init(decoding bytes: [UInt8]) throws(ProtocolError) {
        let o = try ProtocolDecoder.object(bytes)
        try ProtocolDecoder.checkVersion(o)
        let type = try o.string("type")
        let event: Event
        switch type {
        case "runs":
            var runs: [RunSummary] = []
            for (i, value) in try o.array("runs").enumerated() {
                guard case .object(let members) = value else { throw .invalidField("runs[\(i)]", "must be an object") }
                runs.append(try Self.summary(Fields(members: members, path: "runs[\(i)].")))
            }
            event = .runs(runs)
        case "run_started": event = .runStarted(try Self.summary(try o.object("run")))
        case "run_finished": event = .runFinished(try Self.summary(try o.object("run")))
        case "run_removed": event = .runRemoved(dagID: try o.string("dag_id"))
        case "heartbeat": event = .heartbeat
        default: throw .unknownType(type)
        }
        self.init(epoch: try o.int("epoch"), ts: try o.int("ts"), event: event)
    }

    private static func summary(_ o: Fields) throws(ProtocolError) -> RunSummary {
        RunSummary(
            dagID: try o.string("dag_id"),
            finished: try o.optionalBool("finished") ?? false,
            status: try o.optionalString("status").map { (raw) throws(ProtocolError) -> ExecutionStatus in
                guard let status = ExecutionStatus(rawValue: raw) else { throw .invalidField(o.path + "status", "unknown status '\(raw)'") }
                return status
            },
            lastSeq: try o.int("last_seq"))
    }
}
