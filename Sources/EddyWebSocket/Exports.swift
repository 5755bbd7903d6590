// `EddyWebSocket` re-exports its sans-IO core so that code written against
// `import EddyWebSocket` (frames, close codes, handshakes, `WebSocketProtocol` …) keeps
// compiling unchanged; see Package.swift.
@_exported import EddyWebSocketCore
