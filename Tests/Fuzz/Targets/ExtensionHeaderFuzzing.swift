import EddyWebSocketCore

/// `Sec-WebSocket-Extensions` parsing and permessage-deflate negotiation. The input is
/// header field values separated by newlines. Invariants: what parses renders back
/// (`headerValue`) to text that parses to the same offers; an accepted offer has window
/// bits within 8…15; the response the server would send parses as one permessage-deflate
/// element.
enum ExtensionHeaderFuzzing {
    static func run(_ bytes: [UInt8]) -> [String] {
        let fields = bytes.split(separator: 0x0A, omittingEmptySubsequences: false).map { String(decoding: $0, as: UTF8.self) }
        guard let offers = WebSocketExtensionOffer.parse(fields) else { return [] }
        var violations: [String] = []
        let rendered = offers.map(\.headerValue).joined(separator: ", ")
        let again = WebSocketExtensionOffer.parse([rendered])
        if again != offers {
            violations.append("offers do not survive rendering: \(offers) -> \(rendered) -> \(String(describing: again))")
        }
        for configuration in [PerMessageDeflateConfiguration(), PerMessageDeflateConfiguration(maxWindowBits: 9, requestedPeerWindowBits: 8)] {
            guard let accepted = PerMessageDeflateNegotiation.serverAccept(offers: offers, configuration: configuration) else { continue }
            for bits in [accepted.serverMaxWindowBits, accepted.clientMaxWindowBits].compactMap({ $0 }) where !(8...15).contains(bits) {
                violations.append("accepted window bits \(bits)")
            }
            let response = WebSocketExtensionOffer.parse([accepted.headerValue])
            if response?.count != 1 || response?.first?.name != "permessage-deflate" {
                violations.append("the response \(accepted.headerValue) does not parse as one element")
            }
        }
        return violations
    }
}
