// swift-tools-version:6.1
import PackageDescription

// Layers, lowest first. Arrows point downwards only:
//   EddyShared (SharedValue, Mutex; no dependencies): under everything that locks
//   CLibUV -> EddyLoop -> EddyNet                    the runtime and the transport (ByteStream)
//   EddyLoop + CEddyTally -> EddyMetrics             per-loop metric tallies folded into swift-metrics;
//                                                    EddyNet, EddyWebSocket, EddyRooms record into them
//   EddyNet + COpenSSL -> EddyTLS                    TLS as a ByteStream over TCP (OpenSSL 3,
//                                                    memory BIOs driven on the loop)
//   EddyHTTPCore -> EddyWebSocketCore                sans-IO: bytes in, events/bytes out; they
//                                                    import neither EddyLoop nor EddyNet
//   EddyNet + EddyHTTPCore -> EddyHTTP               HTTPServer over any ByteStreamListener
//   EddyHTTP + EddyWebSocketCore -> EddyWebSocket    the WebSocket driver, routes, connect
//                                   (+ EddyTLS)     (wss:// for the client)
//   EddyWebSocket -> EddyRooms -> EddyDAGStream (+ EddyDAG) -> EddyDAGServer -> eddy, examples
// EddyHTTP and EddyWebSocket re-export their cores (`@_exported import`, Exports.swift):
// the cores were split out of them, and code that says `import EddyHTTP` or
// `import EddyWebSocket` and uses HTTPRequest, HTTPRouter, WebSocketCloseCode … must keep
// compiling unchanged. Code that needs no I/O can import just a core.
let strict: [SwiftSetting] = [
    .enableUpcomingFeature("ExistentialAny"),
    .enableUpcomingFeature("InternalImportsByDefault"),
    // Async functions run on their caller's executor unless they say otherwise, so a
    // connection's code stays on its loop without a hop check at every call.
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]
// For targets written before the stricter import rules.
let hotPath: [SwiftSetting] = [
    .enableUpcomingFeature("NonisolatedNonsendingByDefault"),
]

