/// Which end of the connection this is: it decides masking (RFC 6455 §5.1) and who
/// closes TCP first (§7.1.1).
public enum WebSocketRole: Sendable, Hashable {
    case server
    case client
}

/// Incremental frame decoder over arbitrary chunking (RFC 6455 §5.2), modelled on an
/// explicit parser state machine: it works with input split at any byte, including one
/// byte at a time.
///
/// It yields a stream of events — `.frameStart(header)`, zero or more
/// `.payload(range)` (a range of the caller's input, already unmasked in place),
/// `.frameEnd` — so payload bytes are touched once and text can be UTF-8-checked while
/// a frame is still arriving.
///
/// Guarantees: every header rule of §5 is checked as soon as the header bytes that
/// carry it arrive, before any payload is accepted: reserved bits (RSV1 only on the
/// first frame of a message and only when `allowsCompression`), reserved opcodes,
/// fragmented or > 125-byte control frames, masking per role, minimal length encoding
/// and the 64-bit top bit (1002); continuation ordering (§5.4, 1002); frame size,
/// message size and fragment count limits (1009). After an error the decoder stays
/// failed.
public struct WebSocketFrameDecoder: Sendable {
    /// One step of decoding.
    public enum Event: Sendable, Equatable {
        case frameStart(WebSocketFrameHeader)
        /// Payload bytes of the current frame at this range of the input, unmasked.
        case payload(Range<Int>)
        case frameEnd
    }

    /// What the decoder enforces.
    public struct Limits: Sendable, Equatable {
        public var maxFrameSize: Int
        public var maxMessageSize: Int
        public var maxFragments: Int

        public init(maxFrameSize: Int, maxMessageSize: Int, maxFragments: Int) {
            self.maxFrameSize = maxFrameSize
            self.maxMessageSize = maxMessageSize
            self.maxFragments = maxFragments
        }
    }

    private enum State: Sendable {
        /// Collecting header bytes (2 to 14) into `headerBytes`.
        case header
        case payload(remaining: Int, offset: Int, key: WebSocketMaskingKey?)
        case failed(WebSocketProtocolError)
    }

    public let role: WebSocketRole
    public var limits: Limits
    /// True once permessage-deflate is negotiated: RSV1 is then allowed on the first
    /// frame of a data message (RFC 7692 §6).
    public var allowsCompression: Bool

    private var state: State = .header
    private var headerBytes = FrameHeaderBytes()
    /// Whether a fragmented data message is in progress (§5.4).
    private var messageInProgress = false
    private var messageBytes = 0
    private var messageFragments = 0
    /// Whether the message in progress is compressed (RSV1 on its first frame).
    private var messageCompressed = false
    /// The payload length of the header being read, once known.
    private var pendingLength = 0

    public init(role: WebSocketRole, limits: Limits, allowsCompression: Bool = false) {
        self.role = role
        self.limits = limits
        self.allowsCompression = allowsCompression
    }

    /// Whether nothing is pending between two messages: no header byte, no payload byte of
    /// a frame and no fragment of a data message has been read without the rest (a decoder
    /// in this state can be dropped and a fresh one made for the next message).
    public var isBetweenMessages: Bool {
        guard case .header = state, headerBytes.count == 0 else { return false }
        return !messageInProgress
    }

    /// Whether the next event needs input: the decoder waits for a frame's header (or the rest
    /// of one). With no input left, `next` then returns nil and changes nothing.
    public var awaitsHeader: Bool {
        if case .header = state { return true }
        return false
    }

