import EddyWebSocketCore
import EddyLoop

/// Ticks the keep-alive state of every WebSocket on one loop, one repeating timer per tick
/// interval, instead of a timer per connection: an idle connection then holds no timer
/// handle, closure or weak reference (about 300 bytes), only a slot in a list.
///
/// Guarantees (all on the loop's thread): a member is ticked once per interval until it
/// leaves; a member that leaves during a tick (its own or another's) is not ticked again;
/// a timer runs only while its interval has members.
final class KeepAliveTicker {
    /// Unowned: the loop owns this ticker (`EventLoop.helper`) and outlives it.
    private unowned let loop: EventLoop
    private var groups: [Duration: Group] = [:]

    /// Loop-confined: the timer closure only runs on the loop, like every other access.
    private final class Group: @unchecked Sendable {
        var members: [WebSocket] = []
        var timer: ScheduledWork?
    }

    private init(loop: EventLoop) { self.loop = loop }

    /// The ticker of `loop`. Loop thread.
    static func on(_ loop: EventLoop) -> KeepAliveTicker {
        loop.helper(KeepAliveTicker.self) { KeepAliveTicker(loop: loop) }
    }

    func add(_ socket: WebSocket, every interval: Duration) {
        let group: Group
        if let existing = groups[interval] {
            group = existing
        } else {
            group = Group()
            groups[interval] = group
        }
        socket.keepAliveSlot = group.members.count
        group.members.append(socket)
        if group.timer == nil {
            group.timer = loop.scheduleRepeating(every: interval) { Self.tick(group) } // the cycle ends when the timer is cancelled
        }
    }

    /// Takes `socket` out of the group it joined with `add(_:every: interval)`.
    func remove(_ socket: WebSocket, every interval: Duration) {
        guard socket.keepAliveSlot >= 0, let group = groups[interval] else { return }
        let slot = socket.keepAliveSlot
        socket.keepAliveSlot = -1
        guard slot < group.members.count, group.members[slot] === socket else { return }
        let last = group.members.removeLast()
        if slot < group.members.count {
            group.members[slot] = last
            last.keepAliveSlot = slot
        }
        if group.members.isEmpty {
            group.timer?.cancel()
            group.timer = nil
            groups[interval] = nil
        }
    }

    private static func tick(_ group: Group) {
        var index = 0
        while index < group.members.count {
            let socket = group.members[index]
            socket.keepAliveTick()
            // A member that left was replaced by the last one: tick that one at this index.
            if index < group.members.count && group.members[index] === socket { index += 1 }
        }
    }
}
