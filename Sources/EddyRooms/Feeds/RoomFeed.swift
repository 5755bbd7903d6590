/// What publishes into one room while the room has members: typically a task forwarding a
/// subscription to an ordered source (a DAG run's events, the lobby) and a heartbeat timer.
///
/// Guarantees a conforming type makes: once created it publishes every message of its
/// source that follows the moment of its creation, with its position, until it ends by
/// itself (`isRunning` turns false) or is stopped.
public protocol RoomFeed: AnyObject, Sendable {
    /// False once the feed has ended by itself (its source finished); the next member to
    /// join the room starts a new feed.
    var isRunning: Bool { get }
    /// Stops publishing. Called once, when the room's last member has left or when a new
    /// feed replaces one that ended.
    func stop()
}
