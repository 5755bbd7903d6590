import EddyDAGServer

/// The operator and viewer tokens of `eddy demo` / `eddy serve`: where each comes from, what
/// the banner may show of them, and where generated tokens go when it may not show them.
///
/// Sources, the first present wins: the flag (`--operator-token`), a token file
/// (`--operator-token-file`: one or more tokens, re-read on SIGHUP), the environment
/// (`EDDY_OPERATOR_TOKEN`), else a random token. A file or the environment is the documented
/// way: a process's environment is readable only by its user (and root), its command line by
/// every local user (`ps`, `/proc/PID/cmdline`), so a token flag draws a warning on stderr.
///
/// The banner prints tokens, and the dashboard URL that carries one, only when stdout is a
/// terminal. Otherwise (a log file, a pipe, a journal) it says where each token came from, and
/// generated tokens, which the operator could not learn any other way, are written to
/// `tokenFile(forDatabase:)` with mode 0600 as `EDDY_OPERATOR_TOKEN=…` lines a shell can
/// source; the server removes that file when it stops.
struct StreamTokens {
    enum Source: Equatable {
        case flag(String)
        case file(String)
        case environment(String)
        case generated
    }

    /// One role's tokens (one, or several from a file) and where they came from.
    struct Token {
        let values: [String]
        let source: Source
        /// The token the banner shows (a file's first).
        var value: String { values.first ?? "" }

        init(value: String, source: Source) {
            self.init(values: [value], source: source)
        }

        init(values: [String], source: Source) {
            self.values = values
            self.source = source
        }
    }

    static let operatorVariable = DAGServerTokens.operatorVariable
    static let viewerVariable = DAGServerTokens.viewerVariable

    let operatorToken: Token
    let viewerToken: Token

    /// - Throws: `TokenList.ReadError` for a token file that cannot be read or holds no token.
    init(operatorFlag: String?, viewerFlag: String?, operatorFile: String? = nil, viewerFile: String? = nil,
         environment: [String: String]) throws {
        func token(_ flag: String?, _ flagName: String, _ file: String?, _ variable: String) throws -> Token {
            if let flag { return Token(value: flag, source: .flag(flagName)) }
            if let file { return Token(values: try TokenList.read(file), source: .file(file)) }
            if let value = environment[variable] { return Token(value: value, source: .environment(variable)) }
            return Token(value: DAGServerTokens.generate(), source: .generated)
        }
        operatorToken = try token(operatorFlag, "--operator-token", operatorFile, Self.operatorVariable)
        viewerToken = try token(viewerFlag, "--viewer-token", viewerFile, Self.viewerVariable)
    }

    /// The role's tokens as configured now, re-reading its file if it has one (for SIGHUP).
    static func current(_ token: Token) throws -> Set<String> {
        if case .file(let path) = token.source { return Set(try TokenList.read(path)) }
        return Set(token.values)
    }

    /// A reason to refuse the given values, or nil. An empty token would admit anyone who
    /// sends an empty one (`Authorization: Bearer `, or a bare `token.` subprotocol).
    static func problem(operatorFlag: String?, viewerFlag: String?, environment: [String: String]) -> String? {
        let given = [("--operator-token", operatorFlag), ("--viewer-token", viewerFlag),
                     ("$" + operatorVariable, environment[operatorVariable]), ("$" + viewerVariable, environment[viewerVariable])]
        guard let (name, _) = given.first(where: { $0.1 == "" }) else { return nil }
        return "\(name) is empty: give a token, or unset it to have one generated"
    }

    /// One warning per token given as a flag, for stderr.
    var warnings: [String] {
        [(operatorToken.source, Self.operatorVariable), (viewerToken.source, Self.viewerVariable)].compactMap { source, variable in
            guard case .flag(let flag) = source else { return nil }
            return Self.flagWarning(flag, instead: variable)
        }
    }

    /// The warning for a token given as `flag`, which `variable` should carry instead.
    static func flagWarning(_ flag: String, instead variable: String) -> String {
        "eddy: warning: \(flag) puts the token on the command line, which every local user can read "
            + "(ps, /proc/PID/cmdline); set \(variable) in the environment instead."
    }

    /// The generated tokens as `NAME=value` lines (empty when none was generated).
    var generatedLines: [String] {
        [(operatorToken, Self.operatorVariable), (viewerToken, Self.viewerVariable)]
            .filter { $0.0.source == .generated }.map { "\($1)=\($0.value)" }
    }

    /// Where generated tokens are written when stdout is not a terminal: next to the event log.
    static func tokenFile(forDatabase path: String) -> String { path + ".tokens" }

    /// The banner's lines about addresses (https:// and wss:// when `secure`) and tokens.
    /// With `onTerminal` false no token appears, and generated tokens are said to be in
    /// `tokenFile`.
    func bannerLines(host: String, port: Int, secure: Bool = false, onTerminal: Bool, tokenFile: String) -> [String] {
        let base = "\(secure ? "https" : "http")://\(host):\(port)"
        let stream = "  stream:    \(secure ? "wss" : "ws")://\(host):\(port)/api/dags/{dagId}/stream?token=TOKEN[&since=SEQ&epoch=EPOCH]"
        func origin(_ token: Token) -> String {
            switch token.source {
            case .flag(let flag): return "from \(flag)"
            case .file(let path): return "from \(path) (\(token.values.count) token\(token.values.count == 1 ? "" : "s"), re-read on SIGHUP)"
            case .environment(let variable): return "from $\(variable)"
            case .generated: return onTerminal ? "generated" : "generated, written to \(tokenFile) (mode 0600)"
            }
        }
        guard onTerminal else {
            return [
                "  dashboard: \(base)/   (add #token=<operator token>)",
                "  runs:      \(base)/api/dags   (with Authorization: Bearer <token>, or ?token=<token>)",
                stream,
                "  operator token: \(origin(operatorToken))   (may approve, pause, resume, cancel)",
                "  viewer token:   \(origin(viewerToken))   (read only)",
                "  (tokens are printed only when stdout is a terminal)",
            ]
        }
        return [
            "  dashboard: \(base)/#token=\(DAGServerTokens.urlEncoded(operatorToken.value))",
            "  runs:      \(base)/api/dags?token=\(DAGServerTokens.urlEncoded(viewerToken.value))",
            stream,
            "  operator token: \(operatorToken.value)   (may approve, pause, resume, cancel; \(origin(operatorToken)))",
            "  viewer token:   \(viewerToken.value)   (read only; \(origin(viewerToken)))",
        ]
    }
}
