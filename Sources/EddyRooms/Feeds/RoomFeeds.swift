import EddyShared

/// One `RoomFeed` per room, alive exactly while the room has members: the first member's
/// `retain` starts it, the last member's `release` stops it.
///
/// Guarantees:
/// - At most one running feed per room, however many members join it on however many loops.
/// - `retain` returns only once the room's feed runs, so a member that then joins the room at
///   its head (`RoomRegistry.join(_:room:floor:startingAt:)`) misses nothing.
/// - A feed that ended by itself (its source finished) is replaced at the next `retain`;
///   members already in the room keep what they have.
public final class RoomFeeds: Sendable {
    private struct Entry {
        var members: Int
        var feed: any RoomFeed
    }

    private let entries = Mutex<[String: Entry]>([:])

    public init() {}

    /// Counts one more member of `room`, first starting its feed with `start` if it has none
    /// running. `start` runs under this object's lock: it must not call back into it.
    ///
    /// - Throws: what `start` throws; the member is then not counted.
    public func retain(_ room: String, startingWith start: () throws -> any RoomFeed) throws {
        let ended: (any RoomFeed)? = try entries.withLock { entries in
            guard var entry = entries[room] else {
                entries[room] = Entry(members: 1, feed: try start())
                return nil
            }
            var replaced: (any RoomFeed)?
            if !entry.feed.isRunning {
                replaced = entry.feed
                entry.feed = try start()
            }
            entry.members += 1
            entries[room] = entry
            return replaced
        }
        ended?.stop()
    }

    /// Counts one member of `room` less, stopping its feed when none is left.
    public func release(_ room: String) {
        let stopped: (any RoomFeed)? = entries.withLock { entries in
            guard var entry = entries[room] else { return nil }
            entry.members -= 1
            if entry.members > 0 {
                entries[room] = entry
                return nil
            }
            entries[room] = nil
            return entry.feed
        }
        stopped?.stop()
    }

    /// Rooms with a feed now (running or ended but still holding members).
    public var count: Int { entries.withLock { $0.count } }

    /// Members counted for `room`.
    public func members(of room: String) -> Int { entries.withLock { $0[room]?.members ?? 0 } }
}
