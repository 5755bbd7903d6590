import EddyLoop
import EddyMetrics
import MetricsTestKit
import Testing

/// Per-thread tallies and their folding into swift-metrics (against its test backend, so no
/// process-wide bootstrap). Serialized: one test turns tallies off process-wide for a moment.
@Suite(.serialized)
struct TallyFoldingTests {
    @Test func takeReturnsWhatThisThreadAddedAndStartsAgainFromZero() {
        _ = LoopTally.take() // whatever an earlier test left on this thread
        LoopTally.add(.messagesReceived)
        LoopTally.add(.messagesReceived, 2)
        LoopTally.add(.bytesReceived, 1000)
        LoopTally.add(.outboxQueuedMessages, -4)
        let first = LoopTally.take()
        #expect(first[TallyCounter.messagesReceived.rawValue] == 3)
        #expect(first[TallyCounter.bytesReceived.rawValue] == 1000)
        #expect(first[TallyCounter.outboxQueuedMessages.rawValue] == -4)
        let nonZero = first.filter { $0 != 0 }.count
        #expect(nonZero == 3)
        let second = LoopTally.take()
        let allZero = second.allSatisfy { $0 == 0 }
        #expect(allZero)
    }

    @Test func foldMovesCountersByTheTalliesAndGaugesBothWays() throws {
        let metrics = TestMetrics()
        let folder = TallyFolder(factory: metrics)
        var tallies = [Int64](repeating: 0, count: LoopTally.slotCount)
        tallies[TallyCounter.messagesSent.rawValue] = 7
        tallies[TallyCounter.closes1001.rawValue] = 2
        tallies[TallyCounter.connectionsOpen.rawValue] = 5
        folder.fold(tallies)
        tallies[TallyCounter.messagesSent.rawValue] = 3
        tallies[TallyCounter.closes1001.rawValue] = 0
        tallies[TallyCounter.connectionsOpen.rawValue] = -2
        folder.fold(tallies)
        #expect(try metrics.expectCounter("eddy_websocket_messages_sent_total").totalValue == 10)
        #expect(try metrics.expectCounter("eddy_websocket_closes_total", [("code", "1001")]).totalValue == 2)
        #expect(try metrics.expectCounter("eddy_websocket_closes_total", [("code", "1000")]).totalValue == 0)
        #expect(try metrics.expectMeter("eddy_connections_open").lastValue == 3)
    }

    /// Counted off the loops (a broadcast compressed on the global executor): the next fold
    /// on any loop takes it. The shared tally is the process's: another suite's folder (any
    /// server with metrics running meanwhile) may take it first, into its own backend, so the
    /// test tries up to 20 times; a count that is folded at all shows in one of them, and one
    /// that is lost (counted into a thread's tally nobody folds) in none.
    @Test func countsMadeOffTheLoopsAreFoldedByTheNextFoldOnALoop() async throws {
        let group = try EventLoopGroup(loopCount: 2)
        var folded = false
        for _ in 0..<20 where !folded {
            let metrics = TestMetrics()
            let folder = TallyFolder(factory: metrics)
            await Task.detached { LoopTally.addFromAnyThread(.deflateInputBytes, 1_000) }.value
            await folder.foldNow(on: group)
            folded = try metrics.expectCounter("eddy_websocket_deflate_input_bytes_total").totalValue >= 1_000
        }
        #expect(folded)
        _ = await group.shutdown()
    }

    @Test func eachLoopFoldsItsOwnTalliesOnceBeforeAScrape() async throws {
        let metrics = TestMetrics()
        let folder = TallyFolder(factory: metrics)
        let group = try EventLoopGroup(loopCount: 2)
        // Each loop's thread counts into its own tally.
        _ = try await group.loops[0].submit {
            LoopTally.add(.messagesReceived, 3)
            LoopTally.add(.outboxQueuedMessages, 2)
        }
        _ = try await group.loops[1].submit {
            LoopTally.add(.messagesReceived, 5)
            LoopTally.add(.outboxQueuedMessages, -1)
        }
        await folder.foldNow(on: group)
        await folder.foldNow(on: group) // nothing new: nothing counted twice
        #expect(try metrics.expectCounter("eddy_websocket_messages_received_total").totalValue == 8)
        #expect(try metrics.expectMeter("eddy_outbox_queued_messages").lastValue == 1)
        _ = await group.shutdown()
    }

    @Test func theLoopsTimersFoldWithoutAScrape() async throws {
        let metrics = TestMetrics()
        let folder = TallyFolder(factory: metrics)
        let group = try EventLoopGroup(loopCount: 1)
        folder.startFolding(on: group, every: .milliseconds(20))
        _ = try await group.loops[0].submit { LoopTally.add(.connectionsAccepted, 4) }
        // Bounded: 250 × 20 ms at most.
        var folded: Int64 = 0
        for _ in 0..<250 {
            folded = (try? metrics.expectCounter("eddy_connections_accepted_total").totalValue) ?? 0
            if folded == 4 { break }
            try await Task.sleep(for: .milliseconds(20))
        }
        #expect(folded == 4)
        _ = await group.shutdown()
    }

    @Test func disabledTalliesCountNothing() {
        _ = LoopTally.take()
        LoopTally.setEnabled(false)
        LoopTally.add(.messagesSent, 9)
        LoopTally.setEnabled(true)
        LoopTally.add(.messagesSent, 1)
        #expect(LoopTally.take()[TallyCounter.messagesSent.rawValue] == 1)
    }

    @Test func everyCounterHasItsOwnSlotAndAPrometheusName() {
        let fits = TallyCounter.allCases.allSatisfy { $0.rawValue < LoopTally.slotCount }
        #expect(fits)
        let named = TallyCounter.allCases.allSatisfy { counter in
            let metric = counter.metric
            return metric.label.hasPrefix("eddy_") && (metric.kind == .gauge) != metric.label.hasSuffix("_total")
        }
        #expect(named)
        let series = Set(TallyCounter.allCases.map { "\($0.metric.label)\($0.metric.dimensions.map { "\($0)=\($1)" })" })
        #expect(series.count == TallyCounter.allCases.count)
        #expect(TallyCounter.handshakeRefused(status: 401) == .handshakesRefused401)
        #expect(TallyCounter.handshakeRefused(status: 418) == .handshakesRefusedOther)
        #expect(TallyCounter.closed(code: 1006) == .closes1006)
        #expect(TallyCounter.closed(code: 4000) == .closesOther)
    }
}
