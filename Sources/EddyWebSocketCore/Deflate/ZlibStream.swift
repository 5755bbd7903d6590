import CZlib
#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Counting allocator for zlib: every stream passes a pointer to its own byte counter
/// as `opaque`, so `allocatedBytes` is what zlib really holds, not a formula.
/// unsafe boundary: each block carries its size in a 16-byte prefix (keeping malloc's
/// 16-byte alignment) so `zfree` can subtract it.
private func countingZalloc(_ opaque: voidpf?, _ items: uInt, _ size: uInt) -> voidpf? {
    let (bytes, overflow) = Int(items).multipliedReportingOverflow(by: Int(size))
    guard !overflow, let raw = malloc(bytes + 16) else { return nil }
    raw.storeBytes(of: bytes, as: Int.self)
    opaque?.assumingMemoryBound(to: Int.self).pointee += bytes
    return raw + 16
}

private func countingZfree(_ opaque: voidpf?, _ address: voidpf?) {
    guard let address else { return }
    let raw = address - 16
    opaque?.assumingMemoryBound(to: Int.self).pointee -= raw.load(as: Int.self)
    free(raw)
}

/// A heap-pinned `z_stream` whose allocations are counted.
private func makeCountedStream() -> (UnsafeMutablePointer<z_stream>, UnsafeMutablePointer<Int>) {
    let counter = UnsafeMutablePointer<Int>.allocate(capacity: 1)
    counter.initialize(to: 0)
    let stream = UnsafeMutablePointer<z_stream>.allocate(capacity: 1)
    stream.initialize(to: z_stream())
    stream.pointee.zalloc = countingZalloc
    stream.pointee.zfree = countingZfree
    stream.pointee.opaque = UnsafeMutableRawPointer(counter)
    return (stream, counter)
}

private func freeCountedStream(_ stream: UnsafeMutablePointer<z_stream>, _ counter: UnsafeMutablePointer<Int>) {
    stream.deinitialize(count: 1)
    stream.deallocate()
    counter.deinitialize(count: 1)
    counter.deallocate()
}

/// One raw-deflate compression stream (RFC 1951 without zlib header, as RFC 7692 §4
/// requires).
///
/// - Important: `z_stream` holds a pointer back to itself inside zlib's state, so it
///   lives at a fixed heap address for its whole life and is freed in `deinit`.
///   Instances are owned by exactly one `PerMessageDeflateCodec` (a noncopyable value)
///   and never shared, which is why the unchecked `Sendable` is sound: moving the
///   owner moves the only reference.
package final class ZlibDeflateStream: @unchecked Sendable {
    private let stream: UnsafeMutablePointer<z_stream>
    private let counter: UnsafeMutablePointer<Int>

    /// Bytes zlib currently holds for this stream (measured by the allocator).
    var allocatedBytes: Int { counter.pointee }

    package init?(level: Int32, windowBits: Int, memLevel: Int) {
        (stream, counter) = makeCountedStream()
        // Negative windowBits selects raw deflate. zlib refuses raw windowBits 8, so
        // negotiation never asks for it (see PerMessageDeflateNegotiation).
        let rc = eddy_deflateInit2(stream, level, Z_DEFLATED, -Int32(windowBits), Int32(memLevel), Z_DEFAULT_STRATEGY)
        guard rc == Z_OK else {
            freeCountedStream(stream, counter)
            return nil
        }
    }

    deinit {
        deflateEnd(stream)
        freeCountedStream(stream, counter)
    }

    func reset() { deflateReset(stream) }

    /// Compresses `input` with Z_SYNC_FLUSH, appending to `out`, and removes the
    /// trailing `00 00 ff ff` (RFC 7692 §7.2.1). Returns false on a zlib error.
    func compressMessage(_ input: UnsafeRawBufferPointer, into out: inout [UInt8]) -> Bool {
        let start = out.count
        var empty: UInt8 = 0
        var status: Int32 = Z_OK
        // unsafe boundary: zlib reads `input` and writes into `out`'s spare room; both
        // pointers are valid for the duration of each deflate() call and reset
        // before the next one.
        // zlib writes into a scratch block that is appended to `out` with one memcpy per
        // round (appending zeros and trimming them costs a loop per byte in debug builds).
        let scratchSize = min(max(64, input.count / 2 + 64), 256 * 1024)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: scratchSize, alignment: 16)
        defer { scratch.deallocate() }
        withUnsafeMutablePointer(to: &empty) { emptyPointer in
            let inputBase = input.baseAddress.map { UnsafeMutablePointer(mutating: $0.assumingMemoryBound(to: UInt8.self)) } ?? emptyPointer
            stream.pointee.next_in = inputBase
            stream.pointee.avail_in = UInt32(input.count)
            repeat {
                stream.pointee.next_out = scratch.baseAddress!.assumingMemoryBound(to: UInt8.self)
                stream.pointee.avail_out = UInt32(scratchSize)
                status = deflate(stream, Z_SYNC_FLUSH)
                let produced = scratchSize - Int(stream.pointee.avail_out)
                out.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<produced]))
                if status != Z_OK && status != Z_BUF_ERROR { break }
                if stream.pointee.avail_out != 0 { break }
            } while true
            stream.pointee.next_in = nil
            stream.pointee.next_out = nil
        }
        guard status == Z_OK || status == Z_BUF_ERROR else { return false }
        if out.count - start >= 4, out[out.count - 4] == 0, out[out.count - 3] == 0,
           out[out.count - 2] == 0xFF, out[out.count - 1] == 0xFF {
            out.removeLast(4)
        }
        return true
    }
}

