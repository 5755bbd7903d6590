import EddyDAG
import EddyLoop
import EddyNet
import EddyTestSupport
import Foundation
import Testing

/// What "converged, with seq continuity" means for a dashboard, checked the same way for the
/// Swift `DAGStreamClient` and the Python peer (`dag_resync_dashboard.py`).
///
/// Continuity (docs/protocol.md, "Resync"): over all of a dashboard's connections, what it
/// applies is a chain in which every logged event has seq = previous + 1 (no gap, no
/// duplicate: each seq applied at most once) and every snapshot has seq >= previous (it
/// replaces the state and may skip ahead, never back). Convergence: once the run is finished,
/// the dashboard's seq and state equal the server's head snapshot of that run.
struct Continuity: Sendable {
    private(set) var lastSeq: Int64?
    private(set) var snapshots = 0
    private(set) var events = 0
    private(set) var violations: [String] = []

    /// Adds one applied envelope (from `DAGStreamClient.events()`).
    mutating func add(_ envelope: EventEnvelope) {
        if case .snapshot = envelope.event {
            if let lastSeq, envelope.seq < lastSeq { violations.append("snapshot at \(envelope.seq) after \(lastSeq)") }
            snapshots += 1
        } else {
            guard let lastSeq else { violations.append("event \(envelope.seq) before any snapshot"); return }
            if envelope.seq != lastSeq + 1 { violations.append("event \(envelope.seq) after \(lastSeq)") }
            events += 1
        }
        lastSeq = envelope.seq
    }

    /// Records every envelope `events` yields until it ends.
    static func record(_ events: AsyncStream<EventEnvelope>) -> Task<Continuity, Never> {
        Task {
            var continuity = Continuity()
            for await envelope in events { continuity.add(envelope) }
            return continuity
        }
    }
}

enum Convergence {
    /// The server's head snapshot of `runID` (`GET /history`, asked directly, not through a
    /// proxy): the decoded envelope and its JSON object.
    static func head(of runID: String, host: String = "127.0.0.1", port: Int, loop: EventLoop)
        async throws -> (EventEnvelope, [String: Any])
    {
        let body = try await get("/api/dags/\(runID)/history?token=view", host: host, port: port, loop: loop)
        let envelope = try ProtocolDecoder.decodeEnvelope(Array(body.utf8))
        guard let object = try JSONSerialization.jsonObject(with: Data(body.utf8)) as? [String: Any] else {
            throw ChildProcessError("not an object: \(body)")
        }
        return (envelope, object)
    }

    /// `GET path` on `host` (`httpGet` knows only 127.0.0.1), read to the end: the body.
    static func get(_ path: String, host: String, port: Int, loop: EventLoop) async throws -> String {
        try await loop.withTimeout(.seconds(10)) {
            let connection = try await TCPConnection.connect(host: host, port: port, on: loop)
            try await connection.write(Array("GET \(path) HTTP/1.1\r\nHost: \(host):\(port)\r\nConnection: close\r\n\r\n".utf8))
            var bytes: [UInt8] = []
            while let chunk = try await connection.read() { bytes += chunk }
            await connection.close()
            let response = String(decoding: bytes, as: UTF8.self)
            return response.range(of: "\r\n\r\n").map { String(response[$0.upperBound...]) } ?? ""
        }
    }

    /// Waits (bounded: 30 s) until the Python peer has its first snapshot (it creates `file`).
    static func waitUntilReady(_ file: String) async throws {
        for _ in 0..<300 where !FileManager.default.fileExists(atPath: file) { try await Task.sleep(for: .milliseconds(100)) }
        #expect(FileManager.default.fileExists(atPath: file), "the Python dashboard never got its first snapshot")
    }

    /// The Python peer's last line, `FINAL {json}`, as an object.
    static func pythonFinal(_ output: String) -> [String: Any]? {
        guard let line = output.split(separator: "\n").last(where: { $0.hasPrefix("FINAL ") }) else { return nil }
        return try? JSONSerialization.jsonObject(with: Data(line.dropFirst("FINAL ".count).utf8)) as? [String: Any]
    }

    /// Differences between the Python peer's final state and the head snapshot (seq, status,
    /// and every node's status, attempt and output); empty when it converged.
    static func differences(python final: [String: Any], head: [String: Any]) -> [String] {
        var differences: [String] = []
        if (final["seq"] as? Int) != (head["seq"] as? Int) { differences.append("seq \(final["seq"] ?? "nil") != \(head["seq"] ?? "nil")") }
        if (final["status"] as? String) != (head["status"] as? String) { differences.append("status \(final["status"] ?? "nil")") }
        let theirs = (head["nodes"] as? [[String: Any]]) ?? []
        let ours = (final["nodes"] as? [String: [String: Any]]) ?? [:]
        if theirs.count != ours.count { differences.append("\(ours.count) nodes, the server has \(theirs.count)") }
        for node in theirs {
            guard let id = node["id"] as? String, let mine = ours[id] else { differences.append("node missing"); continue }
            let expected: NSDictionary = ["status": node["status"] ?? NSNull(), "attempt": node["attempt"] ?? NSNull(), "output": node["output"] ?? NSNull()]
            let actual: NSDictionary = ["status": mine["status"] ?? NSNull(), "attempt": mine["attempt"] ?? NSNull(), "output": mine["output"] ?? NSNull()]
            if !expected.isEqual(actual) { differences.append("\(id): \(actual) != \(expected)") }
        }
        return differences
    }

    /// Runs `eventlog_check.py` on `db` (no server may be writing it): integrity_check, seq
    /// 1..max per run, finished runs end with execution_complete; `finished` runs must be.
    static func checkLog(_ db: String, finished: [String] = []) async throws -> (Int32, String) {
        try await runPythonPeer("eventlog_check.py", [db] + (finished.isEmpty ? [] : ["--finished"] + finished))
    }
}
