@testable import EddyWebSocket
import EddyTestSupport
import Testing

/// `WebSocketConnectionState` and `WebSocketDriver` on their own: each transition, the
/// transport call it asks for, and, against a model of the seven flags they replaced, that
/// every reachable sequence of transitions behaves as the flags did.
@Suite("WebSocket connection state: transitions")
struct WebSocketConnectionStateTests {
    typealias State = WebSocketConnectionState

    @Test func closingTheTransportIsIdempotent() {
        var state = State()
        #expect(state.transport == .open && !state.transportClosing)
        let began1 = state.beginClosingTransport()
        #expect(began1)
        let began2 = state.beginClosingTransport()
        #expect(!began2)
        #expect(state.transport == .closing && state.transportClosing)
        state.transportDidClose()
        #expect(state.transport == .closed && state.transportClosing)
        let began3 = state.beginClosingTransport()
        #expect(!began3)
    }

    @Test func aConsumerThatFallsBehindPausesReadingOnce() {
        var state = State()
        let pause1 = state.pauseForConsumer()
        #expect(pause1 == .pause)
        #expect(state.flow == .consumerBehind && state.readingPaused && !state.outboundBlocked)
        let pause2 = state.pauseForConsumer()
        #expect(pause2 == .none)
        let caughtUp1 = state.consumerCaughtUp()
        #expect(caughtUp1 == .resume)
        #expect(state.flow == .reading && !state.readingPaused)
        let caughtUp2 = state.consumerCaughtUp()
        #expect(caughtUp2 == .none)
    }

    @Test func aTaskSendWaitingForTheDrainKeepsTheConsumersPause() {
        var state = State()
        _ = state.pauseForConsumer()
        state.sendWaitsForDrain()
        #expect(state.flow == .sendWaitsForDrain(consumerBehind: true) && state.outboundBlocked && state.readingPaused)
        state.sendDrained()
        #expect(state.flow == .consumerBehind)
        state.sendWaitsForDrain()
        let caughtUp1 = state.consumerCaughtUp()
        #expect(caughtUp1 == .resume)
        #expect(state.flow == .sendWaitsForDrain(consumerBehind: false) && !state.readingPaused)
        state.sendDrained()
        #expect(state.flow == .reading)
    }

    @Test func aBackedUpResponderReadsAgainOnlyWhenWritable() {
        var state = State()
        let backUp1 = state.backUp()
        #expect(backUp1 == .pause)
        #expect(state.flow == .backedUp(readingPaused: true) && state.outboundBlocked)
        let backUp2 = state.backUp()
        #expect(backUp2 == nil, "one wait for the drain at a time")
        let caughtUp1 = state.consumerCaughtUp()
        #expect(caughtUp1 == .none, "the consumer does not end a responder's wait")
        let pause1 = state.pauseForConsumer()
        #expect(pause1 == .none)
        let writable1 = state.writableAgain()
        #expect(writable1 == .resume)
        #expect(state.flow == .reading)
        // Paused for the consumer first: backing up needs no second pause.
        _ = state.pauseForConsumer()
        let backUp3 = state.backUp()
        #expect(backUp3 == State.ReadingChange.none)
        let writable2 = state.writableAgain()
        #expect(writable2 == .resume)
        #expect(state.flow == .reading)
    }

    @Test func theClosingHandshakeReadsOnWhileAResponderWaitsForTheDrain() {
        var state = State()
        _ = state.backUp()
        let closing1 = state.closingHandshakeStarted()
        #expect(closing1 == .resume)
        #expect(state.flow == .backedUp(readingPaused: false) && state.outboundBlocked && !state.readingPaused)
        let closing2 = state.closingHandshakeStarted()
        #expect(closing2 == .none)
        let backUp1 = state.backUp()
        #expect(backUp1 == nil)
        let writable1 = state.writableAgain()
        #expect(writable1 == .none, "reading was not paused")
        #expect(state.flow == .reading)
    }

    @Test func noResumeOnceTheTransportIsClosing() {
        var state = State()
        _ = state.backUp()
        _ = state.beginClosingTransport()
        let writable1 = state.writableAgain()
        #expect(writable1 == .none)
        #expect(state.flow == .consumerBehind, "the pause stays; only the wait for the drain ended")
        let backUp1 = state.backUp()
        #expect(backUp1 == nil, "a closing transport is not waited for")
    }

    @Test func stalledTicksCountUntilTheQueueDrains() {
        var state = State()
        state.sendWaitsForDrain()
        let ticks1 = state.countStalledTick()
        #expect(ticks1 == 1)
        let ticks2 = state.countStalledTick()
        #expect(ticks2 == 2)
        state.sendDrained()
        #expect(state.stalledTicks == 0)
        _ = state.backUp()
        let ticks3 = state.countStalledTick()
        #expect(ticks3 == 1)
        _ = state.writableAgain()
        #expect(state.stalledTicks == 0)
    }

