import COpenSSL

/// One OpenSSL `SSL_CTX` built from a `TLSConfiguration`, and the memory its callbacks
/// read (the ALPN list, the SNI table), freed together with it.
///
/// Guarantees: immutable once built (OpenSSL allows making connections from one context on
/// any thread); every `TLSStream` made from it holds it, so the callbacks' memory outlives
/// every connection that may call them; the files named in the configuration were read
/// when it was built, never later.
final class SSLContext: @unchecked Sendable {
    /// The `SSL_CTX *`.
    let pointer: OpaquePointer
    let role: TLSConfiguration.Role
    let verification: TLSConfiguration.CertificateVerification
    /// The server's ALPN list for `eddy_tls_alpn_select`: [length: 2 bytes][wire format].
    private var alpnSelection: UnsafeMutableRawBufferPointer?
    /// Contexts chosen by SNI, and the C table pointing at them and at their names.
    private var named: [SSLContext] = []
    private var nameTable: UnsafeMutablePointer<EddyTLSNames>?
    private var nameStrings: UnsafeMutablePointer<UnsafePointer<CChar>?>?
    private var nameContexts: UnsafeMutablePointer<OpaquePointer?>?

    private init(pointer: OpaquePointer, configuration: TLSConfiguration) {
        self.pointer = pointer
        self.role = configuration.role
        self.verification = configuration.certificateVerification
    }

    deinit {
        SSL_CTX_free(pointer)
        alpnSelection?.deallocate()
        if let nameStrings {
            for index in 0..<named.count { free(UnsafeMutableRawPointer(mutating: nameStrings[index])) }
            nameStrings.deallocate()
        }
        nameContexts?.deallocate()
        nameTable?.deallocate()
    }

    /// Builds a context, reading every file the configuration names.
    static func make(_ configuration: TLSConfiguration) throws(TLSError) -> SSLContext {
        OpenSSLErrors.clear()
        let method = configuration.role == .server ? TLS_server_method() : TLS_client_method()
        guard let pointer = SSL_CTX_new(method) else { throw failure("create SSL_CTX") }
        // From here the context frees the SSL_CTX, whatever throws below.
        let context = SSLContext(pointer: pointer, configuration: configuration)
        guard configuration.minimumVersion <= configuration.maximumVersion,
              eddy_tls_ctx_configure(pointer, version(configuration.minimumVersion), version(configuration.maximumVersion)) == 1
        else { throw failure("set protocol versions \(configuration.minimumVersion)...\(configuration.maximumVersion)") }
        try context.loadIdentity(configuration)
        try context.loadTrust(configuration)
        try context.setVerification(configuration)
        try context.setApplicationProtocols(configuration.applicationProtocols)
        try context.setNamedCertificates(configuration)
        return context
    }

    private static func version(_ version: TLSConfiguration.Version) -> Int32 {
        switch version {
        case .tls12: TLS1_2_VERSION
        case .tls13: TLS1_3_VERSION
        }
    }

    private func loadIdentity(_ configuration: TLSConfiguration) throws(TLSError) {
        switch (configuration.certificateChain, configuration.privateKey) {
        case (nil, nil):
            if configuration.role == .server {
                throw TLSError(.invalidConfiguration, operation: "server configuration", reasons: ["a server needs a certificate chain and a private key"])
            }
            return
        case (.some, nil), (nil, .some):
            throw TLSError(.invalidConfiguration, operation: "identity", reasons: ["a certificate chain needs its private key and the other way round"])
        case (.some(let chain), .some(let key)):
            try load(chain, what: "certificate chain", file: { SSL_CTX_use_certificate_chain_file(pointer, $0) },
                     memory: { eddy_tls_ctx_use_chain_pem(pointer, $0.baseAddress, Int32(clamping: $0.count)) })
            try load(key, what: "private key", file: { SSL_CTX_use_PrivateKey_file(pointer, $0, SSL_FILETYPE_PEM) },
                     memory: { eddy_tls_ctx_use_key_pem(pointer, $0.baseAddress, Int32(clamping: $0.count)) })
            OpenSSLErrors.clear()
            guard SSL_CTX_check_private_key(pointer) == 1 else {
                throw Self.failure("check private key", code: .invalidConfiguration, fallback: "the private key does not match the certificate")
            }
        }
    }

    private func loadTrust(_ configuration: TLSConfiguration) throws(TLSError) {
        let verifiesPeer = configuration.role == .client
            ? configuration.certificateVerification != .insecureNone
            : configuration.clientAuthentication != .none
        guard verifiesPeer else { return }
        OpenSSLErrors.clear()
        switch configuration.trustRoots {
        case .system:
            guard SSL_CTX_set_default_verify_paths(pointer) == 1 else { throw Self.failure("load the system trust store") }
        case .certificates(let source):
            try load(source, what: "trust roots", file: { SSL_CTX_load_verify_locations(pointer, $0, nil) },
                     memory: { eddy_tls_ctx_trust_pem(pointer, $0.baseAddress, Int32(clamping: $0.count)) > 0 ? 1 : 0 })
        }
    }