/// One raw-inflate stream. Same ownership rules as `ZlibDeflateStream`.
final class ZlibInflateStream: @unchecked Sendable {
    enum Outcome: Equatable {
        case ok
        /// More than `limit` bytes would have been produced; output stops at the limit.
        case tooLarge
        case invalid
    }

    private let stream: UnsafeMutablePointer<z_stream>
    private let counter: UnsafeMutablePointer<Int>

    /// Bytes zlib currently holds for this stream (the window is allocated on first use).
    var allocatedBytes: Int { counter.pointee }

    init?(windowBits: Int) {
        (stream, counter) = makeCountedStream()
        guard eddy_inflateInit2(stream, -Int32(windowBits)) == Z_OK else {
            freeCountedStream(stream, counter)
            return nil
        }
    }

    deinit {
        inflateEnd(stream)
        freeCountedStream(stream, counter)
    }

    func reset() { inflateReset(stream) }

    /// Inflates `input`, appending to `out`, never letting `out` grow more than
    /// `limit` bytes beyond its size at entry (output is produced in bounded chunks and
    /// the check runs after each, so a decompression bomb costs at most `limit` plus
    /// one chunk of work).
    func inflate(_ input: UnsafeRawBufferPointer, into out: inout [UInt8], limit: Int) -> Outcome {
        guard input.count > 0, let inputBase = input.baseAddress else { return .ok }
        let start = out.count
        var outcome = Outcome.ok
        // unsafe boundary: as in ZlibDeflateStream.compressMessage.
        stream.pointee.next_in = UnsafeMutablePointer(mutating: inputBase.assumingMemoryBound(to: UInt8.self))
        stream.pointee.avail_in = UInt32(input.count)
        // Output goes to a scratch block, appended to `out` with one memcpy per round.
        let scratchSize = min(max(input.count * 4, 1024), 256 * 1024)
        let scratch = UnsafeMutableRawBufferPointer.allocate(byteCount: scratchSize, alignment: 16)
        defer { scratch.deallocate() }
        while true {
            let room = limit - (out.count - start)
            // Allow one byte beyond the limit so "exactly at the limit" and "over" differ.
            let size = min(scratchSize, room + 1)
            stream.pointee.next_out = scratch.baseAddress!.assumingMemoryBound(to: UInt8.self)
            stream.pointee.avail_out = UInt32(size)
            let status = CZlib.inflate(stream, Z_SYNC_FLUSH)
            let produced = size - Int(stream.pointee.avail_out)
            out.append(contentsOf: UnsafeRawBufferPointer(rebasing: scratch[..<produced]))
            if out.count - start > limit {
                out.removeLast(out.count - start - limit)
                outcome = .tooLarge
                break
            }
            if status == Z_STREAM_END {
                // A final block (BFINAL) ends the deflate stream; what follows starts a new
                // one (RFC 7692 §7.2.3.3: its example message goes on after the final block
                // with the header bits of the stored block the `00 00 ff ff` tail completes).
                // The rest of this input is inflated as that new stream, never dropped:
                // found by fuzzing, it was lost when it came in the same read as the final
                // block and inflated when it came in the next one. (inflateReset leaves
                // next_in and avail_in as they are.)
                inflateReset(stream)
                if stream.pointee.avail_in == 0 { break }
                continue
            }
            if status == Z_BUF_ERROR { break }  // no progress possible: input consumed
            if status != Z_OK { outcome = .invalid; break }
            if stream.pointee.avail_in == 0 && stream.pointee.avail_out != 0 { break }
        }
        stream.pointee.next_in = nil
        stream.pointee.next_out = nil
        stream.pointee.avail_in = 0
        return outcome
    }
}
