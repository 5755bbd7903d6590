import EddyTestSupport

/// The built `eddy` binary run as `eddy demo`.
enum DemoProcess {
    static let binary = eddyBinary

    /// Starts `eddy demo` (or `command` with `arguments`) on `db` and `port` (0: any) with
    /// tokens "op" and "view", given the documented way (environment); returns the process and
    /// the port it bound.
    static func start(db: String, port: Int = 0, command: String = "demo", arguments: [String] = ["--gate-timeout", "600"])
        async throws -> (ChildProcess, Int)
    {
        try await startEddyServer([command, "--port", String(port), "--db", db] + arguments, environment: tokens)
    }

    /// Our environment with EDDY_OPERATOR_TOKEN=op and EDDY_VIEWER_TOKEN=view.
    static var tokens: [String: String] { environment(with: ["EDDY_OPERATOR_TOKEN": "op", "EDDY_VIEWER_TOKEN": "view"]) }
}

