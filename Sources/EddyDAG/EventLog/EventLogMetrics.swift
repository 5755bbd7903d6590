import CoreMetrics

/// The event log's and the runs' metrics, recorded through swift-metrics by the log's writer
/// thread after each group commit: append latency and batch size, runs started, live and
/// finished by outcome, node state changes by state. One thread records them, once per commit
/// (not per dashboard or message), so the backend's atomics are never contended.
struct EventLogMetrics {
    private let appendDuration = CoreMetrics.Timer(label: "eddy_event_log_append_duration_seconds")
    private let batchEvents = Recorder(label: "eddy_event_log_batch_events")
    private let runsStarted = Counter(label: "eddy_runs_started_total")
    private let runsLive = Meter(label: "eddy_runs_live")
    private let runsFinished: [ExecutionStatus: Counter]
    private let nodeStates: [NodeStatus: Counter]

    init() {
        // The outcomes a finished run is logged with (not running, paused, cancelling).
        let outcomes: [ExecutionStatus] = [.completed, .failed, .cancelled, .budgetExceeded, .interrupted]
        runsFinished = Dictionary(uniqueKeysWithValues: outcomes.map {
            ($0, Counter(label: "eddy_runs_finished_total", dimensions: [("outcome", $0.rawValue)]))
        })
        nodeStates = Dictionary(uniqueKeysWithValues: NodeStatus.allCases.map {
            ($0, Counter(label: "eddy_node_state_changes_total", dimensions: [("state", $0.rawValue)]))
        })
    }

    /// Records a committed batch that took `duration` from BEGIN to COMMIT.
    func committed(_ batch: [WriteOperation], duration: Duration) {
        appendDuration.recordNanoseconds(duration.nanoseconds)
        var events = 0
        for operation in batch {
            switch operation {
            case .runStarted:
                runsStarted.increment()
                runsLive.increment()
            case .runFinished(_, let status, _):
                runsFinished[status]?.increment()
                runsLive.decrement()
            case .event(let event):
                events += 1
                if case .nodeState(let state) = event.envelope.event { nodeStates[state.status]?.increment() }
            case .barrier:
                break
            }
        }
        if events > 0 { batchEvents.record(events) }
    }
}

extension Duration {
    /// Whole nanoseconds (saturating).
    var nanoseconds: Int64 {
        let (seconds, attoseconds) = components
        let (scaled, overflow) = seconds.multipliedReportingOverflow(by: 1_000_000_000)
        return overflow ? .max : scaled + attoseconds / 1_000_000_000
    }
}
