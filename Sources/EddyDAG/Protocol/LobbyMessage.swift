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
        var writer = JSONWriter(reservingCapacity: 128)
        writer.writeRaw("{\"v\":")
        writer.writeInt(EventEnvelope.protocolVersion)
        writer.writeRaw(",\"type\":")
        writer.writeString(typeName)
        writer.writeRaw(",\"epoch\":")
        writer.writeInt(epoch)
        writer.writeRaw(",\"ts\":")
        writer.writeInt(ts)
        switch event {
        case .runs(let runs):
            writer.writeRaw(",\"runs\":[")
            for (index, run) in runs.enumerated() {
                if index > 0 { writer.writeRaw(",") }
                Self.write(run, into: &writer)
            }
            writer.writeRaw("]")
        case .runStarted(let run), .runFinished(let run):
            writer.writeRaw(",\"run\":")
            Self.write(run, into: &writer)
        case .runRemoved(let dagID):
            writer.writeRaw(",\"dag_id\":")
            writer.writeString(dagID)
        case .heartbeat:
            break
        }
        writer.writeRaw("}")
        return writer.bytes
    }

    /// `{"dag_id":…,"finished":…,"status":…|null,"last_seq":…}`
    public static func write(_ run: RunSummary, into writer: inout JSONWriter) {
        writer.writeRaw("{\"dag_id\":")
        writer.writeString(run.dagID)
        writer.writeRaw(run.finished ? ",\"finished\":true,\"status\":" : ",\"finished\":false,\"status\":")
        if let status = run.status { writer.writeString(status.rawValue) } else { writer.writeRaw("null") }
        writer.writeRaw(",\"last_seq\":")
        writer.writeInt(run.lastSeq)
        writer.writeRaw("}")
    }

    /// Decodes a lobby message.
    public init(decoding bytes: [UInt8]) throws(ProtocolError) {
        let fields = try ProtocolDecoder.object(bytes)
        try ProtocolDecoder.checkVersion(fields)
        let type = try fields.string("type")
        let event: Event
        switch type {
        case "runs":
            var runs: [RunSummary] = []
            for (index, value) in try fields.array("runs").enumerated() {
                guard case .object(let members) = value else { throw .invalidField("runs[\(index)]", "must be an object") }
                runs.append(try Self.summary(Fields(members: members, path: "runs[\(index)].")))
            }
            event = .runs(runs)
        case "run_started": event = .runStarted(try Self.summary(try fields.object("run")))
        case "run_finished": event = .runFinished(try Self.summary(try fields.object("run")))
        case "run_removed": event = .runRemoved(dagID: try fields.string("dag_id"))
        case "heartbeat": event = .heartbeat
        default: throw .unknownType(type)
        }
        self.init(epoch: try fields.int("epoch"), ts: try fields.int("ts"), event: event)
    }

    private static func summary(_ fields: Fields) throws(ProtocolError) -> RunSummary {
        RunSummary(
            dagID: try fields.string("dag_id"),
            finished: try fields.optionalBool("finished") ?? false,
            status: try fields.optionalString("status").map { (raw) throws(ProtocolError) -> ExecutionStatus in
                guard let status = ExecutionStatus(rawValue: raw) else { throw .invalidField(fields.path + "status", "unknown status '\(raw)'") }
                return status
            },
            lastSeq: try fields.int("last_seq"))
    }
}
