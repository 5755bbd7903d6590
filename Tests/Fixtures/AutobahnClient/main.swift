// eddy-autobahn-client: Eddy's WebSocket client (`WebSocket.connect`) as the echo client that
// Autobahn|Testsuite's fuzzing server drives (`wstest -m fuzzingserver`).
//
// Usage: eddy-autobahn-client ws://127.0.0.1:9001 [AGENT]
//
// Asks the server how many cases there are (/getCaseCount), runs each one (/runCase?case=N:
// echoes every message back as it came, text as text, binary as binary, until the server
// closes), then asks for the reports (/updateReports). Prints one line per case and exits 0
// once every case has run (the verdicts are in the server's report, not here).
import EddyLoop
import EddyWebSocket
import Foundation

let arguments = CommandLine.arguments
guard arguments.count >= 2 else {
    FileHandle.standardError.write(Data("usage: eddy-autobahn-client ws://HOST:PORT [AGENT]\n".utf8))
    exit(2)
}
let base = arguments[1]
let agent = arguments.count > 2 ? arguments[2] : "eddy"

var configuration = WebSocketClientConfiguration()
// The suite sends messages of up to 16 MiB and up to 1,000,000 fragments (case 9, 12, 13).
configuration.connection.maxMessageSize = 64 << 20
configuration.connection.maxFrameSize = 64 << 20
configuration.connection.maxFragments = 1_000_000
configuration.connection.keepAlive = .disabled

let loop = try EventLoop()

/// Runs one connection: echoes until the server closes; returns the texts received (for
/// /getCaseCount, whose answer is one text message).
func session(_ path: String, echo: Bool) async -> [String] {
    var texts: [String] = []
    do {
        let socket = try await WebSocket.connect(to: base + path, configuration: configuration, on: loop)
        do {
            for try await message in socket.messages {
                switch message {
                case .text(let text):
                    if echo { try await socket.send(.text(text)) } else { texts.append(text) }
                case .binary(let bytes):
                    if echo { try await socket.send(.binary(bytes)) }
                }
            }
        } catch {
            // The case failed the connection on purpose (a protocol violation): its verdict
            // is the server's business.
        }
        await socket.close()
    } catch {
        FileHandle.standardError.write(Data("eddy-autobahn-client: \(path): \(error)\n".utf8))
    }
    return texts
}

let count = await Task(executorPreference: loop) { await session("/getCaseCount", echo: false) }.value.first.flatMap { Int($0) } ?? 0
guard count > 0 else {
    FileHandle.standardError.write(Data("eddy-autobahn-client: no case count from \(base)\n".utf8))
    exit(1)
}
for index in 1...count {
    _ = await Task(executorPreference: loop) { await session("/runCase?case=\(index)&agent=\(agent)", echo: true) }.value
    print("case \(index)/\(count) done")
}
_ = await Task(executorPreference: loop) { await session("/updateReports?agent=\(agent)", echo: false) }.value
print("reports updated")
_ = await loop.shutdown()