let package = Package(
    name: "Eddy",
    platforms: [.macOS(.v15)],
    products: [
        .library(name: "EddyLoop", targets: ["EddyLoop"]),
        .library(name: "EddyNet", targets: ["EddyNet"]),
        .library(name: "EddyTLS", targets: ["EddyTLS"]),
        .library(name: "EddyHTTPCore", targets: ["EddyHTTPCore"]),
        .library(name: "EddyWebSocketCore", targets: ["EddyWebSocketCore"]),
        .library(name: "EddyHTTP", targets: ["EddyHTTP"]),
        .library(name: "EddyWebSocket", targets: ["EddyWebSocket"]),
        .library(name: "EddyRooms", targets: ["EddyRooms"]),
        .library(name: "EddyRedisCore", targets: ["EddyRedisCore"]),
        .library(name: "EddyRedis", targets: ["EddyRedis"]),
        .library(name: "EddyRoomsRedis", targets: ["EddyRoomsRedis"]),
        .library(name: "EddyDAG", targets: ["EddyDAG"]),
        .library(name: "EddyDAGRedis", targets: ["EddyDAGRedis"]),
        .library(name: "EddyRunsRedis", targets: ["EddyRunsRedis"]),
        .library(name: "EddyDAGStream", targets: ["EddyDAGStream"]),
        .library(name: "EddyDAGServer", targets: ["EddyDAGServer"]),
        .executable(name: "eddy", targets: ["eddy"]),
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/HdrHistogram/hdrhistogram-swift.git", from: "0.2.0"),
        // `swift package generate-documentation` for the DocC catalogs (`make docs`).
        .package(url: "https://github.com/swiftlang/swift-docc-plugin.git", from: "1.4.0"),
        // Structured logging in the libraries (they take a `Logger`; only executables bootstrap).
        .package(url: "https://github.com/apple/swift-log.git", from: "1.6.0"),
        // Services and ordered graceful shutdown on SIGTERM/SIGINT (`eddy demo/serve/echo/chat`).
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        // Metrics: the libraries record through swift-metrics; only the `eddy` command exposes
        // them, in Prometheus's text format.
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.1"),
    ],
    targets: [
        .systemLibrary(
            name: "CLibUV",
            pkgConfig: "libuv",
            providers: [.apt(["libuv1-dev"])]
        ),
        .target(name: "CEddyShims"),
        .target(
            name: "EddyShared",
            swiftSettings: strict
        ),
        .target(
            name: "EddyLoop",
            dependencies: ["EddyShared", "CLibUV", "CEddyShims"],
            swiftSettings: strict
        ),
        // Per-thread metric tallies (C thread-locals: an add is one instruction, no atomic).
        .target(name: "CEddyTally"),
        // The metric catalogue, per-loop tallies and their folding into swift-metrics.
        .target(
            name: "EddyMetrics",
            dependencies: ["CEddyTally", "EddyShared", "EddyLoop", .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strict
        ),
        .target(
            name: "EddyNet",
            dependencies: ["EddyShared", "EddyLoop", "CLibUV", "CEddyShims", .product(name: "Logging", package: "swift-log"), "EddyMetrics"],
            swiftSettings: strict
        ),
        .systemLibrary(
            name: "CZlib",
            pkgConfig: "zlib",
            providers: [.apt(["zlib1g-dev"])]
        ),
        .systemLibrary(
            name: "COpenSSL",
            pkgConfig: "openssl",
            providers: [.apt(["libssl-dev"])]
        ),
        // TLS streams and listeners over TCP: OpenSSL 3 through memory BIOs.
        .target(
            name: "EddyTLS",
            dependencies: ["EddyShared", "EddyNet", "EddyLoop", "COpenSSL", .product(name: "Logging", package: "swift-log")],
            swiftSettings: strict
        ),
        // Sans-IO HTTP/1.1: messages, bounded parsers, response serializer, router.
        .target(
            name: "EddyHTTPCore",
            swiftSettings: hotPath
        ),
        // Sans-IO RFC 6455/7692: frames, UTF-8, close, handshakes, permessage-deflate,
        // keep-alive state, `WebSocketProtocol`.
        .target(
            name: "EddyWebSocketCore",
            dependencies: ["EddyHTTPCore", "EddyShared", "CZlib", "COpenSSL"],
            swiftSettings: hotPath
        ),
        .target(
            name: "EddyHTTP",
            dependencies: ["EddyShared", "EddyHTTPCore", "EddyNet", "EddyLoop"],
            swiftSettings: hotPath
        ),
        .target(
            name: "EddyWebSocket",
            dependencies: ["EddyWebSocketCore", "EddyHTTP", "EddyTLS", "EddyShared", "EddyNet", "EddyLoop", .product(name: "Logging", package: "swift-log"), "EddyMetrics"],
            swiftSettings: hotPath
        ),
        .systemLibrary(
            name: "CSQLite",
            pkgConfig: "sqlite3",
            providers: [.apt(["libsqlite3-dev"])]
        ),
        .target(
            name: "EddyDAG",
            dependencies: ["EddyShared", "CSQLite", .product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strict
        ),
        .target(
            name: "EddyRooms",
            dependencies: ["EddyShared", "EddyWebSocket", "EddyNet", "EddyLoop", "EddyMetrics"],
            swiftSettings: strict
        ),
        // Sans-IO RESP2/RESP3: the command encoder and a bounded, incremental reply parser.
        .target(
            name: "EddyRedisCore",
            swiftSettings: strict
        ),
        // The Redis client over Eddy's own TCP/TLS ByteStream: pipelining, deadlines, login,
        // reconnect with backoff, a subscriber connection.
        .target(
            name: "EddyRedis",
            dependencies: ["EddyShared", "EddyRedisCore", "EddyTLS", "EddyNet", "EddyLoop"],
            swiftSettings: strict
        ),
        // Rooms across Eddy processes: a RoomRegistry bridged through Redis pub/sub.
        .target(
            name: "EddyRoomsRedis",
            dependencies: ["EddyShared", "EddyRooms", "EddyRedis", "EddyRedisCore", "EddyWebSocket", "EddyLoop"],
            swiftSettings: strict
        ),
        // The run event log in Redis Streams (a second backend behind `RunEventLog`).
        .target(
            name: "EddyDAGRedis",
            dependencies: ["EddyDAG", "EddyRedis", "EddyRedisCore"],
            swiftSettings: strict
        ),
        // Runs across nodes: the owner mirrors its log and runs to Redis, the others serve them.
        .target(
            name: "EddyRunsRedis",
            dependencies: ["EddyShared", "EddyDAGRedis", "EddyDAGStream", "EddyDAG", "EddyRedis", "EddyRedisCore", "EddyLoop",
                           .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: strict
        ),
        .target(
            name: "EddyDAGStream",
            dependencies: ["EddyShared", "EddyDAG", "EddyRooms", "EddyWebSocket", "EddyHTTP", "EddyTLS", "EddyNet", "EddyLoop", "COpenSSL", .product(name: "Logging", package: "swift-log"), .product(name: "CoreMetrics", package: "swift-metrics")],
            swiftSettings: hotPath
        ),
        // The DAG stream server as a library: engine, event log, gateway, dashboard, lifecycle.
        .target(
            name: "EddyDAGServer",
            dependencies: ["EddyShared", "EddyDAGStream", "EddyDAG", "EddyWebSocket", "EddyHTTP", "EddyTLS", "EddyNet", "EddyLoop", .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), "EddyMetrics"],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "eddy",
            dependencies: [
                "EddyShared", "EddyLoop", "EddyNet", "EddyTLS", "EddyHTTP", "EddyWebSocket", "EddyRooms", "EddyRoomsRedis", "EddyRedis", "EddyDAG", "EddyDAGStream", "EddyDAGServer", "EddyDAGRedis", "EddyRunsRedis",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Histogram", package: "hdrhistogram-swift"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                "EddyMetrics",
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
            ],
            swiftSettings: strict
        ),
        .executableTarget(
            name: "example-tcp-echo",
            dependencies: ["EddyLoop", "EddyNet"],
            path: "Examples/TCPEcho",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "example-dag-server",
            dependencies: ["EddyDAGServer", "EddyDAG", .product(name: "Logging", package: "swift-log"), .product(name: "ServiceLifecycle", package: "swift-service-lifecycle")],
            path: "Examples/DAGServer",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "example-chat",
            dependencies: ["EddyRooms", "EddyRoomsRedis", "EddyRedis", "EddyWebSocket", "EddyHTTP", "EddyNet", "EddyLoop"],
            path: "Examples/Chat",
            swiftSettings: strict
        ),
        // Helpers shared by the test targets (not a product).
        .target(
            name: "EddyTestSupport",
            dependencies: ["EddyShared", "CSpawn", "EddyNet", "EddyLoop"],
            path: "Tests/Support",
            swiftSettings: strict
        ),
        // posix_spawn's close-from file action and pseudo-terminals, for EddyTestSupport.
        .target(
            name: "CSpawn",
            path: "Tests/CSpawn"
        ),
        .testTarget(
            name: "EddyLoopTests",
            dependencies: ["EddyShared", "EddyLoop", "CLibUV"],
            swiftSettings: strict
        ),
        // The cores' tests need no loop and no socket.
        .testTarget(
            name: "EddyHTTPCoreTests",
            dependencies: ["EddyHTTPCore"]
        ),
        .testTarget(
            name: "EddyHTTPTests",
            dependencies: ["EddyTestSupport", "EddyHTTP", "EddyNet", "EddyLoop"]
        ),
        .testTarget(
            name: "EddyWebSocketCoreTests",
            dependencies: ["EddyTestSupport", "EddyWebSocketCore", "EddyHTTPCore"]
        ),
        .testTarget(
            name: "EddyWebSocketTests",
            dependencies: ["EddyShared", "EddyTestSupport", "EddyWebSocket", "EddyHTTP", "EddyTLS", "EddyNet", "EddyLoop"]
        ),
        // The child process the event-log crash test kills (a test fixture, not a product):
        // a dependency of EddyDAGTests so that building the tests builds it.
        .executableTarget(
            name: "eddy-eventlog-probe",
            dependencies: ["EddyDAG"],
            path: "Tests/Fixtures/EventLogProbe",
            swiftSettings: strict
        ),
        // Eddy's WebSocket client as Autobahn|Testsuite's echo client (`make conformance`).
        .executableTarget(
            name: "eddy-autobahn-client",
            dependencies: ["EddyWebSocket", "EddyLoop"],
            path: "Tests/Fixtures/AutobahnClient",
            swiftSettings: strict
        ),
        // The parsers that face untrusted bytes as fuzz targets (`make fuzz`), and their
        // driver: libFuzzer's entry point when built with `--sanitize fuzzer`, a replayer of
        // input files otherwise. EddyFuzzTests replays the committed corpora in `make test`.
        .target(
            name: "EddyFuzzTargets",
            dependencies: ["EddyHTTPCore", "EddyWebSocketCore", "EddyDAG"],
            path: "Tests/Fuzz/Targets",
            swiftSettings: strict
        ),
        .executableTarget(
            name: "eddy-fuzz",
            dependencies: ["EddyFuzzTargets"],
            path: "Tests/Fuzz/Driver",
            swiftSettings: strict
        ),
        .testTarget(
            name: "EddyFuzzTests",
            dependencies: ["EddyFuzzTargets"],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EddyDAGTests",
            dependencies: ["EddyShared", "EddyTestSupport", "EddyDAG", "eddy-eventlog-probe"]
        ),
        .testTarget(
            name: "EddyDAGStreamTests",
            dependencies: ["EddyShared", "EddyTestSupport", "EddyDAGServer", "EddyDAGStream", "EddyDAG", "EddyRooms", "EddyWebSocket", "EddyHTTP", "EddyTLS", "EddyNet", "EddyLoop",
                           .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"), .product(name: "Logging", package: "swift-log")]
        ),
        // The `eddy` command line, run as users run it (the built binary as a child process).
        .testTarget(
            name: "EddyCommandTests",
            dependencies: ["EddyShared", "eddy", "EddyTestSupport", "EddyDAGStream", "EddyDAG", "EddyWebSocket", "EddyHTTP", "EddyTLS", "EddyNet", "EddyLoop"]
        ),
        .testTarget(
            name: "EddyRoomsTests",
            dependencies: ["EddyTestSupport", "EddyRooms", "EddyWebSocket", "EddyHTTP", "EddyNet", "EddyLoop", "EddyMetrics",
                           .product(name: "MetricsTestKit", package: "swift-metrics")],
            swiftSettings: strict
        ),
        // Runs the executables under Examples/ as a user would.
        .testTarget(
            name: "ExamplesTests",
            dependencies: ["EddyTestSupport", "EddyDAGStream", "EddyDAG", "EddyWebSocket", "EddyNet", "EddyLoop"],
            swiftSettings: strict
        ),
        // TLS against real peers (openssl s_client/s_server, Python ssl), certificates made
        // at test time with the openssl command.
        .testTarget(
            name: "EddyTLSTests",
            dependencies: ["EddyShared", "EddyTestSupport", "CSpawn", "EddyTLS", "EddyNet", "EddyLoop"],
            swiftSettings: strict
        ),
        // Per-loop tallies and their folding, against swift-metrics' test backend.
        .testTarget(
            name: "EddyMetricsTests",
            dependencies: ["EddyMetrics", "EddyNet", "EddyLoop", .product(name: "MetricsTestKit", package: "swift-metrics")],
            swiftSettings: strict
        ),
        .testTarget(
            name: "EddyRedisCoreTests",
            dependencies: ["EddyRedisCore"],
            swiftSettings: strict
        ),
        // Against a real redis-server started by the tests (Tests/Support/RedisServer.swift).
        .testTarget(
            name: "EddyRedisTests",
            dependencies: ["EddyShared", "EddyTestSupport", "EddyRedis", "EddyRedisCore", "EddyDAGRedis", "EddyRunsRedis", "EddyDAG", "EddyTLS", "EddyLoop",
                           .product(name: "MetricsTestKit", package: "swift-metrics")]
        ),
        .testTarget(
            name: "EddyNetTests",
            dependencies: ["EddyShared", "EddyTestSupport", "EddyNet", "EddyLoop", "CLibUV", "CEddyShims"],
            swiftSettings: strict
        ),
    ],
    swiftLanguageModes: [.v6]
)
