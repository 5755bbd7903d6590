import EddyLoop

/// The open `TCPConnection`s of one loop, so that the loop's shutdown closes them: one
/// resource registered with the loop while any connection is open, instead of one entry
/// per connection in the loop's table of resources (a hash table costs ≈ 40 bytes per
/// entry at 10,000 connections; these links cost 16 bytes inside each connection).
///
/// Guarantees (the same as a connection registered with the loop directly):
/// - The list holds a strong reference to each connection from `insert` until `remove`
///   (its handle's close callback), so an open connection is kept alive by its loop.
/// - `closeForShutdown` closes every connection on the list, each exactly once; the list
///   deregisters from the loop when its last connection is removed, so the loop's shutdown
///   waits for every close callback.
/// - Insertion and removal are O(1); confined to the loop's thread.
final class LoopConnections: LoopResource {
    unowned let loop: EventLoop
    private var first: TCPConnection?
    private var registered = false

    init(loop: EventLoop) {
        self.loop = loop
    }

    /// Adds an open connection; returns false (and adds nothing) if the loop is shutting
    /// down. Loop thread.
    @discardableResult
    func insert(_ connection: TCPConnection) -> Bool {
        if !registered {
            guard loop.register(self) else { return false }
            registered = true
        } else if loop.isShuttingDown {
            return false
        }
        connection.nextOnLoop = first
        first?.previousOnLoop = connection
        first = connection
        return true
    }

    /// Takes a connection off the list if it is on it. Loop thread.
    func remove(_ connection: TCPConnection) {
        guard connection.previousOnLoop != nil || first === connection else { return }
        let next = connection.nextOnLoop
        if let previous = connection.previousOnLoop {
            previous.nextOnLoop = next
        } else {
            first = next
        }
        next?.previousOnLoop = connection.previousOnLoop
        connection.previousOnLoop = nil
        connection.nextOnLoop = nil // last: `connection` may be kept alive only by this link
        if first == nil, registered {
            registered = false
            loop.deregister(self)
        }
    }

    package func closeForShutdown() {
        var connections: [TCPConnection] = []
        var cursor = first
        while let connection = cursor {
            connections.append(connection)
            cursor = connection.nextOnLoop
        }
        for connection in connections { connection.closeForShutdown() }
    }
}
