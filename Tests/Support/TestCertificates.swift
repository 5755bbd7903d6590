public import Foundation

/// Certificates made once per test run with the `openssl` command, in a temporary
/// directory: a test CA, a second CA nobody trusts, and leaf certificates signed by them.
public struct TestCertificates: Sendable {
    public struct Identity: Sendable {
        public let certificate: String
        public let key: String
    }

    public let directory: URL
    /// The CA the tests trust.
    public let ca: String
    /// A CA that signed `untrusted` and that nobody trusts.
    public let otherCA: String
    /// CN=localhost, SAN IP:127.0.0.1 and DNS:localhost, signed by `ca`.
    public let server: Identity
    /// Same names, CN=renewed: what a reload switches to.
    public let renewed: Identity
    /// Same names, expired yesterday.
    public let expired: Identity
    /// SAN DNS:other.example only.
    public let otherName: Identity
    /// Same names as `server`, signed by `otherCA`.
    public let untrusted: Identity
    /// CN=client, for mutual TLS.
    public let client: Identity

    /// Made on first use, once per test process.
    public static let shared = Task { try await make() }

    static func make() async throws -> TestCertificates {
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("eddy-tls-\(getpid())-\(UInt32.random(in: 0...UInt32.max))")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        func path(_ name: String) -> String { directory.appendingPathComponent(name).path }
        func openssl(_ arguments: [String]) async throws {
            let (status, output) = try await runProcess(URL(fileURLWithPath: "/usr/bin/openssl"), arguments)
            guard status == 0 else { throw ChildProcessError("openssl \(arguments.joined(separator: " ")): \(output)") }
        }
        func makeCA(_ name: String) async throws {
            try await openssl(["req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                               "-keyout", path("\(name).key"), "-out", path("\(name).pem"), "-days", "30",
                               "-subj", "/CN=Eddy \(name)",
                               "-addext", "basicConstraints=critical,CA:TRUE",
                               "-addext", "keyUsage=critical,keyCertSign,cRLSign"])
        }
        var serial = 0x1000
        func makeLeaf(_ name: String, cn: String, san: String?, usage: String, days: Int, ca: String) async throws -> Identity {
            serial += 1
            try await openssl(["req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                               "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", "/CN=\(cn)"])
            var extensions = "basicConstraints=CA:FALSE\nextendedKeyUsage=\(usage)\n"
            if let san { extensions += "subjectAltName=\(san)\n" }
            try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
            try await openssl(["x509", "-req", "-in", path("\(name).csr"), "-CA", path("\(ca).pem"), "-CAkey", path("\(ca).key"),
                               "-set_serial", String(serial), "-days", String(days), "-extfile", path("\(name).ext"),
                               "-out", path("\(name).pem")])
            return Identity(certificate: path("\(name).pem"), key: path("\(name).key"))
        }
        try await makeCA("ca")
        try await makeCA("other-ca")
        let names = "IP:127.0.0.1,DNS:localhost"
        return TestCertificates(
            directory: directory,
            ca: path("ca.pem"),
            otherCA: path("other-ca.pem"),
            server: try await makeLeaf("server", cn: "localhost", san: names, usage: "serverAuth", days: 30, ca: "ca"),
            renewed: try await makeLeaf("renewed", cn: "renewed", san: names, usage: "serverAuth", days: 30, ca: "ca"),
            expired: try await makeLeaf("expired", cn: "localhost", san: names, usage: "serverAuth", days: -1, ca: "ca"),
            otherName: try await makeLeaf("other-name", cn: "other.example", san: "DNS:other.example", usage: "serverAuth", days: 30, ca: "ca"),
            untrusted: try await makeLeaf("untrusted", cn: "localhost", san: names, usage: "serverAuth", days: 30, ca: "other-ca"),
            client: try await makeLeaf("client", cn: "client", san: nil, usage: "clientAuth", days: 30, ca: "ca"))
    }
}
