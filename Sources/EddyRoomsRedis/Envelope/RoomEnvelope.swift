public import EddyWebSocket

/// A room message as it travels between nodes through Redis: the publishing node's name,
/// the message kind and its payload, published once per room on channel
/// `<prefix><room>`. Bytes: `t` or `b`, the node name, `\n`, the payload.
///
/// Guarantee: `init?(decoding:)` returns nil for bytes that are not an envelope (another
/// program publishing on the channel), never traps.
public struct RoomEnvelope: Sendable, Equatable {
    /// The name of the node that published the message.
    public var node: String
    /// The message as the publisher gave it (text or binary).
    public var message: WebSocketMessage

    public init(node: String, message: WebSocketMessage) {
        self.node = node
        self.message = message
    }

    /// The bytes published to Redis: `t` (text) or `b` (binary), the node name, `\n`, the payload.
    public var encoded: [UInt8] {
        var bytes: [UInt8] = []
        switch message {
        case .text(let text):
            bytes.reserveCapacity(node.utf8.count + text.utf8.count + 2)
            bytes.append(UInt8(ascii: "t"))
            bytes.append(contentsOf: node.utf8)
            bytes.append(10)
            bytes.append(contentsOf: text.utf8)
        case .binary(let payload):
            bytes.reserveCapacity(node.utf8.count + payload.count + 2)
            bytes.append(UInt8(ascii: "b"))
            bytes.append(contentsOf: node.utf8)
            bytes.append(10)
            bytes.append(contentsOf: payload)
        }
        return bytes
    }

    /// Decodes bytes made by `encoded`; nil for an unknown kind, no node name, no newline, or
    /// a text payload that is not valid UTF-8.
    public init?(decoding bytes: [UInt8]) {
        guard let kind = bytes.first, let newline = bytes.firstIndex(of: 10), newline > 1 else { return nil }
        let node = String(decoding: bytes[1..<newline], as: UTF8.self)
        let payload = bytes[(newline + 1)...]
        switch kind {
        case UInt8(ascii: "t"):
            guard let text = String(validating: payload, as: UTF8.self) else { return nil }
            self.init(node: node, message: .text(text))
        case UInt8(ascii: "b"): self.init(node: node, message: .binary(Array(payload)))
        default: return nil
        }
    }

    /// Whether `name` can name a node: 1 to 64 bytes of letters, digits, `-`, `_`, `.`.
    public static func isValidNode(_ name: String) -> Bool {
        !name.isEmpty && name.utf8.count <= 64
            && name.unicodeScalars.allSatisfy { $0.isASCII && ($0.properties.isAlphabetic || ("0"..."9").contains($0) || "-_.".unicodeScalars.contains($0)) }
    }
}
