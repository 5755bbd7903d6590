import COpenSSL

/// OpenSSL's per-thread error queue, read right after a failing call (no suspension point
/// in between, so the queue is the calling thread's and holds that call's errors only).
enum OpenSSLErrors {
    /// What the queue said, then emptied.
    struct Drained {
        var reasons: [String] = []
        /// OpenSSL's reason codes (`SSL_R_…`), in queue order.
        var codes: [Int32] = []

        func contains(_ reason: Int32) -> Bool { codes.contains(reason) }
    }

    /// Empties the queue (before an SSL call, so that its errors are the only ones there).
    static func clear() { ERR_clear_error() }

    /// Takes every queued error's reason string (`ERR_error_string_n`), oldest first.
    static func drain() -> Drained {
        var drained = Drained()
        // Bounded: the queue holds at most ERR_NUM_ERRORS (16) entries.
        for _ in 0..<32 {
            let error = ERR_get_error()
            if error == 0 { break }
            drained.codes.append(eddy_tls_error_reason(error))
            drained.reasons.append(describe(error))
        }
        return drained
    }

    /// One error as OpenSSL prints it: `error:0A000086:SSL routines::certificate verify failed`.
    private static func describe(_ error: UInt) -> String {
        // The only pointer boundary here: a fixed stack-sized buffer OpenSSL fills and
        // NUL-terminates (ERR_error_string_n never writes past `count`).
        var buffer = [CChar](repeating: 0, count: 256)
        let count = buffer.count
        buffer.withUnsafeMutableBufferPointer { ERR_error_string_n(error, $0.baseAddress, count) }
        return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
