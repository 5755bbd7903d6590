/// Pages, scripts and stylesheets served to browsers, under one strict policy.
///
/// Guarantees: every response made here carries a Content-Security-Policy that admits only
/// this server's own scripts, stylesheets, images and connections (`connect-src 'self'`
/// covers the same-origin `ws:`/`wss:` WebSocket: CSP3 matches them to `http:`/`https:`),
/// no inline script, style or handler, no framing, no forms, no `<base>`; plus `nosniff`,
/// `no-referrer` (a token in a URL never reaches another site) and `no-store`. A page that
/// follows the policy keeps data it renders from running as code even if markup slips in.
public enum BrowserResource {
    /// The headers every browser resource carries.
    public static let securityHeaders: [(String, String)] = [
        ("Content-Security-Policy",
         "default-src 'none'; script-src 'self'; style-src 'self'; connect-src 'self'; img-src 'self'; "
            + "base-uri 'none'; form-action 'none'; frame-ancestors 'none'"),
        ("X-Content-Type-Options", "nosniff"),
        ("Referrer-Policy", "no-referrer"),
        ("Cache-Control", "no-store"),
    ]

    /// A 200 response carrying `body` as `contentType` with the security headers.
    public static func response(_ body: String, contentType: String) -> HTTPResponse {
        HTTPResponse(status: .ok, headers: HTTPHeaders([("Content-Type", contentType)] + securityHeaders), body: Array(body.utf8))
    }

    /// An HTML page (`text/html; charset=utf-8`).
    public static func page(_ html: String) -> HTTPResponse { response(html, contentType: "text/html; charset=utf-8") }
    /// A script (`application/javascript; charset=utf-8`).
    public static func script(_ source: String) -> HTTPResponse { response(source, contentType: "application/javascript; charset=utf-8") }
    /// A stylesheet (`text/css; charset=utf-8`).
    public static func stylesheet(_ source: String) -> HTTPResponse { response(source, contentType: "text/css; charset=utf-8") }
}
