/// What a subscribed connection receives, decoded from a RESP3 push (`>`) or a RESP2 array:
/// published messages and the server's confirmations of (un)subscriptions.
///
/// Guarantee: `init(_:)` returns nil for anything that is not a pub/sub event (a command's
/// reply, a client-tracking invalidation), never traps on a short or odd array.
public enum RedisPubSubEvent: Sendable, Hashable {
    /// A message published to `channel`; `pattern` is the PSUBSCRIBE pattern that matched, if any.
    case message(channel: String, pattern: String?, payload: [UInt8])
    /// A SUBSCRIBE or PSUBSCRIBE took effect; `count` is how many the connection now has.
    case subscribed(channel: String, isPattern: Bool, count: Int64)
    /// An UNSUBSCRIBE or PUNSUBSCRIBE took effect.
    case unsubscribed(channel: String, isPattern: Bool, count: Int64)

    /// Decodes `value` (a RESP3 push or a RESP2 array such as `[message, channel, payload]`);
    /// nil when it is not a pub/sub event.
    public init?(_ value: RESPValue) {
        guard let parts = value.elements, let kind = parts.first?.string?.lowercased() else { return nil }
        switch (kind, parts.count) {
        case ("message", 3), ("smessage", 3):
            guard let channel = parts[1].string, let payload = parts[2].bytes else { return nil }
            self = .message(channel: channel, pattern: nil, payload: payload)
        case ("pmessage", 4):
            guard let pattern = parts[1].string, let channel = parts[2].string, let payload = parts[3].bytes else { return nil }
            self = .message(channel: channel, pattern: pattern, payload: payload)
        case ("subscribe", 3), ("psubscribe", 3), ("unsubscribe", 3), ("punsubscribe", 3):
            // UNSUBSCRIBE from nothing names no channel (null).
            let channel = parts[1].string ?? ""
            guard let count = parts[2].integer else { return nil }
            let isPattern = kind.hasPrefix("p")
            self = kind.hasSuffix("unsubscribe") ? .unsubscribed(channel: channel, isPattern: isPattern, count: count)
                : .subscribed(channel: channel, isPattern: isPattern, count: count)
        default:
            return nil
        }
    }
}
