// swift-tools-version:6.1
// Eddy's benchmarks and the peers they are compared with, built only by `make bench`
// (never by `make test` or CI): SwiftNIO is a large build and only the peers need it.
import PackageDescription

let nio: [Target.Dependency] = [
    .product(name: "NIOCore", package: "swift-nio"),
    .product(name: "NIOPosix", package: "swift-nio"),
]

let package = Package(
    name: "EddyBenchmarks",
    platforms: [.macOS(.v15)],
    dependencies: [
        .package(name: "Eddy", path: ".."),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.101.0"),
        // NIOSSL (BoringSSL) for the wss:// peer.
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
    ],
    targets: [
        // Peers: SwiftNIO's classic ChannelHandler and NIOAsyncChannel TCP echo servers,
        // and its NIOWebSocket echo server (wss:// with NIOSSL when given a certificate).
        .executableTarget(name: "nio-echo-handler", dependencies: nio),
        .executableTarget(name: "nio-echo-async", dependencies: nio),
        .executableTarget(
            name: "nio-ws-echo",
            dependencies: nio + [
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOWebSocket", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
            ]
        ),
        // Eddy's side.
        .executableTarget(
            name: "eddy-tcp-echo",
            dependencies: [.product(name: "EddyLoop", package: "Eddy"), .product(name: "EddyNet", package: "Eddy")]
        ),
        .executableTarget(
            name: "dag-benchmark",
            dependencies: [.product(name: "EddyDAG", package: "Eddy")]
        ),
    ],
    swiftLanguageModes: [.v6]
)
