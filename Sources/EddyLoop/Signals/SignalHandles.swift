import CLibUV

/// The `uv_signal_t` handles of one signal watcher (`SignalWatcher`, one report;
/// `RepeatingSignalHandler`, every report): started together, closed together. Loop thread.
struct SignalHandles {
    private var handles: [UnsafeMutablePointer<uv_signal_t>] = []

    /// Starts one handle per signal, each carrying `owner` (unretained: the owner closes its
    /// handles before it goes) for `callback` to find.
    mutating func start(_ signals: [Int32], on loop: EventLoop, owner: AnyObject, callback: uv_signal_cb) {
        for signal in signals {
            let handle = UVHandle.allocate(uv_signal_t.self)
            uv_signal_init(loop.uv, handle)
            handle.pointee.data = Unmanaged.passUnretained(owner).toOpaque()
            uv_signal_start(handle, callback, signal)
            handles.append(handle)
        }
    }

    /// Stops and closes every handle (the signals have their default effect again), and
    /// deregisters `owner` from `loop` once the last has closed (at once if there was none).
    mutating func close(deregistering owner: any LoopResource, from loop: EventLoop) {
        let open = handles
        handles = []
        var remaining = open.count
        for handle in open {
            uv_signal_stop(handle)
            handle.pointee.data = Unmanaged.passRetained(ClosingCounter {
                remaining -= 1
                if remaining == 0 { loop.deregister(owner) }
            }).toOpaque()
            UVHandle.close(handle.asUVHandle)
        }
        if open.isEmpty { loop.deregister(owner) }
    }
}