    /// Decodes the next event from `input` starting at `index`, advancing `index`.
    /// Returns nil when `index` reached the end of the input and no event is pending.
    /// Payload bytes are unmasked in place in `input`.
    public mutating func next(
        _ input: UnsafeMutableRawBufferPointer, index: inout Int
    ) throws(WebSocketProtocolError) -> Event? {
        switch state {
        case .failed(let error):
            throw error
        case .payload(let remaining, let offset, let key):
            if remaining == 0 {
                state = .header
                return .frameEnd
            }
            let available = input.count - index
            if available == 0 { return nil }
            let take = min(available, remaining)
            let range = index..<(index + take)
            if let key {
                key.apply(to: UnsafeMutableRawBufferPointer(rebasing: input[range]), payloadOffset: offset)
            }
            index += take
            state = .payload(remaining: remaining - take, offset: offset + take, key: key)
            return .payload(range)
        case .header:
            // Fast path, the usual case: the whole header is in `input`. It is taken at once
            // and checked in the same order as byte by byte (first two bytes, length, key).
            if headerBytes.count == 0, input.count - index >= 2 {
                let first = input[index], second = input[index + 1]
                let total = Self.headerLength(second: second)
                if input.count - index >= total {
                    // Read where it lies in the input: no copy into `headerBytes`.
                    let bytes = UnsafeRawBufferPointer(rebasing: input[index..<(index + total)])
                    index += total
                    do throws(WebSocketProtocolError) {
                        try checkFirstTwoBytes(first, second)
                        pendingLength = try checkLength(bytes)
                    } catch {
                        return try fail(error)
                    }
                    let header = makeHeader(bytes)
                    state = .payload(remaining: header.payloadLength, offset: 0, key: header.maskingKey)
                    return .frameStart(header)
                }
            }
            while index < input.count {
                headerBytes.append(input[index])
                index += 1
                if headerBytes.count == 2 {
                    do throws(WebSocketProtocolError) {
                        try checkFirstTwoBytes(headerBytes[0], headerBytes[1])
                    } catch { return try fail(error) }
                }
                guard headerBytes.count >= 2 else { continue }
                if headerBytes.count == Self.lengthFieldEnd(second: headerBytes[1]) {
                    // The length is known: check it and the limits before the masking
                    // key or any payload byte arrives.
                    do throws(WebSocketProtocolError) {
                        pendingLength = try headerBytes.withUnsafeBytes { bytes throws(WebSocketProtocolError) in try checkLength(bytes) }
                    } catch { return try fail(error) }
                }
                if headerBytes.count == Self.headerLength(second: headerBytes[1]) {
                    let header = headerBytes.withUnsafeBytes { makeHeader($0) }
                    headerBytes.removeAll()
                    state = .payload(remaining: header.payloadLength, offset: 0, key: header.maskingKey)
                    return .frameStart(header)
                }
            }
            return nil
        }
    }

    /// The usual case in one step: when `input` at `index` holds a whole, valid, final text
    /// or binary frame without RSV1, and no header or fragmented message is in progress,
    /// checks it as `next` would (masking per role, minimal length, the frame and message
    /// limits), unmasks its payload in place, moves `index` past it and returns its opcode
    /// and payload range: no events, no `WebSocketFrameHeader`. Returns nil, changing
    /// nothing, in every other case (then `next` decodes it, and reports any violation).
    public mutating func nextWholeDataFrame(
        _ input: UnsafeMutableRawBufferPointer, index: inout Int
    ) -> (opcode: WebSocketOpcode, payload: Range<Int>)? {
        guard case .header = state, headerBytes.count == 0, !messageInProgress else { return nil }
        let available = input.count - index
        guard available >= 2 else { return nil }
        let first = input[index], second = input[index + 1]
        let opcode: WebSocketOpcode
        switch first {
        case 0x81: opcode = .text // FIN, no RSV bits
        case 0x82: opcode = .binary
        default: return nil
        }
        let masked = second & 0x80 != 0
        guard masked == (role == .server) else { return nil }
        var cursor = index + 2
        var length = Int(second & 0x7F)
        if length == 126 {
            guard available >= 4 else { return nil }
            length = Int(input[cursor]) << 8 | Int(input[cursor + 1])
            guard length >= 126 else { return nil }
            cursor += 2
        } else if length == 127 {
            return nil // 64 KiB or more: the copy dominates; `next` takes it
        }
        guard length <= limits.maxFrameSize, length <= limits.maxMessageSize else { return nil }
        let keyStart = cursor
        if masked { cursor += 4 }
        guard input.count - cursor >= length else { return nil }
        let range = cursor..<(cursor + length)
        if masked, length > 0 {
            let key = WebSocketMaskingKey(input[keyStart], input[keyStart + 1], input[keyStart + 2], input[keyStart + 3])
            key.apply(to: UnsafeMutableRawBufferPointer(rebasing: input[range]), payloadOffset: 0)
        }
        // What `checkLength` records for a data frame that starts and ends a message.
        messageCompressed = false
        messageBytes = length
        messageFragments = 1
        index = range.upperBound
        return (opcode, range)
    }

