@testable import EddyWebSocketCore

let testKey = WebSocketMaskingKey(0x37, 0xFA, 0x21, 0x3D)

/// A frame as a client would send it (masked with `testKey` unless told otherwise).
func clientFrame(
    _ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, rsv1: Bool = false,
    key: WebSocketMaskingKey? = testKey
) -> [UInt8] {
    var out: [UInt8] = []
    WebSocketFrameEncoder.append(opcode: opcode, fin: fin, rsv1: rsv1, payload: payload, maskingKey: key, to: &out)
    return out
}

/// A frame as a server would send it (unmasked).
func serverFrame(_ opcode: WebSocketOpcode, _ payload: [UInt8], fin: Bool = true, rsv1: Bool = false) -> [UInt8] {
    clientFrame(opcode, payload, fin: fin, rsv1: rsv1, key: nil)
}

func closePayload(_ code: UInt16, _ reason: String = "") -> [UInt8] {
    [UInt8(code >> 8), UInt8(code & 0xFF)] + Array(reason.utf8)
}

/// Deterministic keep-alive-free configuration for protocol tests.
func testConfiguration(
    maxFrameSize: Int = 1 << 20, maxMessageSize: Int = 1 << 20, maxFragments: Int = 1024
) -> WebSocketConfiguration {
    WebSocketConfiguration(
        maxFrameSize: maxFrameSize, maxMessageSize: maxMessageSize, maxFragments: maxFragments,
        keepAlive: .disabled, maskingKeySource: .fixed(testKey))
}

/// Feeds bytes and returns what came out.
func feed(_ proto: inout WebSocketProtocol, _ bytes: [UInt8]) -> (events: [WebSocketEvent], actions: [WebSocketAction]) {
    proto.receiveData(bytes)
    return (proto.takeEvents(), proto.takeActions())
}

/// All bytes in `.write` actions.
func written(_ actions: [WebSocketAction]) -> [UInt8] {
    actions.flatMap { action -> [UInt8] in
        if case .write(let bytes) = action { return bytes }
        return []
    }
}

/// Decodes what one side wrote, as its peer (role) would.
func frames(in bytes: [UInt8], readBy role: WebSocketRole) -> [WebSocketFrame] {
    var decoder = WebSocketFrameDecoder(
        role: role, limits: .init(maxFrameSize: 1 << 26, maxMessageSize: 1 << 26, maxFragments: 1 << 20),
        allowsCompression: true)
    return (try? decoder.decodeFrames(bytes)) ?? []
}

/// The close code in the first Close frame of `bytes`.
func closeCode(in bytes: [UInt8], readBy role: WebSocketRole) -> UInt16? {
    guard let close = frames(in: bytes, readBy: role).first(where: { $0.opcode == .close }) else { return nil }
    guard close.payload.count >= 2 else { return 0 }
    return UInt16(close.payload[0]) << 8 | UInt16(close.payload[1])
}
