import EddyLoop
import EddyTestSupport
import Foundation
import Testing

/// Tokens from files, rotated with SIGHUP and no restart: add the new token, reload, retire
/// the old one, reload. A bad file keeps the tokens in force.
@Suite("eddy serve: token files re-read on SIGHUP", .timeLimit(.minutes(2)))
struct TokenRotationTests {
    static func write(_ text: String, to path: String) throws {
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
    }

    /// Polls (bounded) until `token` gets `status` from the runs listing.
    static func waitFor(_ status: Int, token: String, on server: RunningServer) async throws -> Bool {
        for _ in 0..<300 {
            if try await server.status(of: "/api/dags?token=\(token)") == status { return true }
            try await server.loop.sleep(for: .milliseconds(20))
        }
        return false
    }

    @Test func aRotationThroughTheTokenFileTakesEffectOnSIGHUPWithoutARestart() async throws {
        let log = try ScratchLog()
        defer { log.remove() }
        let operators = log.path + ".operators"
        let viewers = log.path + ".viewers"
        defer { unlink(operators); unlink(viewers) }
        try Self.write("# operators of the test\nop-old\n\n", to: operators)
        try Self.write("view-1\n", to: viewers)

        let run = try await ServerRun.start(["--operator-token-file", operators, "--viewer-token-file", viewers], db: log.path,
                                            environment: TokenHandlingTests.environment()) { server in
            #expect(try await server.status(of: "/api/dags?token=op-old") == 200)
            #expect(try await server.status(of: "/api/dags?token=view-1") == 200)
            #expect(try await server.status(of: "/api/dags?token=op-new") == 401)
            #expect(try await server.status(of: "/api/dags?token=%23%20operators%20of%20the%20test") == 401)

            // Add the new token: both work.
            try Self.write("op-old\nop-new\n", to: operators)
            kill(server.pid, SIGHUP)
            #expect(try await Self.waitFor(200, token: "op-new", on: server))
            #expect(try await server.status(of: "/api/dags?token=op-old") == 200)

            // Retire the old one.
            try Self.write("op-new\n", to: operators)
            kill(server.pid, SIGHUP)
            #expect(try await Self.waitFor(401, token: "op-old", on: server))
            #expect(try await server.status(of: "/api/dags?token=op-new") == 200)

            // A file with no token is refused and changes nothing.
            try Self.write("# nothing yet\n", to: operators)
            kill(server.pid, SIGHUP)
            try await server.loop.sleep(for: .milliseconds(300))
            #expect(try await server.status(of: "/api/dags?token=op-new") == 200)
            #expect(try await server.status(of: "/api/dags?token=view-1") == 200)
        }
        #expect(run.served, "\(run.stdout) \(run.stderr)")
        // SIGHUP never stopped the server: it exits 0 on the test's SIGTERM.
        #expect(run.status == 0, "\(run.stderr)")
        #expect(run.stderr.contains("tokens reloaded (2 operator, 1 viewer)"), "\(run.stderr)")
        #expect(run.stderr.contains("tokens reloaded (1 operator, 1 viewer)"), "\(run.stderr)")
        #expect(run.stderr.contains("holds no token; the tokens in force are kept"), "\(run.stderr)")
        #expect(!run.stderr.contains("op-new") && !run.stdout.contains("op-new"), "a token was printed")
        #expect(run.stdout.contains("from \(operators) (1 token, re-read on SIGHUP)"), "\(run.stdout)")
    }

    @Test func aTokenFlagAndATokenFileForOneRoleAreRefused() async throws {
        let (status, output) = try await runProcess(eddyBinary, ["serve", "--dag", "x.json", "--operator-token", "a", "--operator-token-file", "/dev/null"])
        #expect(status != 0)
        #expect(output.contains("give --operator-token or --operator-token-file, not both"), "\(output)")
    }
}
