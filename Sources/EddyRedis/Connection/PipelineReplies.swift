import EddyRedisCore

/// The replies of one `pipeline` call, filled in on the connection's loop; resumes its
/// caller once, with all of them or with the connection's failure.
final class PipelineReplies {
    private var replies: [RESPValue]
    private var remaining: Int
    private var continuation: CheckedContinuation<[RESPValue], any Error>?

    init(count: Int, continuation: CheckedContinuation<[RESPValue], any Error>) {
        self.replies = Array(repeating: .null, count: count)
        self.remaining = count
        self.continuation = continuation
    }

    func set(_ reply: RESPValue, at index: Int) {
        replies[index] = reply
        remaining -= 1
        if remaining == 0 {
            continuation?.resume(returning: replies)
            continuation = nil
        }
    }

    func fail(_ error: RedisError) {
        continuation?.resume(throwing: error)
        continuation = nil
    }
}
