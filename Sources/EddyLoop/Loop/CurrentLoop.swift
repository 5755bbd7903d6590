import CEddyShims

/// The thread-local marker that says which event loop owns the current thread.
///
/// Set by a loop thread for its whole life, and around each job that runs on a stopped
/// loop's after-life queue. A C thread-local (`eddy_current_loop`), so that
/// `EventLoop.inEventLoop`, which the per-message paths ask, is one load.
enum CurrentLoop {
    static var pointer: UnsafeMutableRawPointer? { eddy_current_loop_get() }

    static func set(_ loop: UnsafeMutableRawPointer?) {
        eddy_current_loop_set(loop)
    }
}
