import EddyShared

/// The shared, reloadable OpenSSL state TLS streams are made from: one per listener or per
/// client configuration (building one reads files and, for clients, the system trust store,
/// so make it once and reuse it).
///
/// Guarantees: the initializer and `reload()` read every file the configuration names and
/// fail with a `TLSError` naming the file and OpenSSL's reason; `reload()` replaces the
/// context only when the new one built completely, so a bad renewal leaves the server
/// serving the old certificate; a reload never touches established connections (each
/// holds the context it was made from) and every connection started after it returns uses
/// the new one. Safe to use from any thread.
public final class TLSContext: Sendable {
    /// The configuration every (re)load builds from.
    public let configuration: TLSConfiguration
    private let active: Mutex<SSLContext>

    /// Builds the context, reading the certificate, key and trust files now.
    public init(_ configuration: TLSConfiguration) throws(TLSError) {
        self.configuration = configuration
        self.active = Mutex(try SSLContext.make(configuration))
    }

    /// Re-reads the certificate chain, key and trust roots (a renewed certificate) and
    /// makes new connections use them. Established connections keep theirs.
    public func reload() throws(TLSError) {
        let fresh = try SSLContext.make(configuration)
        active.withLock { $0 = fresh }
    }

    /// The context new connections are made from.
    var current: SSLContext { active.withLock { $0 } }
}
