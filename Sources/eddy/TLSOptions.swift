import ArgumentParser
import Logging
import EddyLoop
import EddyNet
import EddyTLS

/// `--tls-cert FILE --tls-key FILE`, shared by the server commands: with both, the server
/// speaks only HTTPS and `wss://`.
struct TLSOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Serve HTTPS and wss:// with this PEM certificate chain (leaf first). Needs --tls-key.", valueName: "file"))
    var tlsCert: String?
    @Option(help: ArgumentHelp("The PEM private key of --tls-cert.", valueName: "file"))
    var tlsKey: String?

    func validate() throws {
        guard (tlsCert == nil) == (tlsKey == nil) else { throw ValidationError("--tls-cert and --tls-key go together") }
    }

    /// The server context (the files are read now; a clear message if they cannot be used),
    /// or nil without the flags.
    func serverContext() throws -> TLSContext? {
        guard let tlsCert, let tlsKey else { return nil }
        do {
            return try TLSContext(.server(certificateChain: .file(tlsCert), privateKey: .file(tlsKey)))
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

/// `serve` over TLS when `context` is set: the same server on a `TLSListener` wrapping the
/// bound TCP listener; failed handshakes are logged on `logger` (`debug`: one per connection).
func serving(
    tls context: TLSContext?,
    logger: Logger,
    _ serve: @escaping @Sendable (TCPListener) async throws -> Void,
    orTLS serveTLS: @escaping @Sendable (TLSListener) async throws -> Void
) -> @Sendable (TCPListener) async throws -> Void {
    guard let context else { return serve }
    return { listener in
        try await serveTLS(TLSListener(wrapping: listener, context: context, onHandshakeFailure: { error in
            logger.debug("TLS handshake failed", metadata: ["error": "\(error)"])
        }))
    }
}

/// `--ca FILE` and `--insecure`, for the client commands given a `wss://` URL.
struct ClientTLSOptions: ParsableArguments {
    @Option(help: ArgumentHelp("With a wss:// URL: trust the CA certificates in this PEM file instead of the system's.", valueName: "file"))
    var ca: String?
    @Flag(help: "With a wss:// URL: accept any certificate, unchecked (anyone in the path can read and change the traffic; for tests only).")
    var insecure = false

    func validate() throws {
        guard !(insecure && ca != nil) else { throw ValidationError("--ca and --insecure exclude each other") }
    }

    /// The client context, or nil for the default (the system's trust store).
    func clientContext() throws -> TLSContext? {
        var configuration: TLSConfiguration
        if let ca {
            configuration = .client(trustRoots: .certificates(.file(ca)))
        } else if insecure {
            Console.error("eddy: --insecure: server certificates are not checked")
            configuration = .client()
            configuration.certificateVerification = .insecureNone
        } else {
            return nil
        }
        do {
            return try TLSContext(configuration)
        } catch {
            throw ValidationError("\(error)")
        }
    }
}

/// With a TLS context: reloads its certificate and key on every SIGHUP (a renewed
/// certificate; established connections keep theirs) until the subscription is cancelled.
/// Returns once the handler is installed, so a SIGHUP sent after `LISTENING` never
/// terminates the server.
func reloadOnHangUp(_ context: TLSContext?, loop: EventLoop) async throws -> SignalSubscription? {
    guard let context else { return nil }
    let subscription = try await loop.subscribeToSignals([.hangUp])
    Task {
        for await _ in subscription.signals { reloadCertificate(context) }
    }
    return subscription
}

/// Reloads `context`'s certificate and key from their files, saying on stderr what happened
/// (a failed reload keeps the certificate in force).
func reloadCertificate(_ context: TLSContext) {
    do {
        try context.reload()
        Console.error("eddy: SIGHUP: certificate reloaded; new connections use it")
    } catch {
        Console.error("eddy: SIGHUP: reload failed, keeping the current certificate: \(error)")
    }
}
