public import EddyHTTP
public import EddyWebSocket

/// The live dashboard of a `DAGStreamServer` (`eddy demo`, `eddy serve`): the runs from the
/// lobby, the shown run as a graph laid out by dependency level with its node table, cost
/// ticker, waiting gates and (for operators) decisions and pause / resume / cancel, a
/// connection indicator, and a scrubber over the run's logged history (`/api/dags/{id}/events`).
///
/// The page is TypeScript on the web client library (`Clients/web/src/dashboard`), bundled by
/// esbuild and committed as `DashboardAssets.generated.swift` (`make dashboard`; `make web-test`
/// fails when the committed file differs from a fresh build), so the binary serves it without
/// Node and SwiftPM users get it without running make.
///
/// Security: labels, outputs and gate titles come from workflow definitions and model output,
/// so the script renders every value as text (`textContent`, `createElement(NS)`, never HTML)
/// and attaches handlers with `addEventListener`. As a second line, every resource is a
/// `BrowserResource`: a Content-Security-Policy that admits only this server's own script,
/// stylesheet and connections, so markup that reached the page anyway could run no inline
/// script or handler and send nothing elsewhere.
public enum DashboardPage {
    /// `GET /`, `GET /dashboard.js`, `GET /dashboard.css`.
    public static func install(into router: inout HTTPRouter<WebSocketRoute>) throws {
        let page = BrowserResource.page(html)
        let script = BrowserResource.script(script)
        let stylesheet = BrowserResource.stylesheet(stylesheet)
        try router.add(.get, "/") { _, _ in page }
        try router.add(.get, "/dashboard.js") { _, _ in script }
        try router.add(.get, "/dashboard.css") { _, _ in stylesheet }
    }
}
