/// Per-connection TCP settings. Every field has a default; the costs are documented.
import EddyLoop
public struct TCPConfiguration: Sendable, Hashable {
    /// Disable Nagle's algorithm (`TCP_NODELAY`). Default: on, because Eddy batches writes
    /// itself and latency matters more than a few saved segments.
    public var noDelay = true
    /// TCP keep-alive probe delay, or nil for off (the default). Keep-alive finds dead
    /// peers after about delay + 9 × 75 s on Linux defaults; application pings are faster.
    public var keepAlive: Duration? = nil
    /// Reading stops (`uv_read_stop`) once this many received bytes wait for the consumer,
    /// so a slow consumer pushes back on the sender through the TCP window. Default 256 KiB.
    /// Buffered inbound bytes never exceed it: each read is sized to the room left.
    public var readHighWatermark = 256 * 1024
    /// Reading resumes once buffered inbound bytes fall to this. Default 64 KiB.
    public var readLowWatermark = 64 * 1024
    /// `write` suspends while more than this many bytes wait in the kernel-bound queue.
    /// Default 256 KiB: enough to keep a fast link busy, small enough to cap memory per
    /// slow peer.
    public var writeHighWatermark = 256 * 1024
    /// Suspended writers resume once the queue drains to this. Default 64 KiB.
    public var writeLowWatermark = 64 * 1024
    /// The kernel send buffer (`SO_SNDBUF`) in bytes, or nil (the default) to let the
    /// kernel size it: Linux autotunes it up to `net.ipv4.tcp_wmem`'s maximum (4 MiB by
    /// default), which a slow reader can fill with data that goes stale there. Fix it
    /// (e.g. 64 KiB) for streams whose outbox policy should see a slow reader's backlog
    /// (a dashboard's catch-up). Linux doubles the value for its bookkeeping.
    public var sendBufferSize: Int? = nil
    /// The most bytes the kernel holds for this socket that it has not sent yet
    /// (`TCP_NOTSENT_LOWAT`), or nil for no limit. Default 128 KiB. Bytes in flight (sent,
    /// not yet acknowledged) do not count, so the send buffer still grows with the link's
    /// bandwidth-delay product; what a peer that stops reading leaves behind waits in
    /// Eddy's own queue instead, where the write watermarks, an outbox's policy or a write
    /// deadline see it. Without it, Linux queues up to 4 MiB per socket for such a peer
    /// (an HTTP client that pipelines requests and never reads is answered that much before
    /// the server's writes wait).
    public var unsentLimit: Int? = 128 * 1024

    public init() {}

    /// Checks the watermarks' order.
    func validated() throws(IOError) -> TCPConfiguration {
        guard readLowWatermark >= 0, readLowWatermark < readHighWatermark,
              writeLowWatermark >= 0, writeLowWatermark < writeHighWatermark,
              (sendBufferSize ?? 1) > 0, (unsentLimit ?? 1) > 0
        else { throw IOError(.invalidArgument, operation: "TCPConfiguration (need 0 <= low < high watermarks, sendBufferSize > 0, unsentLimit > 0)") }
        return self
    }
}

/// Counters a connection keeps about itself, read with `TCPConnection.counters()`.
///
/// Byte and call counts are exact; `readPauses`, `writerSuspensions` and the two
/// high-water marks stop growing at `UInt32.max` (4 Gi events or bytes); `inboundBuffered`
/// and `outboundQueued` are what is buffered at the moment of reading.
public struct TCPCounters: Sendable, Hashable {
    /// Bytes received from the peer.
    public var bytesRead = 0
    /// Bytes handed to the kernel.
    public var bytesWritten = 0
    /// Read callbacks that delivered data.
    public var reads = 0
    /// Received bytes currently waiting for the consumer.
    public var inboundBuffered = 0
    /// The most received bytes that ever waited for the consumer.
    public var inboundBufferedHighWaterMark = 0
    /// Times reading stopped because the consumer fell behind.
    public var readPauses = 0
    /// Bytes queued towards the kernel right now.
    public var outboundQueued = 0
    /// The most bytes that were ever queued towards the kernel.
    public var outboundQueuedHighWaterMark = 0
    /// Times a writer suspended on the high watermark.
    public var writerSuspensions = 0
    /// Write system calls issued (`send` attempts and `uv_write` requests).
    public var writeCalls = 0

    public init() {}
}
