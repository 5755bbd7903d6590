/// Chooses which of a group's loops takes each accepted connection: in rounds that give every
/// loop one connection, each round in a fresh random order.
///
/// Guarantees:
/// - As even as round robin: after any number of deals, no loop has been dealt more than one
///   connection more than any other, and any `loopCount` consecutive deals starting a round
///   reach every loop.
/// - Not in lockstep with the peer: two consecutive connections land on the same loop when a
///   round ends on the loop the next one starts with (one time in `loopCount`). Strict round
///   robin never does that, so a client that writes to its connections in the order it opened
///   them (a load generator, a pool, a proxy) sends every write to a different loop from the
///   one before, and each loop goes back to sleep between two of its writes. Measured on two
///   loops against `ws-load`'s 1 kHz bursts, dealing in shuffled rounds halved the
///   `epoll_wait`s per echo, and round robin cost 4–14 % more CPU per message (BENCHMARKS.md,
///   eighteenth session).
///
/// A value with no I/O; the `Acceptor` keeps one on its loop thread.
struct LoopDealer<Generator: RandomNumberGenerator> {
    /// How many loops take connections (at least 1).
    let loopCount: Int
    /// The loops this round has not dealt to yet.
    private var remaining: [Int] = []
    private var generator: Generator

    init(loopCount: Int, generator: Generator) {
        self.loopCount = max(1, loopCount)
        self.generator = generator
        remaining.reserveCapacity(self.loopCount)
    }

    /// The index of the loop for the next connection.
    mutating func next() -> Int {
        if remaining.isEmpty {
            remaining.append(contentsOf: 0..<loopCount)
            remaining.shuffle(using: &generator)
        }
        return remaining.removeLast()
    }
}

extension LoopDealer where Generator == SystemRandomNumberGenerator {
    /// A dealer drawing from the system's generator: nothing for a peer to predict or steer.
    init(loopCount: Int) {
        self.init(loopCount: loopCount, generator: SystemRandomNumberGenerator())
    }
}