    @Test func theDriver() {
        var task = WebSocketDriver(responder: false)
        #expect(task == .task(listenerClosesTransportOnCancellation: false))
        let entered1 = task.enterCallback()
        #expect(!entered1)
        task.handedOverToListener()
        #expect(task.listenerClosesTransportOnCancellation)

        var responder = WebSocketDriver(responder: true)
        responder.handedOverToListener()
        #expect(!responder.listenerClosesTransportOnCancellation)
        let entered2 = responder.enterCallback()
        #expect(entered2)
        let entered3 = responder.enterCallback()
        #expect(!entered3, "a re-entrant delivery is left to the running one")
        responder.leaveCallback()
        #expect(responder == .responder(inCallback: false))
    }

    /// No larger than the seven Bool flags it replaced (which, spread between the socket's
    /// other fields, also cost padding: the instance went from 702 to 680 bytes).
    @Test func theStateIsSmall() {
        #expect(MemoryLayout<State.Flow>.size == 1)
        #expect(MemoryLayout<State>.size == 4)
        #expect(MemoryLayout<WebSocketDriver>.size == 1)
    }

    // MARK: Against the flags it replaced

    /// The flags and their handling as `WebSocket` had them, transcribed; each method
    /// returns the transport call it made.
    struct Flags {
        var receivingPaused = false
        var transportClosing = false
        var transportClosed = false
        var awaitingWritable = false
        var sendBlocked = false
        var stalledTicks: UInt16 = 0

        mutating func pauseForConsumer() -> State.ReadingChange {
            guard !receivingPaused else { return .none }
            receivingPaused = true
            return .pause
        }
        mutating func consumerCaughtUp() -> State.ReadingChange {
            guard receivingPaused, !awaitingWritable else { return .none }
            receivingPaused = false
            return .resume
        }
        mutating func sendWaitsForDrain() { sendBlocked = true }
        mutating func sendDrained() {
            sendBlocked = false
            stalledTicks = 0
        }
        mutating func backUp() -> State.ReadingChange? {
            guard !awaitingWritable, !transportClosing else { return nil }
            awaitingWritable = true
            if !receivingPaused {
                receivingPaused = true
                return .pause
            }
            return State.ReadingChange.none
        }
        mutating func writableAgain() -> State.ReadingChange {
            awaitingWritable = false
            stalledTicks = 0
            guard receivingPaused, !transportClosing else { return .none }
            receivingPaused = false
            return .resume
        }
        mutating func closingHandshakeStarted() -> State.ReadingChange {
            guard receivingPaused else { return .none }
            receivingPaused = false
            return .resume
        }
        mutating func beginClosingTransport() -> Bool {
            guard !transportClosing else { return false }
            transportClosing = true
            return true
        }
    }

    /// Random sequences of the transitions each kind of socket can make, in the orders the
    /// socket can make them: the same transport calls, and the same answers to every
    /// question the socket asks, after every step.
    @Test(arguments: [false, true])
    func behavesAsTheFlagsDid(responder: Bool) {
        var random = SplitMix64(seed: responder ? 61 : 6455)
        for _ in 0..<500 {
            var state = State()
            var flags = Flags()
            var drainWaits = 0 // backUp's waits not yet ended by writableAgain
            for _ in 0..<40 {
                switch random.next() % 9 {
                case 0:
                    let pause1 = state.pauseForConsumer()
                    let flagsPause1 = flags.pauseForConsumer()
                    #expect(pause1 == flagsPause1)
                case 1:
                    let caughtUp1 = state.consumerCaughtUp()
                    let flagsCaughtUp1 = flags.consumerCaughtUp()
                    #expect(caughtUp1 == flagsCaughtUp1)
                case 2:
                    if responder {
                        let change = state.backUp()
                        let flagsBackUp1 = flags.backUp()
                        #expect(change == flagsBackUp1)
                        if change != nil { drainWaits += 1 }
                    } else {
                        state.sendWaitsForDrain()
                        flags.sendWaitsForDrain()
                    }
                case 3:
                    state.sendDrained()
                    flags.sendDrained()
                case 4:
                    guard drainWaits > 0 else { continue }
                    drainWaits -= 1
                    let writable1 = state.writableAgain()
                    let flagsWritable1 = flags.writableAgain()
                    #expect(writable1 == flagsWritable1)
                case 5:
                    guard !flags.transportClosed else { continue } // `startClosing` returns first
                    let closing1 = state.closingHandshakeStarted()
                    let flagsClosing1 = flags.closingHandshakeStarted()
                    #expect(closing1 == flagsClosing1)
                case 6:
                    let began1 = state.beginClosingTransport()
                    let flagsBegan1 = flags.beginClosingTransport()
                    #expect(began1 == flagsBegan1)
                case 7:
                    guard flags.transportClosing, !flags.transportClosed else { continue }
                    state.transportDidClose()
                    flags.transportClosed = true
                default:
                    // keepAliveTick: stall counting while a send waits for the drain.
                    if flags.awaitingWritable || flags.sendBlocked {
                        flags.stalledTicks &+= 1
                        let ticks1 = state.countStalledTick()
                        #expect(ticks1 == flags.stalledTicks)
                    }
                }
                #expect(state.readingPaused == flags.receivingPaused)
                #expect(state.outboundBlocked == (flags.awaitingWritable || flags.sendBlocked))
                #expect(state.transportClosing == flags.transportClosing)
                #expect((state.transport == .closed) == flags.transportClosed)
                #expect(state.stalledTicks == flags.stalledTicks)
            }
        }
    }
}
