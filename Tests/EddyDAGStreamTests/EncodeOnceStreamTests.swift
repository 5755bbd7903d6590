import EddyDAG
@testable import EddyDAGStream
import EddyLoop
import EddyWebSocket
import EddyTestSupport
import Foundation
import Testing

/// A logged event's bytes go from the log to the wire as they are: live and replayed dashboards
/// get byte-identical messages, and the frame cache frames each event once.
@Suite("DAG stream: each event encoded once", .timeLimit(.minutes(3)))
struct EncodeOnceStreamTests {
    /// The next text message that is not a heartbeat.
    static func nextEvent(_ iterator: inout WebSocket.Messages.AsyncIterator) async throws -> [UInt8]? {
        while let message = try await iterator.next() {
            guard case .text(let text) = message else { continue }
            if text.contains(#""type":"heartbeat""#) { continue }
            return Array(text.utf8)
        }
        return nil
    }

    @Test func aReplayAfterSinceIsByteIdenticalToTheLiveStreamAndTheLog() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let engine = try log.engine()
        var builder = DAGBuilder()
        builder.task("plan") { _ in .string("outline: \"quoted\", ünïcode, \\ and a long tail \(String(repeating: "x", count: 400))") }
        builder.gate("review", after: ["plan"], presentation: ["question": "Publish?"])
        builder.task("publish", after: ["review"]) { _ in .string("done") }
        let runID = try await engine.start(try builder.build(), runID: "run-1")
        var configuration = DAGStreamConfiguration()
        configuration.viewerTokens = ["v"]
        let server = try await GatewayServer.start(engine, configuration: configuration)
        let loop = server.group.loops[0]
        let base = "ws://127.0.0.1:\(server.port)/api/dags/\(runID)/stream?token=v"

        // Held at the gate: a live dashboard joins with a snapshot at the head.
        while try engine.state(runID: runID).node("review")?.status != .waitingHuman { try await Task.sleep(for: .milliseconds(5)) }
        let live = try await WebSocket.connect(to: base, on: loop)
        var liveMessages = live.messages.makeAsyncIterator()
        let snapshotBytes = try #require(try await Self.nextEvent(&liveMessages))
        let snapshot = try ProtocolDecoder.decodeEnvelope(snapshotBytes)
        guard case .snapshot = snapshot.event else {
            Issue.record("first message: \(String(decoding: snapshotBytes, as: UTF8.self))")
            return
        }
        let since = snapshot.seq

        let result = await engine.submit(
            ClientCommand(commandID: "ok", action: .humanDecision(.init(nodeID: "review", decision: .approve))), runID: runID)
        #expect(result.status == .accepted)
        #expect(await engine.waitForCompletion(runID: runID) == .completed)
        let stored = try engine.log.eventBytes(runID: runID, after: since)
        #expect(stored.count >= 3)
        var liveEvents: [[UInt8]] = []
        while liveEvents.count < stored.count, let bytes = try await Self.nextEvent(&liveMessages) { liveEvents.append(bytes) }

        // A dashboard resuming after `since` gets the same bytes, from the log as stored.
        let resumed = try await WebSocket.connect(to: base + "&since=\(since)&epoch=\(engine.epoch)", on: loop)
        var resumedMessages = resumed.messages.makeAsyncIterator()
        var replayed: [[UInt8]] = []
        while replayed.count < stored.count, let bytes = try await Self.nextEvent(&resumedMessages) { replayed.append(bytes) }

        #expect(liveEvents == stored)
        #expect(replayed == liveEvents)
        #expect(try engine.log.events(runID: runID, after: since).map { ProtocolEncoder.encode($0) } == stored)

        _ = await live.close()
        _ = await resumed.close()
        #expect(await server.stop())
        await engine.shutdown()
    }

    @Test func theFrameCacheFramesTheLoggedBytesOnceAndAReplayReusesTheFrame() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let engine = try log.engine()
        var builder = DAGBuilder()
        builder.task("only") { _ in .string(String(repeating: "compressible ", count: 40)) }
        let runID = try await engine.start(try builder.build(), runID: "run-1")
        #expect(await engine.waitForCompletion(runID: runID) == .completed)

        let frames = FrameCache(compressor: BroadcastCompressor())
        let stored = try engine.log.encodedEvents(runID: runID, after: 0)
        #expect(!stored.isEmpty)
        for event in stored {
            let first = frames.prepared(forLogged: event)
            // The uncompressed frame's payload is the stored bytes as they are.
            #expect(first.uncompressed.suffix(event.bytes.count).elementsEqual(event.bytes))
            // The same event read again (another buffer, equal bytes): the cached frame.
            let again = try #require(try engine.log.encodedEvents(runID: runID, after: event.seq - 1, upTo: event.seq).first)
            let second = frames.prepared(forLogged: again)
            #expect(sharesStorage(first.uncompressed, second.uncompressed), "seq \(event.seq) framed twice")
            #expect(first.compressed.map { c in second.compressed.map { sharesStorage(c, $0) } ?? false } ?? (second.compressed == nil))
        }
        // Same run, epoch and seq as a cached frame, other bytes (a run id reused after
        // retention deleted the first run): framed afresh, not the cached frame.
        let reused = EncodedEvent(
            EventEnvelope(dagID: runID, epoch: engine.epoch, seq: 1, ts: 0, event: .executionState(.init(status: .running))))
        #expect(stored.first?.seq == 1 && stored.first?.bytes != reused.bytes)
        let framed = frames.prepared(forLogged: reused)
        #expect(framed.uncompressed.suffix(reused.bytes.count).elementsEqual(reused.bytes))
        await engine.shutdown()
    }

}
