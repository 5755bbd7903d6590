/// permessage-deflate negotiation rules (RFC 7692 §5, §7.1), as pure functions.
///
/// Server truth table (per offer, first acceptable offer wins, §5.1):
///
/// | offer contains | server answers |
/// |---|---|
/// | an unknown parameter, a duplicate, a value on a `*_no_context_takeover`, a window value outside 8...15 or with leading zeros | declines that offer |
/// | `server_no_context_takeover` | includes it (§7.1.1.1) |
/// | nothing about server context | includes `server_no_context_takeover` only if configured |
/// | `client_no_context_takeover` | includes it (acknowledged) |
/// | nothing about client context | includes `client_no_context_takeover` only if configured |
/// | `server_max_window_bits=N` (8...15) | `server_max_window_bits=min(N, maxWindowBits)` (see below for 8) |
/// | no `server_max_window_bits` | `server_max_window_bits=maxWindowBits` when below 15 (§7.1.2.1 allows it), else omitted |
/// | no `client_max_window_bits` | never includes it (§7.1.2.2) |
/// | `client_max_window_bits` without value | `client_max_window_bits=requestedPeerWindowBits` when below 15, else omitted |
/// | `client_max_window_bits=N` | `client_max_window_bits=min(N, requestedPeerWindowBits)` |
///
/// Window bits 8: zlib refuses raw deflate with windowBits 8, so Eddy never *asks* a
/// peer for 8 (`requestedPeerWindowBits` is at least 9) and never creates a zlib
/// stream with 8. When a peer asks Eddy for 8 (Autobahn 13.3/13.5 do), Eddy answers 8
/// and compresses with windowBits 9: zlib limits match distances to
/// `w_size - MIN_LOOKAHEAD` = 512 − 262 = 250 bytes, so that stream is decodable with a
/// 256-byte window (a test inflates it with windowBits 8 to prove it). Answering 9
/// instead would break RFC 7692 §7.1.2.1 (the answer must not exceed the offer) and
/// strict clients would fail the handshake. Decompressors always use at least 9.
public enum PerMessageDeflateNegotiation {
    public static let extensionName = "permessage-deflate"

    /// A validated offer (or response) element.
    struct Parameters: Equatable {
        var serverNoContextTakeover = false
        var clientNoContextTakeover = false
        var serverMaxWindowBits: Int?
        var clientMaxWindowBitsPresent = false
        var clientMaxWindowBits: Int?

        /// nil when the parameters break RFC 7692 §7.1 (duplicate, unknown, bad value).
        init?(_ parameters: [WebSocketExtensionParameter]) {
            var seen: Set<String> = []
            for parameter in parameters {
                guard seen.insert(parameter.name).inserted else { return nil }
                switch parameter.name {
                case "server_no_context_takeover":
                    guard parameter.value == nil else { return nil }
                    serverNoContextTakeover = true
                case "client_no_context_takeover":
                    guard parameter.value == nil else { return nil }
                    clientNoContextTakeover = true
                case "server_max_window_bits":
                    guard let value = parameter.value, let bits = parseWindowBits(value) else { return nil }
                    serverMaxWindowBits = bits
                case "client_max_window_bits":
                    clientMaxWindowBitsPresent = true
                    if let value = parameter.value {
                        guard let bits = parseWindowBits(value) else { return nil }
                        clientMaxWindowBits = bits
                    }
                default:
                    return nil
                }
            }
        }
    }

    /// `8`...`15` written as decimal without leading zeros or sign (RFC 7692 §7.1.2).
    static func parseWindowBits(_ text: String) -> Int? {
        let bytes = Array(text.utf8)
        guard (1...2).contains(bytes.count), bytes.allSatisfy({ $0 >= 0x30 && $0 <= 0x39 }), bytes[0] != 0x30,
              let value = Int(text), (8...15).contains(value) else { return nil }
        return value
    }

    /// The server's choice among `offers` (all extension offers of the request, in
    /// order). Returns nil when deflate is disabled or no permessage-deflate offer is
    /// acceptable — the handshake then simply proceeds without compression.
    public static func serverAccept(
        offers: [WebSocketExtensionOffer], configuration: PerMessageDeflateConfiguration
    ) -> PerMessageDeflateParameters? {
        guard configuration.isEnabled else { return nil }
        for offer in offers where offer.name.lowercased() == extensionName {
            guard let parameters = Parameters(offer.parameters) else { continue }
            if let accepted = serverAccept(parameters, configuration: configuration) { return accepted }
        }
        return nil
    }

