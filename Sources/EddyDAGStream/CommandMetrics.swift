import CoreMetrics
import EddyDAG

/// `eddy_commands_total{status}`: dashboard commands by the status of their `command_result`
/// (`accepted`, `rejected`, `duplicate`, `conflict`), or `error` for a message that was not a
/// command. Recorded through swift-metrics once per command (commands are rate-limited per
/// dashboard, so this is not a hot path).
enum CommandMetrics {
    private static let results: [CommandResult.Status: Counter] = Dictionary(uniqueKeysWithValues: CommandResult.Status.allCases.map {
        ($0, Counter(label: "eddy_commands_total", dimensions: [("status", $0.rawValue)]))
    })
    private static let errors = Counter(label: "eddy_commands_total", dimensions: [("status", "error")])

    /// Counts the reply to one command.
    static func record(_ reply: EventEnvelope) {
        if case .commandResult(let result) = reply.event {
            results[result.status]?.increment()
        } else {
            errors.increment()
        }
    }
}
