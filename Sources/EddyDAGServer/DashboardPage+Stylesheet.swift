extension DashboardPage {
    /// `/dashboard.css` (a separate resource: the page's CSP forbids inline style).
    public static let stylesheet = """
        body { font: 14px system-ui, sans-serif; max-width: 52rem; margin: 1.5rem auto; }
        table { border-collapse: collapse; width: 100%; }
        td, th { border-bottom: 1px solid #ddd; padding: .3rem .5rem; text-align: left; }
        .s-running { color: #06c; }
        .s-completed { color: #080; }
        .s-failed, .s-upstream_failed, .s-rejected { color: #b00; }
        .s-waiting_human { color: #c60; font-weight: 600; }
        #status { color: #666; }

        """
}
