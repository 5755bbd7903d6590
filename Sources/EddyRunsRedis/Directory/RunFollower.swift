import EddyDAG
import EddyDAGRedis
import EddyDAGStream
import EddyLoop
import EddyRedis
import EddyRedisCore

/// Reads one run's stream for `RedisRunDirectory.follow`: its entries from the start, then
/// live ones with `XREAD BLOCK` from the last id yielded, until `execution_complete` or
/// cancellation (which closes the blocking connection).
struct RunFollower: Sendable {
    let runID: String
    let streamKey: String
    let log: RedisEventLog
    let configuration: RedisConfiguration
    let loop: EventLoop
    let report: @Sendable (String) -> Void
    /// How long one `XREAD` blocks before it is sent again (an idle connection is thus checked).
    var block: Duration = .seconds(5)

    func run(_ yield: @Sendable (RemoteRunUpdate) -> Void) async throws {
        var cursor: Int64 = 0
        var finished = false
        for entry in try await log.entries(runID: runID, after: 0) {
            yield(.event(entry.encoded, entry.envelope))
            cursor = entry.seq
            if case .executionComplete = entry.envelope.event { finished = true }
        }
        yield(.caughtUp)
        var failures = 0
        // Bounded by the run's end and by cancellation; every failure waits a backoff first.
        while !finished, !Task.isCancelled {
            do {
                let connection = try await RedisConnection.connect(configuration, on: loop)
                defer { Task { await connection.close() } }
                try await withTaskCancellationHandler {
                    while !finished {
                        try Task.checkCancellation()
                        let milliseconds = String(block.components.seconds * 1000)
                        let reply = try await connection.send(
                            RedisCommand("XREAD", "COUNT", "512", "BLOCK", milliseconds, "STREAMS", streamKey, "\(cursor)-1"),
                            timeout: block + configuration.commandTimeout)
                        failures = 0
                        for raw in reply.streamReadEntries {
                            let entry = try StreamEntry(raw, runID: runID, after: cursor)
                            yield(.event(entry.encoded, entry.envelope))
                            cursor = entry.seq
                            if case .executionComplete = entry.envelope.event { finished = true }
                        }
                    }
                } onCancel: {
                    Task { await connection.close() }
                }
            } catch where Task.isCancelled {
                throw CancellationError()
            } catch {
                // A malformed entry: reading on would not help.
                if let error = error as? RedisError, case .server = error { throw error }
                failures += 1
                if failures == 1 { report("run \(runID): following its stream: \(error); reconnecting") }
                try await Task.sleep(for: configuration.backoff.delay(afterFailures: failures))
            }
        }
    }
}
