package import CLibUV

// The C casts between libuv's handle "subclasses". Every libuv handle struct starts with
// the `uv_handle_t` fields (and every stream with the `uv_stream_t` fields), which is what
// makes these reinterpretations valid, exactly as in C.

extension UnsafeMutablePointer {
    /// This handle as the generic `uv_handle_t`.
    @inline(__always)
    package var asUVHandle: UnsafeMutablePointer<uv_handle_t> {
        UnsafeMutablePointer<uv_handle_t>(OpaquePointer(self))
    }

    /// This handle as a `uv_stream_t` (valid for TCP, pipe and TTY handles only).
    @inline(__always)
    package var asUVStream: UnsafeMutablePointer<uv_stream_t> {
        UnsafeMutablePointer<uv_stream_t>(OpaquePointer(self))
    }
}
