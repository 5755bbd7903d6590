package import CLibUV

/// Something an event loop owns and must close when it shuts down: a socket, a listener,
/// a timer.
///
/// - Important: Every method is called on the owning loop's thread.
package protocol LoopResource: AnyObject {
    /// Close now because the loop is shutting down: close the libuv handle(s) and fail
    /// every pending continuation with `IOError.Code.eventLoopShutdown`, exactly once.
    func closeForShutdown()
}

/// Memory management for libuv handles, the libuv way: a handle's memory is allocated when
/// its owner opens it and freed only in its close callback; until then the handle's `data`
/// field holds a retained reference to its Swift owner, so the owner cannot vanish under a
/// pending callback.
package enum UVHandle {
    /// Allocates zeroed memory for one handle of type `H`.
    package static func allocate<H>(_ type: H.Type) -> UnsafeMutablePointer<H> {
        let pointer = UnsafeMutablePointer<H>.allocate(capacity: 1)
        UnsafeMutableRawPointer(pointer).initializeMemory(as: UInt8.self, repeating: 0, count: MemoryLayout<H>.size)
        return pointer
    }

    /// Stores a retained reference to `owner` in the handle's `data` field.
    package static func retain(_ owner: AnyObject, in handle: UnsafeMutablePointer<uv_handle_t>) {
        handle.pointee.data = Unmanaged.passRetained(owner).toOpaque()
    }

    /// The owner stored by `retain(_:in:)`, without changing its reference count.
    @inline(__always)
    package static func owner<Owner: AnyObject>(of handle: UnsafeMutablePointer<uv_handle_t>, as: Owner.Type) -> Owner {
        Unmanaged<Owner>.fromOpaque(handle.pointee.data!).takeUnretainedValue()
    }

    /// Closes the handle. When libuv calls back, the memory is freed, the owner reference
    /// released, and `onClosed` of a `UVHandleOwner` owner called.
    ///
    /// - Note: Must be called at most once per handle, on the loop thread.
    package static func close(_ handle: UnsafeMutablePointer<uv_handle_t>) {
        uv_close(handle) { handle in
            guard let handle else { return }
            let data = handle.pointee.data
            UnsafeMutableRawPointer(handle).deallocate()
            if let data {
                let owner = Unmanaged<AnyObject>.fromOpaque(data).takeRetainedValue()
                (owner as? any UVHandleOwner)?.handleDidClose()
            }
        }
    }
}

/// An owner that wants to know when its handle's memory is gone.
package protocol UVHandleOwner: AnyObject {
    func handleDidClose()
}
