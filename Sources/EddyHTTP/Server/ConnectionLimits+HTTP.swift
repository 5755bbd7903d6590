public import EddyNet

extension ConnectionLimits {
    /// These limits, with refused connections answered as an HTTP/1.1 server: `503 Service
    /// Unavailable` at capacity, `429 Too Many Requests` over a per-address limit or rate,
    /// each with `Retry-After: 1`, a one-line reason and `Connection: close`. The answer is
    /// sent as soon as the connection is accepted, before its request is read (RFC 9110
    /// allows a response to a request not yet received; clients show it as the request's).
    public func answeringOverHTTP() -> ConnectionLimits {
        var limits = self
        limits.refusals[.capacity] = Self.answer("503 Service Unavailable", "server at its connection limit")
        limits.refusals[.addressLimit] = Self.answer("429 Too Many Requests", "too many connections from your address")
        limits.refusals[.addressRate] = Self.answer("429 Too Many Requests", "connecting too fast from your address")
        return limits
    }

    private static func answer(_ status: String, _ reason: String) -> [UInt8] {
        let body = status.prefix(3) + " " + reason + "\n"
        return Array(("HTTP/1.1 \(status)\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n"
            + "Retry-After: 1\r\nCache-Control: no-store\r\nConnection: close\r\n\r\n\(body)").utf8)
    }
}
