import EddyWebSocketCore
import EddyLoop

/// One zlib compressor per loop and setting (window bits, memLevel, level), shared by the
/// loop's connections that compress without context takeover.
///
/// Such a connection resets its compressor after every message, so between messages the
/// stream holds nothing of the connection's: one stream per loop serves them all, and a
/// connection that has sent compressed messages holds no compressor (≈ 38 KB with
/// Eddy's defaults, ≈ 262 KB with zlib's 15/8). uWebSockets' shared compressor works the
/// same way.
///
/// Guarantees: streams are used only on their loop's thread, one message at a time (a
/// message is compressed in one synchronous call), and reset after each.
final class SharedCompressorPool {
    private struct Key: Hashable {
        let windowBits: Int
        let memLevel: Int
        let level: Int
    }

    private var streams: [Key: ZlibDeflateStream] = [:]

    private init() {}

    /// The pool of `loop`. Loop thread.
    static func on(_ loop: EventLoop) -> SharedCompressorPool {
        loop.helper(SharedCompressorPool.self) { SharedCompressorPool() }
    }

    /// The stream for `settings`, made on first use. Nil only if zlib is out of memory.
    func stream(for settings: PerMessageDeflateCodec.Settings) -> ZlibDeflateStream? {
        let key = Key(windowBits: settings.compressWindowBits, memLevel: settings.memLevel, level: settings.compressionLevel)
        if let stream = streams[key] { return stream }
        guard let stream = ZlibDeflateStream(level: Int32(key.level), windowBits: key.windowBits, memLevel: key.memLevel) else { return nil }
        streams[key] = stream
        return stream
    }
}
