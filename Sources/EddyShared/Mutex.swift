// Files that use `Mutex` import EddyShared, and, when they also need atomics, only
// `import struct Synchronization.Atomic` (a whole `import Synchronization` would make
// `Mutex` ambiguous in ThreadSanitizer builds).
#if EDDY_TSAN
#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// The lock Eddy's shared state is behind, in ThreadSanitizer builds (`-Xswiftc -DEDDY_TSAN`):
/// the API of `Synchronization.Mutex`, over a `pthread_mutex_t`.
///
/// `Synchronization.Mutex` waits on futexes directly, which ThreadSanitizer does not see, so
/// it would report every access made under one as a race. ThreadSanitizer intercepts
/// `pthread_mutex_lock`/`unlock` and so learns the happens-before edges this lock makes.
/// Slower than the futex lock; never used outside sanitizer builds.
package struct Mutex<Value: ~Copyable>: ~Copyable {
    // Unsafe boundary: the lock and the value live in memory this struct allocates and owns
    // (a pthread mutex must not move once initialised); `deinit` releases both.
    private let lock: UnsafeMutablePointer<pthread_mutex_t>
    private let value: UnsafeMutablePointer<Value>

    /// A lock around `initialValue`.
    package init(_ initialValue: consuming sending Value) {
        lock = .allocate(capacity: 1)
        lock.initialize(to: pthread_mutex_t())
        pthread_mutex_init(lock, nil)
        value = .allocate(capacity: 1)
        value.initialize(to: initialValue)
    }

    deinit {
        value.deinitialize(count: 1)
        value.deallocate()
        pthread_mutex_destroy(lock)
        lock.deinitialize(count: 1)
        lock.deallocate()
    }

    /// Runs `body` with exclusive access to the value, as `Synchronization.Mutex.withLock`.
    package borrowing func withLock<Result: ~Copyable, E: Error>(
        _ body: (inout sending Value) throws(E) -> sending Result
    ) throws(E) -> sending Result {
        pthread_mutex_lock(lock)
        defer { pthread_mutex_unlock(lock) }
        return try body(&value.pointee)
    }
}

extension Mutex: @unchecked Sendable where Value: ~Copyable {}
#else
package import Synchronization

/// The lock Eddy's shared state is behind: `Synchronization.Mutex` itself (this alias adds
/// nothing to it). ThreadSanitizer builds (`-Xswiftc -DEDDY_TSAN`) swap in a pthread-based
/// lock of the same API that ThreadSanitizer can see; see docs/hardening.md.
package typealias Mutex<Value: ~Copyable> = Synchronization.Mutex<Value>
#endif
