import EddyHTTPCore

/// `HTTPRequestParser` over pipelined requests. Invariants: a request never exceeds the
/// limits (header count, body size); `consumed` is within the input; feeding the same bytes
/// in small chunks gives the same requests and the same failure as feeding them at once.
enum HTTPRequestFuzzing {
    static let limits = HTTPParserLimits(maxRequestLineBytes: 512, maxHeadBytes: 1024, maxHeaderCount: 16, maxBodyBytes: 2048)

    static func run(_ bytes: [UInt8]) -> [String] {
        var input = FuzzInput(bytes)
        let chunkSize = Int(input.byte() % 16) + 1
        let data = input.rest
        var violations: [String] = []
        let whole = outcomes(of: [data], violations: &violations)
        let chunked = outcomes(of: chunks(of: data, size: chunkSize), violations: &violations)
        if whole != chunked {
            violations.append("chunks of \(chunkSize) bytes parse differently: \(chunked) vs \(whole)")
        }
        return violations
    }

    /// Requests and the final failure, if any, from feeding `pieces` in order.
    static func outcomes(of pieces: [[UInt8]], violations: inout [String]) -> [String] {
        var parser = HTTPRequestParser(limits: limits)
        var results: [String] = []
        for piece in pieces {
            var pending = piece[...]
            // Bounded: every request consumes at least one byte, or the loop ends.
            while !pending.isEmpty {
                switch parser.parse(Array(pending)) {
                case .needMoreData:
                    pending = []
                case .request(let request, let consumed):
                    guard consumed >= 1, consumed <= pending.count else {
                        violations.append("consumed \(consumed) of \(pending.count) bytes")
                        return results
                    }
                    if request.body.count > limits.maxBodyBytes { violations.append("body of \(request.body.count) bytes") }
                    if request.headers.count > limits.maxHeaderCount { violations.append("\(request.headers.count) headers") }
                    results.append("\(request.method) \(request.target) \(request.headers.count) \(request.body)")
                    pending = pending.dropFirst(consumed)
                case .failure(let error):
                    results.append("failure \(error)")
                    return results
                }
            }
        }
        return results
    }
}

/// `HTTPResponseHeadParser` (the WebSocket client reads a server's answer with it).
/// Invariants: `consumed` within the input; chunked feeding gives the same head or failure.
enum HTTPResponseHeadFuzzing {
    static func run(_ bytes: [UInt8]) -> [String] {
        var input = FuzzInput(bytes)
        let chunkSize = Int(input.byte() % 16) + 1
        let data = input.rest
        var violations: [String] = []
        let whole = outcome(of: [data], violations: &violations)
        let chunked = outcome(of: chunks(of: data, size: chunkSize), violations: &violations)
        if whole != chunked {
            violations.append("chunks of \(chunkSize) bytes parse differently: \(chunked) vs \(whole)")
        }
        return violations
    }

    static func outcome(of pieces: [[UInt8]], violations: inout [String]) -> String {
        var parser = HTTPResponseHeadParser(limits: HTTPRequestFuzzing.limits)
        var fed = 0
        for piece in pieces {
            switch parser.parse(piece) {
            case .needMoreData:
                fed += piece.count
            case .head(let head, let consumed):
                if consumed < 0 || consumed > piece.count { violations.append("consumed \(consumed) of \(piece.count)") }
                return "head \(head.statusCode) \(head.headers.count) at \(fed + consumed)"
            case .failure(let error):
                return "failure \(error)"
            }
        }
        return "incomplete"
    }
}