    /// Right after `.frameStart`: when the frame's whole payload is in `input`, unmasks it in
    /// place, moves `index` past the frame and returns the payload's range, so the frame's
    /// `.payload` and `.frameEnd` events are not produced (one call per frame instead of
    /// three, for a caller that handles a whole frame at once). Returns nil, changing
    /// nothing, when any payload byte is still to come or the frame has been partly read.
    public mutating func takeWholePayload(_ input: UnsafeMutableRawBufferPointer, index: inout Int) -> Range<Int>? {
        guard case .payload(let remaining, let offset, let key) = state, offset == 0,
              index <= input.count, input.count - index >= remaining else { return nil }
        let range = index..<(index + remaining)
        if let key, remaining > 0 {
            key.apply(to: UnsafeMutableRawBufferPointer(rebasing: input[range]), payloadOffset: 0)
        }
        index += remaining
        state = .header
        return range
    }

    private mutating func fail(_ error: WebSocketProtocolError) throws(WebSocketProtocolError) -> Event? {
        state = .failed(error)
        throw error
    }

    /// Header bytes up to and including the extended payload length, from the second byte.
    @inline(__always)
    private static func lengthFieldEnd(second: UInt8) -> Int {
        switch second & 0x7F {
        case 126: return 4
        case 127: return 10
        default: return 2
        }
    }

    /// The whole header's length, from its second byte.
    @inline(__always)
    private static func headerLength(second: UInt8) -> Int {
        var length = 2
        switch second & 0x7F {
        case 126: length += 2
        case 127: length += 8
        default: break
        }
        if second & 0x80 != 0 { length += 4 }
        return length
    }

    /// Rules decidable from the first two bytes (RFC 6455 §5.2, §5.4, §5.5; RFC 7692 §6).
    private mutating func checkFirstTwoBytes(_ first: UInt8, _ second: UInt8) throws(WebSocketProtocolError) {
        let fin = first & 0x80 != 0
        let rsv1 = first & 0x40 != 0
        guard first & 0x30 == 0 else { throw .init(.reservedBitsSet) }
        guard let opcode = WebSocketOpcode(wire: first & 0x0F) else {
            throw .init(.reservedOpcode(first & 0x0F))
        }
        let masked = second & 0x80 != 0
        if opcode.isControl {
            guard fin else { throw .init(.fragmentedControlFrame) }
            guard second & 0x7F <= 125 else { throw .init(.controlFrameTooLong) }
            guard !rsv1 else { throw .init(.reservedBitsSet) }
        } else if rsv1 {
            // RFC 7692 §6.1: RSV1 marks a compressed message on its first frame only.
            guard allowsCompression, opcode != .continuation else { throw .init(.reservedBitsSet) }
        }
        switch role {
        case .server: guard masked else { throw .init(.unmaskedClientFrame) }
        case .client: guard !masked else { throw .init(.maskedServerFrame) }
        }
        switch opcode {
        case .continuation: guard messageInProgress else { throw .init(.unexpectedContinuation) }
        case .text, .binary: guard !messageInProgress else { throw .init(.expectedContinuation) }
        default: break
        }
    }

    /// The payload length (RFC 6455 §5.2: minimal encoding, top bit clear) checked
    /// against the frame, message and fragment limits. `headerBytes` holds at least the
    /// header's bytes up to the end of its length field.
    private mutating func checkLength(_ headerBytes: UnsafeRawBufferPointer) throws(WebSocketProtocolError) -> Int {
        let first = headerBytes[0], second = headerBytes[1]
        var length: Int
        switch second & 0x7F {
        case 126:
            length = Int(headerBytes[2]) << 8 | Int(headerBytes[3])
            guard length >= 126 else { throw .init(.nonMinimalLength) }
        case 127:
            var value: UInt64 = 0
            for i in 2..<10 { value = value << 8 | UInt64(headerBytes[i]) }
            guard value & (1 << 63) == 0 else { throw .init(.lengthTopBitSet) }
            guard value > 0xFFFF else { throw .init(.nonMinimalLength) }
            length = Int(value)  // < 2^63, fits Int on 64-bit platforms
        default:
            length = Int(second & 0x7F)
        }
        let opcode = first & 0x0F
        let fin = first & 0x80 != 0
        if opcode & 0x08 == 0 {  // data frame
            if opcode != WebSocketOpcode.continuation.rawValue { messageCompressed = first & 0x40 != 0 }
            // A compressed payload may be slightly larger than the data it encodes
            // (incompressible input is stored); the decompressed size is capped exactly
            // while inflating, so wire limits allow deflate's worst-case expansion.
            let frameLimit = messageCompressed ? Self.deflateBound(limits.maxFrameSize) : limits.maxFrameSize
            let messageLimit = messageCompressed ? Self.deflateBound(limits.maxMessageSize) : limits.maxMessageSize
            guard length <= frameLimit else { throw .init(.frameTooLarge(limit: limits.maxFrameSize)) }
            if opcode == WebSocketOpcode.continuation.rawValue {
                messageFragments += 1
                guard messageFragments <= limits.maxFragments else {
                    throw .init(.tooManyFragments(limit: limits.maxFragments))
                }
            } else {
                messageBytes = 0
                messageFragments = 1
            }
            guard length <= messageLimit - messageBytes else {
                throw .init(.messageTooLarge(limit: limits.maxMessageSize))
            }
            messageBytes += length
            messageInProgress = !fin
        }
        return length
    }

