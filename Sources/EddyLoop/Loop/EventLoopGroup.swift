import CEddyShims
import CLibUV
import Synchronization

/// A fixed set of event loops, one thread each, handed out round robin.
///
/// Guarantees: `next()` is lock-free and spreads consecutive calls evenly; `shutdown()`
/// shuts every loop down in order and reports whether each stopped clean.
public final class EventLoopGroup: Sendable {
    /// The loops, in index order.
    public let loops: [EventLoop]
    private let cursor = Atomic<Int>(0)

    /// Creates `loopCount` loops (default: one per online core) and starts their threads.
    public init(loopCount: Int = EventLoopGroup.coreCount) throws(IOError) {
        precondition(loopCount > 0, "an EventLoopGroup needs at least one loop")
        var loops: [EventLoop] = []
        for index in 0..<loopCount {
            do {
                loops.append(try EventLoop(index: index, name: "eddy-loop-\(index)"))
            } catch {
                for loop in loops { loop.syncShutdown() }
                throw error
            }
        }
        self.loops = loops
    }

    /// The number of online cores.
    public static var coreCount: Int { max(1, eddy_online_cores()) }

    /// The next loop, round robin.
    public func next() -> EventLoop {
        let ticket = cursor.wrappingAdd(1, ordering: .relaxed).oldValue
        return loops[Int(UInt(bitPattern: ticket) % UInt(loops.count))]
    }

    /// Shuts down every loop (see `EventLoop.shutdown()`); returns one report per loop.
    @discardableResult
    public func shutdown() async -> [ShutdownReport] {
        for loop in loops { loop.initiateShutdown() } // all loops close their resources at once
        var reports: [ShutdownReport] = []
        for loop in loops { reports.append(await loop.shutdown()) }
        return reports
    }

    /// Blocking form of `shutdown()`, for code outside Swift concurrency.
    @discardableResult
    public func syncShutdown() -> [ShutdownReport] {
        loops.map { $0.syncShutdown() }
    }
}

/// Runs `body` with a new group and shuts the group down afterwards, whether `body`
/// returns or throws.
public func withEventLoopGroup<Result>(
    loopCount: Int = EventLoopGroup.coreCount,
    _ body: (EventLoopGroup) async throws -> Result
) async throws -> Result {
    let group = try EventLoopGroup(loopCount: loopCount)
    do {
        let result = try await body(group)
        await group.shutdown()
        return result
    } catch {
        await group.shutdown()
        throw error
    }
}
