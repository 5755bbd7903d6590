import EddyHTTP

/// Where a dashboard asks to resume a run's stream: `?since=<seq>&epoch=<epoch>`, the last
/// event it applied and the history that event belongs to.
///
/// Guarantees: a resume point exists only when both values are present and are plain
/// decimal integers (digits only, no sign, no spaces, fitting `Int64`). Anything else, a
/// missing or malformed `epoch` included, is no resume point, and the dashboard gets a
/// snapshot: a replay is only ever made for a position the client has shown it holds.
struct ResumePoint: Sendable, Equatable {
    let since: Int64
    let epoch: Int64

    init(since: Int64, epoch: Int64) {
        self.since = since
        self.epoch = epoch
    }

    init?(_ request: HTTPRequest) {
        guard let since = request.queryValue("since").flatMap(Self.decimal),
              let epoch = request.queryValue("epoch").flatMap(Self.decimal) else { return nil }
        self.init(since: since, epoch: epoch)
    }

    private static func decimal(_ text: String) -> Int64? {
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }) else { return nil }
        return Int64(text)
    }
}
