import ArgumentParser
import EddyDAG
import EddyHTTP
import EddyLoop
import EddyNet
import EddyRooms
import EddyRoomsRedis
import EddyWebSocket

/// `eddy chat`: a live chat room that exercises the WebSocket stack end to end: a page
/// served over HTTP at `/`, a WebSocket endpoint at `/ws` (permessage-deflate on), a room
/// whose outboxes drop the oldest messages for a reader that falls behind, and `/healthz`.
struct ChatCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "chat",
        abstract: "Run a live WebSocket chat room with a web page (default http://127.0.0.1:8080/)."
    )

    @Option(help: "Address to bind.") var host = "127.0.0.1"
    @Option(help: "Port to bind (0: any free port).") var port = 8080
    @OptionGroup var logging: LogOptions
    @OptionGroup var redis: RedisOptions

    func run() async throws {
        let logger = logging.bootstrap(label: "eddy.chat")
        let group = try EventLoopGroup()
        var handshake = WebSocketServerHandshakeConfiguration()
        handshake.deflate.noContextTakeover = true // room messages are compressed once for everyone
        let rooms = RoomRegistry(group: group, compression: handshake.deflate)
        // With --redis, the lobby spans every node: publish through the bridge.
        let bridge = try await redis.startBridge(for: rooms, on: group.loops[0])
        let publish: @Sendable (WebSocketMessage) -> Void
        if let bridge { publish = { bridge.publish($0, to: "lobby") } } else { publish = { rooms.publish($0, to: "lobby") } }
        var router = HTTPRouter<WebSocketRoute>()
        try router.addHealthCheck()
        let (page, script, stylesheet) = (BrowserResource.page(ChatPage.html), BrowserResource.script(ChatPage.script),
                                          BrowserResource.stylesheet(ChatPage.stylesheet))
        try router.add(.get, "/") { _, _ in page }
        try router.add(.get, "/chat.js") { _, _ in script }
        try router.add(.get, "/chat.css") { _, _ in stylesheet }
        var route = WebSocketRoute(
            endpoint: WebSocketEndpoint(handshake: WebSocketServerHandshake(configuration: handshake))
        ) { socket, context in
            let name = String((context.request.queryValue("name") ?? "guest").prefix(32))
            try await rooms.serve(socket, in: "lobby", policy: .dropOldest) { _ in
                publish(.text(ChatPage.event(from: "eddy", text: "\(name) joined")))
                for try await message in socket.messages {
                    guard case .text(let text) = message else { continue }
                    publish(.text(ChatPage.event(from: name, text: String(text.prefix(2000)))))
                }
            }
            publish(.text(ChatPage.event(from: "eddy", text: "\(name) left")))
        }
        // Kept for the drain: SIGTERM closes every member's connection with 1001 (going away).
        let open = OpenWebSockets()
        route.openSockets = open
        try router.addUpgrade("/ws", route)
        let server = HTTPServer(router: router, upgrade: WebSocketRoute.upgrade)
        let (host, loops) = (self.host, group.loops.count)
        try await runServer(group: group, host: host, port: port, logger: logger,
                            shutdownTimeout: logging.shutdownTimeout, announce: { bound in
            Console.out("""
            Eddy chat: a live room over WebSocket on \(loops) event loops.
              page:      http://\(host):\(bound)/
              websocket: ws://\(host):\(bound)/ws?name=YOU   (every text message goes to everyone)
              health:    http://\(host):\(bound)/healthz
            Stop with Ctrl-C.
            """)
        }, beforeShutdown: { [bridge] in
            await open.closeAll()
            await bridge?.stop()
        }) { listener in try await server.serve(listener) }
    }
}

/// The demo's page and its JSON events.
enum ChatPage {
    /// `{"from": …, "text": …}`.
    static func event(from: String, text: String) -> String {
        var writer = JSONWriter()
        writer.write(.object([JSONValue.Member("from", .string(from)), JSONValue.Member("text", .string(text))]))
        return writer.string
    }

    /// The page: structure only. Script and style are resources of their own, served under
    /// `BrowserResource`'s policy (no inline script or style); messages are rendered as text.
    static let html = """
    <!doctype html>
    <html lang="en"><head><meta charset="utf-8"><title>Eddy chat</title>
    <link rel="stylesheet" href="/chat.css"><script src="/chat.js" defer></script></head>
    <body><h1>Eddy chat room</h1><p id="status">connecting…</p><div id="log"></div>
    <form id="form"><input id="text" autocomplete="off" placeholder="say something" size="40"> <button>Send</button></form>
    </body></html>
    """

    static let stylesheet = """
    body{font:15px system-ui,sans-serif;max-width:40rem;margin:2rem auto}#log{border:1px solid #ccc;height:20rem;overflow:auto;padding:.5rem}
    .from{font-weight:600}#status{color:#666}
    """

    static let script = """
    "use strict";
    const name = "guest-" + Math.floor(Math.random() * 1000);
    const log = document.getElementById("log"), status = document.getElementById("status");
    let ws, attempt = 0;
    function connect() {
      const scheme = location.protocol === "https:" ? "wss" : "ws";
      ws = new WebSocket(`${scheme}://${location.host}/ws?name=${encodeURIComponent(name)}`);
      ws.addEventListener("open", () => { attempt = 0; status.textContent = `connected as ${name}`;
        const say = new URLSearchParams(location.search).get("say"); if (say) ws.send(say); });
      ws.addEventListener("message", (e) => { const m = JSON.parse(e.data); const line = document.createElement("div");
        const from = document.createElement("span"); from.className = "from"; from.textContent = String(m.from) + ": ";
        line.append(from, document.createTextNode(String(m.text))); log.append(line); log.scrollTop = log.scrollHeight; });
      ws.addEventListener("close", () => { const delay = Math.random() * Math.min(30000, 1000 * 2 ** attempt++);
        status.textContent = `disconnected; retrying in ${Math.round(delay / 100) / 10} s`; setTimeout(connect, delay); });
    }
    document.getElementById("form").addEventListener("submit", (e) => { e.preventDefault(); const t = document.getElementById("text");
      if (ws && ws.readyState === 1 && t.value) { ws.send(t.value); t.value = ""; } });
    connect();
    """
}
