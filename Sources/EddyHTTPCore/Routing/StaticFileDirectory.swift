/// A file the router decided to serve: an absolute path below the configured root and
/// its content type. The I/O layer opens and streams it (404 if it does not exist).
public struct StaticFile: Sendable, Equatable {
    public let path: String
    public let contentType: String
}

/// Maps request paths below a route prefix to files below a root directory.
///
/// Guarantees: the resolved path never leaves `root`: every segment is
/// percent-decoded and then refused if it is empty, `.` or `..`, starts with `.`
/// (hidden files), or contains `/`, `\` or NUL after decoding. Symbolic links inside
/// the root are the deployer's responsibility (the router does no I/O).
public struct StaticFileDirectory: Sendable, Equatable {
    public let root: String

    public init(root: String) {
        var trimmed = root
        while trimmed.count > 1 && trimmed.hasSuffix("/") { trimmed.removeLast() }
        self.root = trimmed
    }

    /// Resolves a path relative to the root; nil when refused. An empty path maps to
    /// `index.html`.
    public func resolve(relativePath: String) -> StaticFile? {
        let raw = relativePath.isEmpty ? "index.html" : relativePath
        var segments: [String] = []
        for part in raw.split(separator: "/", omittingEmptySubsequences: false) {
            guard !part.isEmpty, let decoded = percentDecoded(part) else { return nil }
            if decoded.hasPrefix(".") { return nil }
            if decoded.utf8.contains(where: { $0 == UInt8(ascii: "/") || $0 == UInt8(ascii: "\\") || $0 == 0 }) {
                return nil
            }
            segments.append(decoded)
        }
        guard let last = segments.last else { return nil }
        return StaticFile(path: root + "/" + segments.joined(separator: "/"), contentType: Self.contentType(forFileName: last))
    }

    /// The Content-Type for a file name, by extension (case-insensitive);
    /// `application/octet-stream` when unknown.
    public static func contentType(forFileName name: String) -> String {
        guard let dot = name.lastIndex(of: ".") else { return "application/octet-stream" }
        switch name[name.index(after: dot)...].lowercased() {
        case "html", "htm": return "text/html; charset=utf-8"
        case "css": return "text/css; charset=utf-8"
        case "js", "mjs": return "text/javascript; charset=utf-8"
        case "json", "map": return "application/json"
        case "txt": return "text/plain; charset=utf-8"
        case "svg": return "image/svg+xml"
        case "png": return "image/png"
        case "jpg", "jpeg": return "image/jpeg"
        case "gif": return "image/gif"
        case "webp": return "image/webp"
        case "ico": return "image/x-icon"
        case "wasm": return "application/wasm"
        case "woff": return "font/woff"
        case "woff2": return "font/woff2"
        case "pdf": return "application/pdf"
        default: return "application/octet-stream"
        }
    }
}
