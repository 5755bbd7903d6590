/// Errors of the engine and its event log.
///
/// Guarantees: a readable `description`; storage failures carry SQLite's message (meant for
/// operators' logs, not for untrusted peers).
public struct DAGEngineError: Error, Sendable, Hashable, CustomStringConvertible {
    private enum Base: Sendable, Hashable {
        case unknownRun(String)
        case runAlreadyExists(String)
        case storage(String)
        case closed
        case tooManyLiveRuns(Int)
        case notAdoptable(String)
        case replicationRefused(String)
    }
    private let base: Base
    private init(_ base: Base) { self.base = base }

    static func unknownRun(_ id: String) -> DAGEngineError { DAGEngineError(.unknownRun(id)) }
    static func runAlreadyExists(_ id: String) -> DAGEngineError { DAGEngineError(.runAlreadyExists(id)) }
    static func storage(_ message: String) -> DAGEngineError { DAGEngineError(.storage(message)) }
    static let closed = DAGEngineError(.closed)
    static func tooManyLiveRuns(limit: Int) -> DAGEngineError { DAGEngineError(.tooManyLiveRuns(limit)) }
    static func notAdoptable(_ reason: String) -> DAGEngineError { DAGEngineError(.notAdoptable(reason)) }
    static func replicationRefused(_ reason: String) -> DAGEngineError { DAGEngineError(.replicationRefused(reason)) }

    /// Whether the run id is not known to the engine or its log.
    public var isUnknownRun: Bool {
        if case .unknownRun = base { return true }
        return false
    }

    /// Whether a run with that id already exists.
    public var isRunAlreadyExists: Bool {
        if case .runAlreadyExists = base { return true }
        return false
    }

    /// Whether `start` was refused because the engine's `maxLiveRuns` runs are live.
    public var isTooManyLiveRuns: Bool {
        if case .tooManyLiveRuns = base { return true }
        return false
    }

    /// Whether ``DAGEngine/adopt(_:runID:history:)`` refused the run's history (see the reason).
    public var isNotAdoptable: Bool {
        if case .notAdoptable = base { return true }
        return false
    }

    public var description: String {
        switch base {
        case .unknownRun(let id): return "unknown run '\(id)'"
        case .runAlreadyExists(let id): return "a run named '\(id)' already exists"
        case .storage(let message): return "event log storage error: \(message)"
        case .closed: return "the event log is closed"
        case .notAdoptable(let reason): return "the run cannot be adopted: \(reason)"
        case .replicationRefused(let reason): return "the log of record cannot be attached: \(reason)"
        case .tooManyLiveRuns(let limit): return "\(limit) runs are live, the engine's limit (maxLiveRuns): start again when one finishes"
        }
    }
}
