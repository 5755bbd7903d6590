/// What a TLS server or client presents, trusts and negotiates. A struct with safe
/// defaults: make one with `.server(certificateChain:privateKey:)` or `.client()` and change
/// only what differs.
///
/// Guarantees of the defaults: TLS 1.2 is the floor and TLS 1.3 is preferred whenever the
/// peer has it; a client verifies the server's certificate against the system's trust
/// store and checks it names the host it connected to (and sends that name by SNI); a
/// server asks for no client certificate; a handshake that takes longer than 10 s fails.
/// Nothing is read from disk until a `TLSContext` is made from the configuration.
public struct TLSConfiguration: Sendable, Hashable {
    /// Which end of the handshake a context serves.
    public enum Role: Sendable, Hashable { case server, client }

    /// PEM data, from a file (re-read by `TLSContext.reload()`) or in memory.
    public enum PEMSource: Sendable, Hashable {
        case file(String)
        case pem([UInt8])

        /// PEM text in memory.
        public static func pem(_ text: String) -> PEMSource { .pem(Array(text.utf8)) }
    }

    /// The certificates a peer's certificate must chain to.
    public enum TrustRoots: Sendable, Hashable {
        /// OpenSSL's default locations (Debian: `/etc/ssl/certs`).
        case system
        /// Only the certificates in this PEM (a private CA).
        case certificates(PEMSource)
    }

    /// How a client checks the server's certificate.
    public enum CertificateVerification: Sendable, Hashable {
        /// The chain must lead to a trusted root, be valid now, and name the host (the
        /// default).
        case full
        /// The chain must be trusted and valid, whatever name it carries.
        case skipHostname
        /// No check at all: anyone in the path can read and change the traffic. Only for
        /// tests and explicit `--insecure` flags.
        case insecureNone
    }

    /// Whether a server asks clients for a certificate (mutual TLS).
    public enum ClientAuthentication: Sendable, Hashable {
        /// No client certificate is requested (the default).
        case none
        /// A certificate is requested; a client without one is accepted, a client with an
        /// untrusted one is refused.
        case optional
        /// A trusted client certificate is required; the handshake fails without one.
        case required
    }

    /// A protocol version.
    public enum Version: Sendable, Hashable, Comparable {
        case tls12, tls13
    }

    /// An extra certificate a server presents to clients that ask for `serverName` by SNI.
    public struct NamedCertificate: Sendable, Hashable {
        public var serverName: String
        public var certificateChain: PEMSource
        public var privateKey: PEMSource

        public init(serverName: String, certificateChain: PEMSource, privateKey: PEMSource) {
            self.serverName = serverName
            self.certificateChain = certificateChain
            self.privateKey = privateKey
        }
    }

    public var role: Role
    /// The certificate chain (leaf first) this side presents. Required for servers; a
    /// client presents one only when the server asks (mutual TLS).
    public var certificateChain: PEMSource?
    /// The private key of the chain's leaf.
    public var privateKey: PEMSource?
    /// Server only: other certificates chosen by the name the client asks for (SNI); a
    /// client asking for none of them (or for no name) gets `certificateChain`.
    public var namedCertificates: [NamedCertificate] = []
    /// What peer certificates must chain to. Default: the system's store.
    public var trustRoots: TrustRoots = .system
    /// Client only: how the server's certificate is checked. Default `.full`.
    public var certificateVerification: CertificateVerification = .full
    /// Server only: whether clients must present a certificate. Default `.none`.
    public var clientAuthentication: ClientAuthentication = .none
    /// ALPN protocol names (`"http/1.1"`, `"h2"` …), in preference order: a client offers
    /// them, a server selects the first of its own the client offered (and refuses a client
    /// that offered only others). Empty (the default): no ALPN.
    public var applicationProtocols: [String] = []
    /// The oldest version accepted. Default TLS 1.2.
    public var minimumVersion: Version = .tls12
    /// The newest version offered or accepted. Default TLS 1.3.
    public var maximumVersion: Version = .tls13
    /// The longest a handshake may take, from the first byte sent or expected. Default 10 s.
    public var handshakeTimeout: Duration = .seconds(10)

    public init(role: Role) { self.role = role }

    /// A server presenting `certificateChain` with `privateKey`.
    public static func server(certificateChain: PEMSource, privateKey: PEMSource) -> TLSConfiguration {
        var configuration = TLSConfiguration(role: .server)
        configuration.certificateChain = certificateChain
        configuration.privateKey = privateKey
        return configuration
    }

    /// A client trusting `trustRoots` (default: the system's store) and verifying fully.
    public static func client(trustRoots: TrustRoots = .system) -> TLSConfiguration {
        var configuration = TLSConfiguration(role: .client)
        configuration.trustRoots = trustRoots
        return configuration
    }
}
