import EddyRooms
import EddyShared
import Testing

@Suite("Rooms: one feed per room while it has members")
struct RoomFeedsTests {
    /// A feed that records being stopped, and can be made to end by itself.
    final class RecordingFeed: RoomFeed {
        private let state = Mutex((running: true, stops: 0))
        var isRunning: Bool { state.withLock { $0.running } }
        var stops: Int { state.withLock { $0.stops } }
        func end() { state.withLock { $0.running = false } }
        func stop() { state.withLock { $0.stops += 1 } }
    }

    @Test func theFirstMemberStartsTheFeedAndTheLastStopsIt() throws {
        let feeds = RoomFeeds()
        var started: [RecordingFeed] = []
        let start = { () -> any RoomFeed in
            let feed = RecordingFeed()
            started.append(feed)
            return feed
        }
        try feeds.retain("a", startingWith: start)
        try feeds.retain("a", startingWith: start)
        try feeds.retain("b", startingWith: start)
        #expect(started.count == 2)
        #expect(feeds.count == 2 && feeds.members(of: "a") == 2)
        feeds.release("a")
        #expect(started[0].stops == 0)
        feeds.release("a")
        #expect(started[0].stops == 1 && started[1].stops == 0)
        #expect(feeds.count == 1 && feeds.members(of: "a") == 0)
        // A release with no member left does nothing (and does not go negative).
        feeds.release("a")
        #expect(started[0].stops == 1)
        try feeds.retain("a", startingWith: start)
        #expect(started.count == 3)
    }

    @Test func aFeedThatEndedIsReplacedAtTheNextJoinAndStoppedOnce() throws {
        let feeds = RoomFeeds()
        let first = RecordingFeed()
        let second = RecordingFeed()
        try feeds.retain("run") { first }
        first.end() // its source finished (the run ended)
        try feeds.retain("run") { second }
        #expect(first.stops == 1)
        #expect(feeds.members(of: "run") == 2)
        feeds.release("run")
        feeds.release("run")
        #expect(first.stops == 1 && second.stops == 1)
    }

    @Test func aFeedThatFailsToStartCountsNoMember() {
        struct Refused: Error {}
        let feeds = RoomFeeds()
        #expect(throws: Refused.self) { try feeds.retain("gone") { throw Refused() } }
        #expect(feeds.count == 0 && feeds.members(of: "gone") == 0)
    }
}
