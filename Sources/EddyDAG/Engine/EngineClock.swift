import Foundation

/// The engine's source of time: wall-clock timestamps for `ts` and durations, and sleeping for
/// backoff and timeouts. Injectable so tests can make backoff instant.
///
/// Guarantees: the engine reads time and sleeps only through this value.
public struct EngineClock: Sendable {
    /// Milliseconds since the Unix epoch.
    public var now: @Sendable () -> Int64
    /// Suspends for the duration; throws `CancellationError` when the sleeping task is cancelled.
    public var sleep: @Sendable (Duration) async throws -> Void

    public init(now: @escaping @Sendable () -> Int64, sleep: @escaping @Sendable (Duration) async throws -> Void) {
        self.now = now
        self.sleep = sleep
    }

    /// Wall clock and `Task.sleep`.
    public static let system = EngineClock(
        now: { Int64((Date().timeIntervalSince1970 * 1000).rounded(.down)) },
        sleep: { try await Task.sleep(for: $0) })
}
