import CEddyShims
import Glibc
import Testing

/// `eddy_send`, the one call a connection's writes make to the kernel: what it returns for
/// bytes taken, a full socket, a peer that has gone and a bad descriptor, and that it never
/// raises SIGPIPE. Checked on a local socket pair, without a loop.
@Suite("Socket send")
struct SocketSendTests {
    /// A connected, non-blocking AF_UNIX stream pair, closed by `close()`.
    struct Pair {
        var ends: [Int32] = [-1, -1]

        init() throws {
            var fds: [Int32] = [-1, -1]
            guard socketpair(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0, &fds) == 0 else {
                throw SendTestError.socketpair(errno)
            }
            ends = fds
        }

        mutating func close(_ index: Int) {
            if ends[index] >= 0 { _ = Glibc.close(ends[index]) }
            ends[index] = -1
        }
    }

    enum SendTestError: Error { case socketpair(Int32) }

    static func send(_ fd: Int32, _ bytes: [UInt8]) -> Int {
        bytes.withUnsafeBytes { eddy_send(fd, $0.baseAddress, $0.count) }
    }

    @Test func returnsTheBytesTakenAndThePeerReadsThem() throws {
        var pair = try Pair()
        defer { pair.close(0); pair.close(1) }
        let message: [UInt8] = Array("hello, kernel".utf8)
        #expect(Self.send(pair.ends[0], message) == message.count)
        var received = [UInt8](repeating: 0, count: 64)
        let count = received.withUnsafeMutableBytes { recv(pair.ends[1], $0.baseAddress, $0.count, 0) }
        #expect(Array(received.prefix(max(0, count))) == message)
    }

    @Test func aFullSocketTakesNothingForNowWithoutAnError() throws {
        var pair = try Pair()
        defer { pair.close(0); pair.close(1) }
        let chunk = [UInt8](repeating: 7, count: 64 * 1024)
        var results: [Int] = []
        // Nobody reads: the pair's buffers fill within a few MiB (bounded at 64 MiB).
        for _ in 0..<1024 {
            let sent = Self.send(pair.ends[0], chunk)
            results.append(sent)
            if sent == 0 { break }
        }
        #expect(results.last == 0)
        #expect(results.allSatisfy { $0 >= 0 })
    }

    @Test func aPeerThatHasGoneIsEPIPEAndRaisesNoSignal() throws {
        var pair = try Pair()
        defer { pair.close(0) }
        pair.close(1)
        // SIGPIPE blocked on this thread while sending: one raised would stay pending (Linux
        // keeps a blocked signal pending even when its action is to ignore it).
        var blocked = sigset_t(), previous = sigset_t(), pending = sigset_t()
        sigemptyset(&blocked)
        sigaddset(&blocked, SIGPIPE)
        pthread_sigmask(SIG_BLOCK, &blocked, &previous)
        let sent = Self.send(pair.ends[0], [1, 2, 3])
        sigpending(&pending)
        let raised = sigismember(&pending, SIGPIPE) == 1
        if raised {
            // Taken, so that it does not reach the process once unblocked.
            var info = siginfo_t()
            var immediately = timespec(tv_sec: 0, tv_nsec: 0)
            _ = sigtimedwait(&blocked, &info, &immediately)
        }
        pthread_sigmask(SIG_SETMASK, &previous, nil)
        #expect(sent == -Int(EPIPE))
        #expect(!raised)
    }

    @Test func aBadDescriptorIsEBADF() {
        #expect(Self.send(-1, [1]) == -Int(EBADF))
    }
}
