@testable import EddyDAG
import EddyTestSupport
import Foundation
import Testing

/// Each logged event is encoded once, when it is logged; subscribers, the log and replays all
/// carry those bytes.
@Suite("Encoded events", .timeLimit(.minutes(3)))
struct EncodedEventTests {
    /// A run of a few events held at a gate; its id is the test's own (the encoding counter is
    /// process-wide, and tests run in parallel).
    func gatedRun(_ engine: DAGEngine, runID: String) async throws -> String {
        var b = DAGBuilder()
        b.task("plan") { _ in .string("outline with \"quotes\", ünïcode and \\ slashes") }
        b.gate("review", after: ["plan"], presentation: ["question": "Publish?"])
        b.task("publish", after: ["review"]) { _ in .string("https://example.test/p") }
        let id = try await engine.start(try b.build(), runID: runID)
        try await waitForState(engine, id) { $0.node("review")?.status == .waitingHuman }
        return id
    }

    func approve(_ engine: DAGEngine, _ id: String) async {
        let result = await engine.submit(
            ClientCommand(commandID: "ok", action: .humanDecision(.init(nodeID: "review", decision: .approve))), runID: id)
        #expect(result.status == .accepted)
    }

    func collect<S: AsyncSequence & Sendable>(_ sequence: S) async throws -> [S.Element] where S.Element: Sendable {
        try await withDeadline {
            var all: [S.Element] = []
            do { for try await element in sequence { all.append(element) } } catch {}
            return all
        }
    }


    @Test("live subscribers get the very bytes the log stored, encoded once per event")
    func liveBytesAreTheLoggedBytes() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let runID = "encode-once-\(UUID().uuidString)"
        EnvelopeEncodingCounter.track(runID: runID)
        defer { EnvelopeEncodingCounter.stopTracking(runID: runID) }
        let id = try await gatedRun(engine, runID: runID)
        let head = try engine.state(runID: id).seq
        // Two encoded subscribers and one that takes envelopes, all from the head.
        let first = try engine.subscribeEncoded(runID: id)
        let second = try engine.subscribeEncoded(runID: id)
        let envelopes = try engine.subscribe(runID: id)
        async let a = collect(first)
        async let b = collect(second)
        async let e = collect(envelopes)
        await approve(engine, id)
        #expect(try await withDeadline { await engine.waitForCompletion(runID: id) } == .completed)
        let (liveA, liveB, liveEnvelopes) = try await (a, b, e)

        // Counted before this test encodes anything itself: every logged event once.
        let counts = EnvelopeEncodingCounter.counts(runID: runID)
        let last = try engine.state(runID: id).seq
        #expect(counts.count == Int(last), "\(counts)")
        #expect(counts.values.allSatisfy { $0 == 1 }, "\(counts.filter { $0.value != 1 })")

        // Each starts with a snapshot at the head (not logged), then the live events.
        #expect(liveA.first?.isLogged == false && liveA.first?.seq == head)
        let loggedA = liveA.dropFirst()
        let loggedB = liveB.dropFirst()
        #expect(loggedA.map(\.seq) == Array((head + 1)...last))
        #expect(loggedB.map(\.seq) == loggedA.map(\.seq))
        for (x, y) in zip(loggedA, loggedB) {
            #expect(x.isLogged && x.dagID == id && x.epoch == engine.epoch)
            #expect(sharesStorage(x.bytes, y.bytes), "seq \(x.seq): each subscriber got a copy or a re-encoding")
        }
        // The bytes are the log's, and the encoder's for the envelope (field order included).
        let stored = try engine.log.eventBytes(runID: id, after: head)
        #expect(loggedA.map(\.bytes) == stored)
        let decoded = liveEnvelopes.dropFirst()
        #expect(decoded.map { ProtocolEncoder.encode($0) } == stored)
        #expect(decoded.map(\.jsonBytes) == loggedA.map(\.bytes))
    }

    @Test("a replay after `since` carries the log's bytes as stored, identical to the live events")
    func replayIsByteIdentical() async throws {
        let (engine, dir) = try makeEngine()
        _ = dir
        let id = try await gatedRun(engine, runID: "replay-\(UUID().uuidString)")
        let since = try engine.state(runID: id).seq
        let live = try engine.subscribeEncoded(runID: id)
        async let collected = collect(live)
        await approve(engine, id)
        #expect(try await withDeadline { await engine.waitForCompletion(runID: id) } == .completed)
        let liveEvents = try await Array(collected.dropFirst())
        #expect(!liveEvents.isEmpty)

        let replayed = try await collect(try engine.subscribeEncoded(runID: id, since: since, epoch: engine.epoch))
        #expect(replayed == liveEvents)
        #expect(try engine.log.encodedEvents(runID: id, after: since) == liveEvents)
        // The whole history from the log decodes to envelopes that encode to the same bytes.
        let all = try engine.log.encodedEvents(runID: id, after: 0)
        #expect(all.map(\.seq) == Array(1...(all.last?.seq ?? 0)))
        #expect(try engine.log.events(runID: id, after: 0).map { ProtocolEncoder.encode($0) } == all.map(\.bytes))
        // Another epoch gets a snapshot, encoded at the head.
        let other = try await collect(try engine.subscribeEncoded(runID: id, since: since, epoch: engine.epoch + 1))
        #expect(other.count == 1 && other.first?.isLogged == false && other.first?.seq == all.last?.seq)
    }
}
