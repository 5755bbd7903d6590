import CLibUV

/// The thread-local marker that says which event loop owns the current thread.
///
/// Set by a loop thread for its whole life, and around each job that runs on a stopped
/// loop's after-life queue, so that `EventLoop.inEventLoop` is one `pthread_getspecific`.
enum CurrentLoop {
    static let key: pthread_key_t = {
        var key = pthread_key_t()
        let status = pthread_key_create(&key, nil)
        precondition(status == 0, "pthread_key_create failed: \(status)")
        return key
    }()

    static var pointer: UnsafeMutableRawPointer? { pthread_getspecific(key) }

    static func set(_ loop: UnsafeMutableRawPointer?) {
        _ = pthread_setspecific(key, loop)
    }
}