    /// The header once the masking key (if any) has arrived: `headerBytes` is the whole
    /// header, already checked.
    private func makeHeader(_ headerBytes: UnsafeRawBufferPointer) -> WebSocketFrameHeader {
        let first = headerBytes[0], second = headerBytes[1]
        var key: WebSocketMaskingKey?
        if second & 0x80 != 0 {
            let cursor = Self.lengthFieldEnd(second: second)
            key = WebSocketMaskingKey(headerBytes[cursor], headerBytes[cursor + 1], headerBytes[cursor + 2], headerBytes[cursor + 3])
        }
        // checkFirstTwoBytes already proved the opcode valid; `?? .continuation` is never used.
        let opcode = WebSocketOpcode(wire: first & 0x0F) ?? .continuation
        return WebSocketFrameHeader(
            fin: first & 0x80 != 0, rsv1: first & 0x40 != 0, rsv2: false, rsv3: false,
            opcode: opcode, maskingKey: key, payloadLength: pendingLength)
    }

    /// Convenience for tests and simple callers: decodes every complete frame in
    /// `bytes` (keeping partial state for the next call) and returns whole frames.
    public mutating func decodeFrames(_ bytes: [UInt8]) throws(WebSocketProtocolError) -> [WebSocketFrame] {
        var input = bytes
        var frames: [WebSocketFrame] = []
        let result: Result<Void, WebSocketProtocolError> = input.withUnsafeMutableBytes { raw in
            var index = 0
            do throws(WebSocketProtocolError) {
                while let event = try next(raw, index: &index) {
                    switch event {
                    case .frameStart(let header):
                        pendingFrame = WebSocketFrame(fin: header.fin, rsv1: header.rsv1, opcode: header.opcode, payload: [])
                        pendingFrame?.payload.reserveCapacity(min(header.payloadLength, 1 << 16))
                    case .payload(let range):
                        pendingFrame?.payload.append(contentsOf: UnsafeRawBufferPointer(rebasing: raw[range]))
                    case .frameEnd:
                        if let frame = pendingFrame { frames.append(frame) }
                        pendingFrame = nil
                    }
                }
                return .success(())
            } catch {
                return .failure(error)
            }
        }
        try result.get()
        return frames
    }

    /// The partially received frame of `decodeFrames`.
    private var pendingFrame: WebSocketFrame?

    /// zlib's worst-case size of `n` bytes after deflate (stored blocks), rounded up.
    static func deflateBound(_ n: Int) -> Int {
        n + (n >> 12) + (n >> 14) + (n >> 25) + 64
    }
}

/// Up to 14 header bytes, kept inline in the decoder: no heap buffer per connection.
///
/// Guarantees: holds at most 16 bytes; `append` beyond that is ignored (the decoder never
/// needs more than 14: 2 + 8 length + 4 key).
struct FrameHeaderBytes {
    private var storage: (UInt64, UInt64) = (0, 0)
    private(set) var count = 0

    subscript(index: Int) -> UInt8 {
        Swift.withUnsafeBytes(of: storage) { $0[index] }
    }

    mutating func append(_ byte: UInt8) {
        guard count < 16 else { return }
        withUnsafeMutableBytes(of: &storage) { $0[count] = byte }
        count += 1
    }

    mutating func removeAll() { count = 0 }

    /// Calls `body` with the bytes appended so far.
    func withUnsafeBytes<Result, Failure: Error>(
        _ body: (UnsafeRawBufferPointer) throws(Failure) -> Result
    ) throws(Failure) -> Result {
        var copy = storage
        // unsafe boundary: the view covers the first `count` (≤ 16) bytes of a local copy
        // and does not outlive this call.
        return try Swift.withUnsafeBytes(of: &copy) { raw throws(Failure) in
            try body(UnsafeRawBufferPointer(rebasing: raw[0..<count]))
        }
    }
}
