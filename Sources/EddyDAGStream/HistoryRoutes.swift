import EddyDAG
import EddyHTTP
import EddyWebSocket

/// The read-only history of a run, from the durable log, for time travel in a dashboard:
///
/// - `GET /api/dags/{dagId}/history?at=<seq>`: the run as it was right after event `seq`
///   (the head when `at` is absent or past it), as a `snapshot` envelope.
/// - `GET /api/dags/{dagId}/events?after=<seq>&limit=<n>`: the logged events after `seq`
///   (default 0), at most `limit` (default 1,000, at most 10,000), as the log stored them:
///   `{"dag_id":…,"epoch":…,"head":…,"events":[…]}`. Page with `after` = the last `seq` got.
///
/// Guarantees: the same token and origin rules as the streams (401, 403); 404 for an unknown
/// run; 400 naming the parameter for a malformed `at`, `after` or `limit` (plain decimal
/// digits only). Finished runs stay browsable after a restart. The log is read off the event
/// loop. Responses are `no-store` (the request may carry `?token=`).
enum HistoryRoutes {
    static let defaultLimit: Int64 = 1_000
    static let maxLimit: Int64 = 10_000

    static func install(into router: inout HTTPRouter<WebSocketRoute>, engine: DAGEngine, access: StreamAccess) throws {
        try router.add(.get, "/api/dags/{dagId}/history") { request, parameters in
            if case .deny(let status, let reason) = access.decide(request) { return DAGStreamGateway.refusal(status, reason) }
            guard let dagID = parameters["dagId"] else { return .error(.notFound, close: false) }
            let at: Int64?
            switch decimal(request, "at") {
            case .absent: at = nil
            case .value(let value): at = value
            case .malformed: return badRequest("at must be a seq: decimal digits")
            }
            return await offLoop {
                do {
                    let head = try engine.state(runID: dagID).seq
                    return json(try engine.historicalSnapshot(runID: dagID, at: min(at ?? head, head)).jsonBytes)
                } catch {
                    return failure(error)
                }
            }
        }
        try router.add(.get, "/api/dags/{dagId}/events") { request, parameters in
            if case .deny(let status, let reason) = access.decide(request) { return DAGStreamGateway.refusal(status, reason) }
            guard let dagID = parameters["dagId"] else { return .error(.notFound, close: false) }
            var after: Int64 = 0
            var limit = defaultLimit
            switch decimal(request, "after") {
            case .absent: break
            case .value(let value): after = value
            case .malformed: return badRequest("after must be a seq: decimal digits")
            }
            switch decimal(request, "limit") {
            case .absent: break
            case .value(let value) where value >= 1 && value <= maxLimit: limit = value
            case .value, .malformed: return badRequest("limit must be 1 to \(maxLimit)")
            }
            return await offLoop { [after, limit] in
                do {
                    let store = try engine.state(runID: dagID)
                    let head = store.seq
                    let (upTo, overflow) = after.addingReportingOverflow(limit)
                    let events = try engine.log.encodedEvents(runID: dagID, after: after, upTo: overflow ? .max : upTo)
                    var writer = JSONWriter(reservingCapacity: 64 + events.reduce(0) { $0 + $1.bytes.count + 1 })
                    writer.writeRaw("{\"dag_id\":")
                    writer.writeString(dagID)
                    writer.writeRaw(",\"epoch\":")
                    writer.writeInt(store.epoch) // the run's: an adopted run keeps its first owner's
                    writer.writeRaw(",\"head\":")
                    writer.writeInt(head)
                    writer.writeRaw(",\"events\":[")
                    for (index, event) in events.enumerated() {
                        if index > 0 { writer.writeRaw(",") }
                        writer.writeEncoded(event.bytes)
                    }
                    writer.writeRaw("]}")
                    return json(writer.bytes)
                } catch {
                    return failure(error)
                }
            }
        }
    }

    private enum Decimal {
        case absent
        case value(Int64)
        case malformed
    }

    private static func decimal(_ request: HTTPRequest, _ name: String) -> Decimal {
        guard let text = request.queryValue(name) else { return .absent }
        guard !text.isEmpty, text.utf8.allSatisfy({ $0 >= UInt8(ascii: "0") && $0 <= UInt8(ascii: "9") }),
              let value = Int64(text) else { return .malformed }
        return .value(value)
    }

    /// Runs `body` on the global executor: reading and reducing the log must not hold the
    /// connection's event loop.
    private static func offLoop(_ body: @escaping @Sendable () -> HTTPResponse) async -> HTTPResponse {
        await Task.detached(operation: body).value
    }

    private static func json(_ body: [UInt8]) -> HTTPResponse {
        HTTPResponse(status: .ok, headers: ["Content-Type": "application/json", "Cache-Control": "no-store",
                                            "Referrer-Policy": "no-referrer", "X-Content-Type-Options": "nosniff"],
                     body: body)
    }

    private static func badRequest(_ reason: String) -> HTTPResponse {
        var response = HTTPResponse.text("400 \(reason)\n", status: .badRequest)
        response.headers.add(name: "Cache-Control", value: "no-store")
        return response
    }

    private static func failure(_ error: any Error) -> HTTPResponse {
        if (error as? DAGEngineError)?.isUnknownRun == true { return .error(.notFound, close: false) }
        return .error(.internalServerError, close: false)
    }
}