    static func serverAccept(_ offer: Parameters, configuration: PerMessageDeflateConfiguration) -> PerMessageDeflateParameters? {
        var result = PerMessageDeflateParameters()
        result.serverNoContextTakeover = offer.serverNoContextTakeover || configuration.noContextTakeover
        result.clientNoContextTakeover = offer.clientNoContextTakeover || configuration.requestPeerNoContextTakeover
        if let requested = offer.serverMaxWindowBits {
            result.serverMaxWindowBits = min(requested, configuration.maxWindowBits)
        } else if configuration.maxWindowBits < 15 {
            result.serverMaxWindowBits = configuration.maxWindowBits
        }
        if offer.clientMaxWindowBitsPresent {
            let allowed = offer.clientMaxWindowBits ?? 15
            let chosen = min(allowed, configuration.requestedPeerWindowBits)
            if offer.clientMaxWindowBits == nil && chosen == 15 {
                result.clientMaxWindowBits = nil
            } else {
                result.clientMaxWindowBits = chosen
            }
        }
        return result
    }

    /// The client's offers: a preferred one that also limits the server's window, and a
    /// fallback without `server_max_window_bits` for servers that cannot honour it.
    public static func clientOffers(configuration: PerMessageDeflateConfiguration) -> [WebSocketExtensionOffer] {
        guard configuration.isEnabled else { return [] }
        var common: [WebSocketExtensionParameter] = []
        if configuration.requestPeerNoContextTakeover { common.append(.init(name: "server_no_context_takeover")) }
        if configuration.noContextTakeover { common.append(.init(name: "client_no_context_takeover")) }
        let clientBits = WebSocketExtensionParameter(
            name: "client_max_window_bits",
            value: configuration.offersWindowBitsValue && configuration.maxWindowBits < 15 ? String(configuration.maxWindowBits) : nil)
        var offers: [WebSocketExtensionOffer] = []
        if configuration.requestedPeerWindowBits < 15 {
            offers.append(WebSocketExtensionOffer(
                name: extensionName,
                parameters: common + [.init(name: "server_max_window_bits", value: String(configuration.requestedPeerWindowBits)), clientBits]))
        }
        offers.append(WebSocketExtensionOffer(name: extensionName, parameters: common + [clientBits]))
        return offers
    }

    /// Validates the server's `Sec-WebSocket-Extensions` against what
    /// `clientOffers(configuration:)` sent. Returns the agreed parameters (nil when the
    /// server declined compression) or the reason the handshake fails.
    static func clientValidate(
        response: [WebSocketExtensionOffer], configuration: PerMessageDeflateConfiguration
    ) -> Result<PerMessageDeflateParameters?, WebSocketHandshakeError> {
        if response.isEmpty { return .success(nil) }
        guard configuration.isEnabled, response.count == 1, let element = response.first,
              element.name.lowercased() == extensionName else {
            return .failure(.init(.unexpectedExtension))
        }
        guard let parameters = Parameters(element.parameters) else { return .failure(.init(.invalidExtensionParameters)) }
        if configuration.requestPeerNoContextTakeover && !parameters.serverNoContextTakeover {
            return .failure(.init(.invalidExtensionParameters))
        }
        if parameters.clientMaxWindowBitsPresent {
            // §7.1.2.2: the response must carry a value, not above what was offered (any
            // window when the offer had no value: this side compresses with at most
            // `maxWindowBits` either way). 8 is honoured by compressing with zlib's 9
            // (matches reach ≤ 250 bytes back).
            let offered = configuration.offersWindowBitsValue ? configuration.maxWindowBits : 15
            guard let bits = parameters.clientMaxWindowBits, bits <= offered else {
                return .failure(.init(.invalidExtensionParameters))
            }
        }
        return .success(PerMessageDeflateParameters(
            serverNoContextTakeover: parameters.serverNoContextTakeover,
            clientNoContextTakeover: parameters.clientNoContextTakeover,
            serverMaxWindowBits: parameters.serverMaxWindowBits,
            clientMaxWindowBits: parameters.clientMaxWindowBits))
    }
}
