import struct Synchronization.Atomic
import EddyShared

/// Test hook: counts how many times each logged event (by `seq`) of chosen runs is encoded by
/// `ProtocolEncoder.encode(_: EventEnvelope)`. Off until a test tracks a run; then each
/// encoding costs one relaxed atomic load, plus a lock for envelopes of any run while some
/// run is tracked (tests only).
enum EnvelopeEncodingCounter {
    private static let active = Atomic<Bool>(false)
    private static let counts = Mutex<[String: [Int64: Int]]>([:])

    /// Starts counting the encodings of `runID`'s logged events (use a run id of the test's own).
    static func track(runID: String) {
        counts.withLock { $0[runID] = [:] }
        active.store(true, ordering: .releasing)
    }

    /// How many times each logged event of `runID` was encoded since ``track(runID:)``.
    static func counts(runID: String) -> [Int64: Int] {
        counts.withLock { $0[runID] ?? [:] }
    }

    /// Stops counting `runID`.
    static func stopTracking(runID: String) {
        counts.withLock { $0[runID] = nil }
    }

    static func record(_ envelope: EventEnvelope) {
        guard active.load(ordering: .relaxed), envelope.event.isLogged else { return }
        counts.withLock { counts in
            counts[envelope.dagID]?[envelope.seq, default: 0] += 1
        }
    }
}
