/// Thrown by `withTimeout` when the operation did not finish in time.
public struct TimeoutError: Error, Hashable, CustomStringConvertible, Sendable {
    /// The limit that was exceeded.
    public let timeout: Duration
    public init(timeout: Duration) { self.timeout = timeout }
    public var description: String { "operation timed out after \(timeout)" }
}

extension EventLoop {
    /// Runs `operation` with a time limit measured by this loop's timers.
    ///
    /// When the limit passes first, `operation`'s task is cancelled (so whatever it owns is
    /// closed), awaited, and `TimeoutError` is thrown. Both child tasks prefer this loop.
    public func withTimeout<Result: Sendable>(
        _ timeout: Duration,
        operation: @escaping @Sendable () async throws -> Result
    ) async throws -> Result {
        try await withThrowingTaskGroup(of: Result?.self) { group in
            group.addTask(executorPreference: self) { try await operation() }
            group.addTask(executorPreference: self) {
                try await self.sleep(for: timeout)
                return nil
            }
            defer { group.cancelAll() }
            guard let first = try await group.next() else { throw TimeoutError(timeout: timeout) }
            guard let result = first else { throw TimeoutError(timeout: timeout) }
            return result
        }
    }
}
