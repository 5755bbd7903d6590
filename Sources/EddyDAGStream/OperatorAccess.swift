public import EddyHTTP

extension DAGStreamGateway {
    /// Nil when `request` carries an operator token (the stream's rules: `Authorization:
    /// Bearer`, `?token=` or the `token.<t>` subprotocol, compared in constant time) from an
    /// allowed origin; otherwise the refusal to send: 401 without a valid token, 403 for a
    /// viewer's token or a foreign origin. For operator-only HTTP endpoints (`/metrics`).
    public func operatorRefusal(_ request: HTTPRequest) -> HTTPResponse? {
        switch access.decide(request) {
        case .deny(let status, let reason): Self.refusal(status, reason)
        case .allow(.viewer): Self.refusal(.forbidden, "operator token required")
        case .allow(.operatorRole): nil
        }
    }
}
