public import EddyHTTP
public import EddyWebSocket

/// A minimal live dashboard for a `DAGStreamServer` (`eddy demo`, `eddy serve`): follows the lobby
/// (`/api/dags/stream`) to list the runs and switch to each new one, applies the snapshot and
/// the deltas of the run it shows (a mid-stream snapshot replaces the state), shows node
/// states, costs and waiting gates with Approve / Reject buttons, and resyncs with `since`
/// after a disconnect (backoff with full jitter).
///
/// Three resources: the page at `/`, its script at `/dashboard.js` (`DashboardPage+Script`)
/// and its stylesheet at `/dashboard.css` (`DashboardPage+Stylesheet`).
///
/// Security: labels, outputs and gate titles come from workflow definitions and model output,
/// so the script renders every value as text (`textContent`, `createElement`, never HTML) and
/// attaches handlers with `addEventListener`. As a second line, every resource is a
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

    /// The page: structure only, no inline script or style (the CSP forbids both). The script
    /// fills the elements by id.
    public static let html = """
        <!doctype html>
        <html lang="en">
        <head>
        <meta charset="utf-8">
        <title>Eddy DAG dashboard</title>
        <link rel="stylesheet" href="/dashboard.css">
        <script src="/dashboard.js" defer></script>
        </head>
        <body>
        <h1>Eddy DAG dashboard</h1>
        <p id="status">connecting…</p>
        <p id="runs"></p>
        <p id="run"></p>
        <p id="cost"></p>
        <div id="gates"></div>
        <table>
        <thead><tr><th>node</th><th>status</th><th>output</th></tr></thead>
        <tbody id="nodes"></tbody>
        </table>
        </body>
        </html>

        """
}
