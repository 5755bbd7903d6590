import EddyHTTPCore
import EddyLoop
import Synchronization

/// The one deadline of an HTTP exchange, moved from phase to phase on a single
/// `ScheduledWork` started again per phase: no allocation per request, however many requests a connection pipelines.
///
/// Guarantees: when the deadline passes, `expired` is called once, on the connection's
/// loop, with the phase it was started for, and `hasExpired` is true from then on.
final class ExchangeDeadline: Sendable {
    /// What the exchange was waiting for when the deadline was started.
    enum Phase: UInt8, Sendable {
        /// The first byte of the next request (`idleTimeout`).
        case idle
        /// The rest of a started request (`headerTimeout`).
        case request
        /// The client taking a response (`writeTimeout`).
        case response
    }

    private let state: State
    private let timer: ScheduledWork

    /// - Parameter loop: the connection's loop, where `expired` runs.
    init(on loop: EventLoop, expired: @escaping @Sendable (Phase) -> Void) {
        let state = State()
        self.state = state
        // The timer's body holds the state, not this object: no cycle to leak.
        self.timer = ScheduledWork(on: loop) {
            state.expired.store(true, ordering: .releasing)
            expired(Phase(rawValue: state.phase.load(ordering: .acquiring)) ?? .idle)
        }
    }

    var hasExpired: Bool { state.expired.load(ordering: .acquiring) }

    func start(_ phase: Phase, after limit: Duration) {
        state.phase.store(phase.rawValue, ordering: .releasing)
        timer.start(after: limit)
    }

    func stop() { timer.stop() }

    func close() { timer.cancel() }

    private final class State: Sendable {
        let phase = Atomic<UInt8>(Phase.idle.rawValue)
        let expired = Atomic<Bool>(false)
    }
}
