import Foundation
import Glibc

/// A file of tokens for one role, kept outside the command line and the environment (a
/// mounted secret, a file only the service's user may read): one token per line; blank lines
/// and lines starting with `#` are skipped; spaces around a token are not part of it.
/// Several lines admit several tokens, so a new token can be added before the old one is
/// removed (rotation without a restart: `DAGStreamServer.replaceTokens`).
public enum TokenList {
    /// Why a token file cannot be used; the server keeps the tokens it had.
    public struct ReadError: Error, CustomStringConvertible {
        public let description: String
    }

    /// The file's tokens (at least one).
    /// - Throws: `ReadError` if the file cannot be read, holds no token, or is larger than
    ///   64 KiB (no token file is; a wrong path might be).
    public static func read(_ path: String) throws -> [String] {
        guard let handle = FileHandle(forReadingAtPath: path) else {
            throw ReadError(description: "cannot read token file \(path): \(String(cString: strerror(errno)))")
        }
        defer { try? handle.close() } // safe to drop: a read-only handle has nothing to lose at close
        // Safe to drop: a read error after a successful open reads as an empty file, which is
        // refused below ("holds no token"), so the tokens in force are kept.
        let data = (try? handle.read(upToCount: 64 * 1024 + 1)) ?? Data()
        guard data.count <= 64 * 1024 else { throw ReadError(description: "token file \(path) is larger than 64 KiB") }
        let tokens = parse(String(decoding: data, as: UTF8.self))
        guard !tokens.isEmpty else { throw ReadError(description: "token file \(path) holds no token") }
        return tokens
    }

    /// The tokens in a file's text, in order, without duplicates.
    public static func parse(_ text: String) -> [String] {
        var seen = Set<String>()
        return text.split(whereSeparator: \.isNewline)
            .map { $0.trimmingCharacters(in: .whitespaces) }
            .filter { !$0.isEmpty && !$0.hasPrefix("#") && seen.insert($0).inserted }
    }

    /// A warning if others than the owner may read the file (nil when only the owner can).
    public static func permissionWarning(_ path: String) -> String? {
        var info = stat()
        guard stat(path, &info) == 0, info.st_mode & 0o077 != 0 else { return nil }
        return "eddy: warning: token file \(path) is readable by other users (mode \(String(info.st_mode & 0o777, radix: 8))); chmod 600 it"
    }
}
