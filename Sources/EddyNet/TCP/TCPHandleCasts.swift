import CLibUV

// A `uv_tcp_t` as libuv's `uv_handle_t` and `uv_stream_t` (every TCP handle starts with
// those fields, as in C). EddyLoop's generic `asUVHandle` and `asUVStream` make the same
// cast, but they are not inlined across modules, and each call looks up `uv_tcp_t`'s type
// metadata: about 0.4 % of an echo server's samples at one message per read, on the read
// and write paths. These are concrete, so they compile to nothing.
extension UnsafeMutablePointer where Pointee == uv_tcp_t {
    /// This TCP handle as `uv_handle_t`.
    @inline(__always)
    var tcpAsHandle: UnsafeMutablePointer<uv_handle_t> {
        UnsafeMutablePointer<uv_handle_t>(OpaquePointer(self))
    }

    /// This TCP handle as `uv_stream_t`.
    @inline(__always)
    var tcpAsStream: UnsafeMutablePointer<uv_stream_t> {
        UnsafeMutablePointer<uv_stream_t>(OpaquePointer(self))
    }
}
