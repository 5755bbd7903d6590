/// A minimal live dashboard for `eddy demo` / `eddy serve`: follows the lobby
/// (`/api/dags/stream`) to list the runs and switch to each new one, applies the snapshot and
/// the deltas of the run it shows (a mid-stream snapshot replaces the state), shows node
/// states, costs and waiting gates with Approve / Reject buttons, and resyncs with `since`
/// after a disconnect (backoff with full jitter).
enum DashboardPage {
    static let html = """
    <!doctype html>
    <html lang="en"><head><meta charset="utf-8"><title>Eddy DAG dashboard</title>
    <style>body{font:14px system-ui,sans-serif;max-width:52rem;margin:1.5rem auto}table{border-collapse:collapse;width:100%}
    td,th{border-bottom:1px solid #ddd;padding:.3rem .5rem;text-align:left}.s-running{color:#06c}.s-completed{color:#080}
    .s-failed,.s-upstream_failed,.s-rejected{color:#b00}.s-waiting_human{color:#c60;font-weight:600}#status{color:#666}</style></head>
    <body><h1>Eddy DAG dashboard</h1><p id="status">connecting…</p><p id="runs"></p><p id="run"></p><p id="cost"></p>
    <div id="gates"></div><table><thead><tr><th>node</th><th>status</th><th>output</th></tr></thead><tbody id="nodes"></tbody></table>
    <script>
    const token = new URLSearchParams(location.search).get("token") || "";
    const $ = (id) => document.getElementById(id);
    let state = null, ws = null, attempt = 0, runId = null, lobbyAttempt = 0;
    const runs = new Map();
    function render() {
      if (!state) return;
      $("run").textContent = `run ${state.dag_id} · ${state.status} · seq ${state.seq}`;
      const rows = Object.values(state.nodes).map((n) => `<tr><td>${n.label || n.id}</td><td class="s-${n.status}">${n.status}</td>` +
        `<td>${n.output === undefined ? "" : JSON.stringify(n.output).slice(0, 80)}</td></tr>`);
      $("nodes").innerHTML = rows.join("");
      $("cost").textContent = state.cost ? `spent ${state.cost.spent.toFixed(3)} of ${state.cost.budget ?? "∞"}` : "";
      $("gates").innerHTML = Object.values(state.gates).map((g) => `<p><b>${g.node_id}</b>: ${g.presentation.title || ""} ` +
        `<button onclick="decide('${g.node_id}','approve')">Approve</button> <button onclick="decide('${g.node_id}','reject')">Reject</button></p>`).join("");
    }
    function apply(e) {
      if (e.type === "snapshot") {
        state = { dag_id: e.dag_id, epoch: e.epoch, seq: e.seq, status: e.status, nodes: {}, gates: {}, cost: e.cost };
        for (const n of e.nodes) state.nodes[n.id] = n;
        for (const g of e.waiting_gates || []) state.gates[g.node_id] = g;
      } else if (e.type === "heartbeat" || e.type === "command_result") {
        return;
      } else if (state) {
        if (e.seq !== state.seq + 1) { ws.close(); return; }   // a gap: resync
        state.seq = e.seq;
        if (e.type === "node_state") Object.assign(state.nodes[e.node_id] ||= { id: e.node_id }, { status: e.status, output: e.output });
        if (e.type === "dag_mutated") for (const n of e.mutation.added_nodes || []) state.nodes[n.id] ||= { id: n.id, label: n.label, status: "pending" };
        if (e.type === "cost_update") state.cost = e;
        if (e.type === "human_gate_waiting") state.gates[e.node_id] = e;
        if (e.type === "gate_resolved") delete state.gates[e.node_id];
        if (e.type === "execution_state") state.status = e.status;
        if (e.type === "execution_complete") state.status = e.status || "completed";
      }
      render();
    }
    function decide(node, decision) {
      ws.send(JSON.stringify({ v: 1, type: "human_decision", command_id: crypto.randomUUID(), node_id: node, decision }));
    }
    function connect() {
      const since = state && state.dag_id === runId ? `&since=${state.seq}&epoch=${state.epoch}` : "";
      ws = new WebSocket(`ws://${location.host}/api/dags/${runId}/stream?x=1${since}`, ["eddy.dag.v1", "token." + token]);
      ws.onopen = () => { attempt = 0; $("status").textContent = "live"; };
      ws.onmessage = (m) => apply(JSON.parse(m.data));
      ws.onclose = () => { const delay = Math.random() * Math.min(30000, 1000 * 2 ** attempt++);
        $("status").textContent = `disconnected; retrying in ${(delay / 1000).toFixed(1)} s`; setTimeout(connect, delay); };
    }
    function renderRuns() {
      $("runs").textContent = "runs: " + [...runs.values()].slice(-5).map((r) => `${r.dag_id} (${r.status || "?"})`).join(", ");
    }
    function show(id) {
      if (id === runId) return;
      runId = id; state = null; attempt = 0;
      if (ws) { ws.onclose = null; ws.close(); }
      connect();
    }
    function openLobby() {
      const lobby = new WebSocket(`ws://${location.host}/api/dags/stream`, ["eddy.dag.v1", "token." + token]);
      lobby.onopen = () => { lobbyAttempt = 0; };
      lobby.onmessage = (m) => {
        const e = JSON.parse(m.data);
        if (e.type === "runs") { runs.clear(); for (const r of e.runs) runs.set(r.dag_id, r); }
        if (e.type === "run_started" || e.type === "run_finished") runs.set(e.run.dag_id, e.run);
        if (e.type === "run_removed") runs.delete(e.dag_id);
        renderRuns();
        // Show the newest run: the one just started, or the newest listed.
        if (e.type === "run_started") show(e.run.dag_id);
        if (e.type === "runs" && runs.size && !runId) show([...runs.keys()].pop());
      };
      lobby.onclose = () => setTimeout(openLobby, Math.random() * Math.min(30000, 1000 * 2 ** lobbyAttempt++));
    }
    addEventListener("online", () => { if (ws && ws.readyState > 1) connect(); });
    openLobby();
    </script></body></html>
    """
}
