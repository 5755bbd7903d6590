import EddyHTTPCore
import Glibc

/// Reads a routed static file into a response (404 when missing, 500 when unreadable or
/// over the size cap). Reads are blocking `read(2)` calls on the loop: fine for the small
/// assets of a dashboard, documented as such.
enum StaticFileReader {
    static func response(for file: StaticFile, maxBytes: Int) -> HTTPResponse {
        let fd = open(file.path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else {
            return errno == ENOENT || errno == ENOTDIR ? .error(.notFound, close: false) : .error(.forbidden, close: false)
        }
        defer { close(fd) }
        var info = stat()
        guard fstat(fd, &info) == 0, (info.st_mode & S_IFMT) == S_IFREG else { return .error(.notFound, close: false) }
        let size = Int(info.st_size)
        guard size <= maxBytes else { return .error(.internalServerError, close: false) }
        var body = [UInt8](repeating: 0, count: size)
        var offset = 0
        while offset < size {
            let count = body.withUnsafeMutableBytes { read(fd, $0.baseAddress! + offset, size - offset) }
            if count <= 0 { return .error(.internalServerError, close: false) }
            offset += count
        }
        return HTTPResponse(status: .ok, headers: ["Content-Type": file.contentType], body: body)
    }
}
