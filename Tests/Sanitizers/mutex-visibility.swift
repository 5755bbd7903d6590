// Why TSan builds swap Mutex for a pthread mutex (docs/hardening.md), shown in one file: two
// threads add to a counter under a lock and the main thread reads it under the same lock, so
// there is no race. Not part of any target; build and run by hand:
//   swiftc -sanitize=thread Tests/Sanitizers/mutex-visibility.swift -o /tmp/futex
//   swiftc -sanitize=thread -D PTHREAD Tests/Sanitizers/mutex-visibility.swift -o /tmp/pthread
//   SWIFT_BACKTRACE=enable=no /tmp/futex     # Synchronization.Mutex: TSan reports a data race
//   SWIFT_BACKTRACE=enable=no /tmp/pthread   # pthread_mutex_t: no report
import Foundation
import Synchronization

#if PTHREAD
/// A lock ThreadSanitizer sees (it intercepts pthread_mutex_lock/unlock).
final class Lock: @unchecked Sendable {
    private let mutex = UnsafeMutablePointer<pthread_mutex_t>.allocate(capacity: 1)
    init() { pthread_mutex_init(mutex, nil) }
    func with(_ body: () -> Void) { pthread_mutex_lock(mutex); body(); pthread_mutex_unlock(mutex) }
}
#else
/// A lock ThreadSanitizer does not see (futexes).
final class Lock: Sendable {
    private let mutex = Mutex(())
    func with(_ body: () -> Void) { mutex.withLock { _ in body() } }
}
#endif

/// The counter, only ever touched under `lock`.
final class Counter: @unchecked Sendable { var value = 0 }

let lock = Lock()
let counter = Counter()
for _ in 0..<2 {
    Thread { for _ in 0..<10_000 { lock.with { counter.value += 1 } } }.start()
}
for _ in 0..<10_000 {
    var done = false
    lock.with { done = counter.value == 20_000 }
    if done { break }
    usleep(1000)
}
lock.with { print(counter.value) }
