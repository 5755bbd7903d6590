/// A frame's header and payload written as one buffer: into a new array for a stream that
/// takes whole buffers, appended to a cork for TCP's and TLS's small writes.
extension [UInt8] {
    /// `header`'s bytes followed by `payload`'s, in one new array (for a write that must
    /// hand them on as one buffer).
    package init(joining header: RawSpan, _ payload: RawSpan) {
        self.init()
        append(joining: header, payload)
    }

    /// Appends `header`'s bytes, then `payload`'s: one uniqueness and capacity check for
    /// both (growing by doubling, as `append` does) and two `memcpy`s, where two appends
    /// would check twice and copy through the generic sequence path.
    @inline(__always)
    package mutating func append(joining header: RawSpan, _ payload: RawSpan) {
        let total = header.byteCount + payload.byteCount
        guard total > 0 else { return }
        header.withUnsafeBytes { header in
            payload.withUnsafeBytes { payload in
                append(addingCapacity: total) { (output: inout OutputSpan<UInt8>) in
                    output.withUnsafeMutableBufferPointer { free, initialized in
                        // unsafe boundary: `free` is the array's uninitialized room for at
                        // least `total` (> 0) bytes, so its base address exists; the two
                        // copies fill its first `total` bytes, which `initialized` reports.
                        guard let start = free.baseAddress else { return }
                        let room = UnsafeMutableRawPointer(start)
                        if let bytes = header.baseAddress { room.copyMemory(from: bytes, byteCount: header.count) }
                        if let bytes = payload.baseAddress { (room + header.count).copyMemory(from: bytes, byteCount: payload.count) }
                        initialized = total
                    }
                }
            }
        }
    }
}
