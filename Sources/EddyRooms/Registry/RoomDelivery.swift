/// When a room's published messages are handed to its members' sockets.
///
/// - `perIteration` (the default): each loop holds the publishes that reach it during one
///   loop iteration and hands them to the members at the iteration's end, a member's share
///   in one call (one append to its socket's cork). The writes leave at the same moment as
///   with `immediate` (the end of the iteration; only a frame of 16 KiB or more, which a
///   socket writes at once, waits for it here); what changes is that a member's connection
///   is visited once per iteration instead of once per publish, which is most of the CPU of a
///   broadcast to thousands of members. A join or leave on the loop first hands out what is
///   held, so it sits at its exact point of the stream, and so does anything a member's
///   socket writes of its own in that iteration (a direct send, a pong, its Close): the
///   socket has the loop hand held publishes over first (`EventLoop.handOverHeldOutput`).
/// - `immediate`: each publish is handed to every member's outbox as soon as its loop runs
///   it. A member whose loop iteration sees several publishes still gets them in one write
///   (the socket's cork), but is visited once per publish.
/// - `coalesced(atMostEvery:)`: each loop hands a room's messages to its members at most
///   once per `interval`, all that was published meanwhile at once, so they leave in one
///   write per member. A publish after a quiet interval still goes out with the loop's drain
///   of the work it arrived with, together with everything else in that drain (under load,
///   everything other threads published while the loop wrote the last burst);
///   only a publish that follows a burst within the spacing waits, and by at most the
///   spacing (plus the loop's own delay). The spacing is `interval`; under load it stretches:
///   a burst begins no sooner than twice the time the last one took to write after that one
///   began (but one slow burst stretches it to at most 1 s, or `interval` if longer), so a
///   loop spends at most about half its time writing bursts and each carries more per write
///   (at 10,000 members a burst takes tens of milliseconds, and writing one every loop
///   iteration left the loop little else). For streams read by people (dashboards) a few
///   milliseconds cost nothing and save most of the per-message system calls (a steady
///   stream a little slower than a loop iteration otherwise costs one system call per
///   message per member).
///
/// Guarantees under all three: publish order per member, the ordered rooms' floors (a member
/// joins at the head and gets exactly the positions above it), and outbox policies are the
/// same; with `coalesced`, a member that joins a plain (unpositioned) room may also get
/// what was published up to one spacing before its join, and something sent to a member's
/// socket directly (not through the room) while a publish waits for its burst may leave
/// before that publish.
public enum RoomDelivery: Sendable, Equatable {
    case immediate
    case coalesced(atMostEvery: Duration)
    case perIteration
}
