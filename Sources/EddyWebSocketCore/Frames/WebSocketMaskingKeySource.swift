/// Supplies masking keys for frames a client sends.
public struct WebSocketMaskingKeySource: Sendable {
    let next: @Sendable () -> WebSocketMaskingKey

    /// 4 bytes from OpenSSL's `RAND_bytes` per frame. If the generator ever fails the
    /// key falls back to zero bytes, which is still a valid frame (the mask is a
    /// cache-poisoning defence, §10.3, not confidentiality).
    public static let secureRandom = WebSocketMaskingKeySource {
        WebSocketMaskingKey.random() ?? WebSocketMaskingKey(0, 0, 0, 0)
    }

    /// The same key for every frame (deterministic tests only).
    public static func fixed(_ key: WebSocketMaskingKey) -> WebSocketMaskingKeySource {
        WebSocketMaskingKeySource { key }
    }

    public init(_ next: @escaping @Sendable () -> WebSocketMaskingKey) { self.next = next }
}
