import Foundation

/// Runs blocking work (waiting for a child process, reading a pipe to its end) on a thread of
/// its own and returns its result.
///
/// Guarantee: the work never occupies one of Swift's cooperative threads. There are as many
/// of those as cores (two here), so two tests blocking them at once would starve every actor
/// and task of the process, including the engine the child process is waiting for.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () throws -> T) async throws -> T {
    try await withCheckedThrowingContinuation { continuation in
        Thread { continuation.resume(with: Result { try body() }) }.start()
    }
}

/// `onOwnThread` for work that cannot fail.
public func onOwnThread<T: Sendable>(_ body: @escaping @Sendable () -> T) async -> T {
    await withCheckedContinuation { continuation in
        Thread { continuation.resume(returning: body()) }.start()
    }
}