    private func setVerification(_ configuration: TLSConfiguration) throws(TLSError) {
        let mode: Int32
        switch configuration.role {
        case .client:
            mode = configuration.certificateVerification == .insecureNone ? SSL_VERIFY_NONE : SSL_VERIFY_PEER
        case .server:
            switch configuration.clientAuthentication {
            case .none: mode = SSL_VERIFY_NONE
            case .optional: mode = SSL_VERIFY_PEER
            case .required: mode = SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT
            }
            // Sessions resumed with a client certificate need a context id (any constant).
            let id: [UInt8] = Array("eddy".utf8)
            _ = SSL_CTX_set_session_id_context(pointer, id, UInt32(id.count))
        }
        SSL_CTX_set_verify(pointer, mode, nil)
    }

    /// ALPN: a client offers the list, a server selects from it (`eddy_tls_alpn_select`).
    private func setApplicationProtocols(_ protocols: [String]) throws(TLSError) {
        guard !protocols.isEmpty else { return }
        var wire: [UInt8] = []
        for name in protocols {
            let bytes = Array(name.utf8)
            guard (1...255).contains(bytes.count) else {
                throw TLSError(.invalidConfiguration, operation: "ALPN", reasons: ["protocol names are 1 to 255 bytes long: \"\(name)\""])
            }
            wire.append(UInt8(bytes.count))
            wire += bytes
        }
        guard wire.count <= 0xFFFF else {
            throw TLSError(.invalidConfiguration, operation: "ALPN", reasons: ["the protocol list is longer than 65,535 bytes"])
        }
        switch role {
        case .client:
            // Returns 0 on success (unlike most of OpenSSL).
            guard SSL_CTX_set_alpn_protos(pointer, wire, UInt32(wire.count)) == 0 else { throw Self.failure("set ALPN protocols") }
        case .server:
            // Memory the C callback reads for as long as this context lives.
            let selection = UnsafeMutableRawBufferPointer.allocate(byteCount: wire.count + 2, alignment: 1)
            selection[0] = UInt8(wire.count >> 8)
            selection[1] = UInt8(wire.count & 0xFF)
            for (index, byte) in wire.enumerated() { selection[index + 2] = byte }
            alpnSelection = selection
            eddy_tls_ctx_set_alpn_select(pointer, selection.baseAddress)
        }
    }

    /// SNI for servers: one sub-context per named certificate, chosen by the C callback.
    private func setNamedCertificates(_ configuration: TLSConfiguration) throws(TLSError) {
        guard configuration.role == .server, !configuration.namedCertificates.isEmpty else { return }
        for entry in configuration.namedCertificates {
            var sub = configuration
            sub.certificateChain = entry.certificateChain
            sub.privateKey = entry.privateKey
            sub.namedCertificates = []
            named.append(try SSLContext.make(sub))
        }
        // The C table: names (strdup'd) and SSL_CTX pointers, freed in deinit.
        let count = named.count
        let strings = UnsafeMutablePointer<UnsafePointer<CChar>?>.allocate(capacity: count)
        let contexts = UnsafeMutablePointer<OpaquePointer?>.allocate(capacity: count)
        for (index, entry) in configuration.namedCertificates.enumerated() {
            strings[index] = UnsafePointer(strdup(entry.serverName))
            contexts[index] = named[index].pointer
        }
        let table = UnsafeMutablePointer<EddyTLSNames>.allocate(capacity: 1)
        table.initialize(to: EddyTLSNames(count: Int32(count), names: strings, contexts: contexts))
        nameStrings = strings
        nameContexts = contexts
        nameTable = table
        eddy_tls_ctx_set_servername_table(pointer, table)
    }

    /// Loads `source` with OpenSSL's file loader or its in-memory one.
    private func load(
        _ source: TLSConfiguration.PEMSource, what: String,
        file: (String) -> Int32, memory: (UnsafeRawBufferPointer) -> Int32
    ) throws(TLSError) {
        OpenSSLErrors.clear()
        switch source {
        case .file(let path):
            guard file(path) == 1 else {
                throw Self.failure("load \(what) from \(path)", code: .invalidConfiguration, fallback: "cannot read \(path)")
            }
        case .pem(let bytes):
            guard !bytes.isEmpty, bytes.withUnsafeBytes(memory) == 1 else {
                throw Self.failure("load \(what) from memory", code: .invalidConfiguration, fallback: "no PEM data")
            }
        }
    }

    /// The error for a failed call: OpenSSL's queued reasons, or `fallback` if it queued none.
    static func failure(_ operation: String, code: TLSError.Code = .invalidConfiguration, fallback: String? = nil) -> TLSError {
        var reasons = OpenSSLErrors.drain().reasons
        if reasons.isEmpty, let fallback { reasons = [fallback] }
        return TLSError(code, operation: operation, reasons: reasons)
    }
}
