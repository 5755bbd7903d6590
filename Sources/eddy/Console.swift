import Glibc

/// Unbuffered line output for the CLI, so scripts reading `LISTENING <port>` see it at
/// once even when stdout is a pipe.
enum Console {
    static func out(_ line: String) { write(line, to: 1) }
    static func error(_ line: String) { write(line, to: 2) }

    private static func write(_ line: String, to fd: Int32) {
        var bytes = Array((line + "\n").utf8)
        var offset = 0
        while offset < bytes.count {
            let written = bytes.withUnsafeMutableBytes { Glibc.write(fd, $0.baseAddress! + offset, $0.count - offset) }
            if written <= 0 { return }
            offset += written
        }
    }
}
