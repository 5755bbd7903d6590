import Foundation
import Glibc

/// Token helpers for a `DAGStreamServer` that are not tied to a command line: the documented
/// environment variables, random tokens, and tokens as URL values.
public enum DAGServerTokens {
    /// The environment variable that carries the operator token (may approve, pause, resume, cancel).
    public static let operatorVariable = "EDDY_OPERATOR_TOKEN"
    /// The environment variable that carries the viewer token (read only).
    public static let viewerVariable = "EDDY_VIEWER_TOKEN"

    /// A new random token: 16 bytes from the system's secure generator, in hex (32 characters).
    public static func generate() -> String {
        var generator = SystemRandomNumberGenerator()
        return (0..<16).map { _ in String(format: "%02x", UInt8.random(in: 0...255, using: &generator)) }.joined()
    }

    /// A token as a URL query or fragment value (RFC 3986 unreserved characters stay as they are).
    public static func urlEncoded(_ token: String) -> String {
        var unreserved = CharacterSet(charactersIn: "-._~")
        unreserved.formUnion(CharacterSet(charactersIn: "a"..."z"))
        unreserved.formUnion(CharacterSet(charactersIn: "A"..."Z"))
        unreserved.formUnion(CharacterSet(charactersIn: "0"..."9"))
        return token.addingPercentEncoding(withAllowedCharacters: unreserved) ?? token
    }
}

/// A file of generated tokens, for a server that may not print them (its stdout is a log):
/// `NAME=value` lines a shell can source, readable only by the owner.
///
/// Guarantees: `write` never writes into an existing file (so it follows no symlink and
/// inherits no wider mode): it creates a new file with mode 0600 whatever the umask, and
/// renames it over `path`, so a reader sees the old file or the whole new one.
public enum TokenFile {
    /// Why the file could not be written.
    public struct WriteError: Error, CustomStringConvertible {
        public let description: String
        public init(description: String) { self.description = description }
    }

    /// Writes `lines` to `path` with mode 0600: into a new file (never one that exists, so no
    /// symlink is followed and no wider mode is inherited), then renamed over `path`.
    public static func write(_ lines: [String], to path: String) throws {
        let temporary = "\(path).tmp-\(getpid())"
        unlink(temporary)  // a leftover of a crashed process that had our pid
        let fd = open(temporary, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0o600)
        guard fd >= 0 else { throw WriteError(description: "cannot create \(temporary): \(lastError())") }
        var failure = fchmod(fd, 0o600) == 0 ? nil : lastError()  // 0600 whatever the umask
        let bytes = Array((lines.joined(separator: "\n") + "\n").utf8)
        var offset = 0
        while failure == nil && offset < bytes.count {
            let written = bytes[offset...].withUnsafeBytes { Glibc.write(fd, $0.baseAddress, $0.count) }
            if written > 0 {
                offset += written
            } else if written < 0 && errno == EINTR {
                continue
            } else {
                failure = written < 0 ? lastError() : "nothing written"
            }
        }
        close(fd)
        if failure == nil && rename(temporary, path) != 0 { failure = lastError() }
        if let failure {
            unlink(temporary)
            throw WriteError(description: "cannot write \(path): \(failure)")
        }
    }

    /// Removes the file (nothing happens if it is not there).
    public static func remove(_ path: String) { unlink(path) }

    private static func lastError() -> String { String(cString: strerror(errno)) }
}
