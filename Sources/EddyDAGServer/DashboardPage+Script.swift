extension DashboardPage {
    /// `/dashboard.js`. Rules that keep the page safe with hostile data (a label, an output, a
    /// gate title or a node id may contain markup): values only ever go into `textContent` or
    /// text nodes, never into `innerHTML` or a string of code; handlers are closures attached
    /// with `addEventListener`; node and gate maps are `Map`s, so an id such as `__proto__`
    /// is only a key.
    public static let script = #"""
        "use strict";
        (() => {
          const $ = (id) => document.getElementById(id);
          const token = takeToken();
          const runs = new Map();          // dag_id → run summary from the lobby, oldest first
          // The run shown: { dag_id, epoch, seq, status, nodes: Map id → node, gates: Map id → gate, cost }.
          let state = null;
          let runId = null, ws = null, attempt = 0, retry = 0, lobbyAttempt = 0, shownGates = "";

          // The token arrives in the fragment (#token=…: fragments never reach the server, its
          // logs or a Referer) or, from older links, in the query (?token=…). It is kept in this
          // tab's sessionStorage, so a reload still works, and taken out of the address bar.
          function takeToken() {
            const key = "eddy.dashboard.token";
            const fragment = new URLSearchParams(location.hash.slice(1));
            const query = new URLSearchParams(location.search);
            const given = fragment.get("token") ?? query.get("token");
            if (given === null) {
              try { return sessionStorage.getItem(key) ?? ""; } catch { return ""; }
            }
            try { sessionStorage.setItem(key, given); } catch { /* storage disabled: this load only */ }
            fragment.delete("token");
            query.delete("token");
            const search = query.toString(), hash = fragment.toString();
            history.replaceState(history.state, "", location.pathname + (search ? "?" + search : "") + (hash ? "#" + hash : ""));
            return given;
          }

          // An element whose content is `text` as text (never parsed as markup).
          function element(tag, text, className) {
            const node = document.createElement(tag);
            if (text !== undefined) node.textContent = text;
            if (className) node.className = className;
            return node;
          }

          function render() {
            if (!state) return;
            $("run").textContent = `run ${state.dag_id} · ${state.status} · seq ${state.seq}`;
            const rows = document.createDocumentFragment();
            for (const n of state.nodes.values()) {
              const output = n.output === undefined ? "" : String(JSON.stringify(n.output)).slice(0, 80);
              const row = element("tr");
              row.append(element("td", String(n.label || n.id)), element("td", String(n.status), "s-" + n.status), element("td", output));
              rows.append(row);
            }
            $("nodes").replaceChildren(rows);
            const cost = state.cost;
            $("cost").textContent = cost && typeof cost.spent === "number" ? `spent ${cost.spent.toFixed(3)} of ${cost.budget ?? "∞"}` : "";
            renderGates();
          }

          function gateTitle(gate) {
            const title = gate.presentation ? gate.presentation.title : undefined;
            return title === undefined || title === null ? "" : typeof title === "string" ? title : JSON.stringify(title);
          }

          // Rebuilt only when the waiting gates change, so that an unrelated event never
          // replaces a button under the operator's pointer.
          function renderGates() {
            const gates = [...state.gates.values()];
            const shown = JSON.stringify([state.dag_id, gates.map((g) => [g.node_id, gateTitle(g)])]);
            if (shown === shownGates) return;
            shownGates = shown;
            const lines = document.createDocumentFragment();
            for (const gate of gates) {
              const line = element("p");
              line.append(element("b", String(gate.node_id)), `: ${gateTitle(gate)} `,
                button("Approve", gate.node_id, "approve"), " ", button("Reject", gate.node_id, "reject"));
              lines.append(line);
            }
            $("gates").replaceChildren(lines);
          }

          function button(label, nodeId, decision) {
            const b = element("button", label);
            b.addEventListener("click", () => decide(nodeId, decision));
            return b;
          }

          function commandId() {
            // crypto.getRandomValues, unlike crypto.randomUUID, also exists on plain http://
            // pages served to another host (not a secure context).
            const bytes = crypto.getRandomValues(new Uint8Array(16));
            return "dash-" + Array.from(bytes, (b) => b.toString(16).padStart(2, "0")).join("");
          }

          function decide(nodeId, decision) {
            if (!ws || ws.readyState !== WebSocket.OPEN) { $("status").textContent = "not connected: decision not sent"; return; }
            ws.send(JSON.stringify({ v: 1, type: "human_decision", command_id: commandId(), node_id: nodeId, decision }));
          }

          function nodeNamed(id) {
            let node = state.nodes.get(id);
            if (!node) { node = { id }; state.nodes.set(id, node); }
            return node;
          }

          function apply(e) {
            if (e.type === "snapshot") {
              state = { dag_id: e.dag_id, epoch: e.epoch, seq: e.seq, status: e.status, nodes: new Map(), gates: new Map(), cost: e.cost };
              for (const n of e.nodes || []) state.nodes.set(n.id, n);
              for (const g of e.waiting_gates || []) state.gates.set(g.node_id, g);
            } else if (e.type === "heartbeat" || e.type === "command_result") {
              return;
            } else if (state) {
              if (e.seq !== state.seq + 1) { ws.close(); return; }   // a gap: resync from state.seq
              state.seq = e.seq;
              if (e.type === "node_state") Object.assign(nodeNamed(e.node_id), { status: e.status, output: e.output });
              if (e.type === "dag_mutated") {
                for (const n of e.mutation.added_nodes || []) {
                  if (!state.nodes.has(n.id)) state.nodes.set(n.id, { id: n.id, label: n.label, status: "pending" });
                }
              }
              if (e.type === "cost_update") state.cost = e;
              if (e.type === "human_gate_waiting") state.gates.set(e.node_id, e);
              if (e.type === "gate_resolved") state.gates.delete(e.node_id);
              if (e.type === "execution_state") state.status = e.status;
              if (e.type === "execution_complete") state.status = e.status || "completed";
            }
            render();
          }

          // Backoff with full jitter: a random delay up to 1 s, 2 s, 4 s … 30 s.
          const backoff = (n) => Math.random() * Math.min(30000, 1000 * 2 ** n);

          function socketTo(path) {
            const scheme = location.protocol === "https:" ? "wss:" : "ws:";
            return new WebSocket(`${scheme}//${location.host}${path}`, ["eddy.dag.v1", "token." + token]);
          }

          // (Re)connects to the shown run; after a disconnect it resumes from the last seq.
          // Events of a socket that is no longer `ws` are ignored.
          function connect() {
            clearTimeout(retry);
            if (ws) { const old = ws; ws = null; old.close(); }
            const resume = state && state.dag_id === runId ? `?since=${state.seq}&epoch=${state.epoch}` : "";
            let socket;
            try {
              socket = socketTo(`/api/dags/${encodeURIComponent(runId)}/stream${resume}`);
            } catch (error) {
              $("status").textContent = `cannot connect: ${error.message}`;
              return;
            }
            ws = socket;
            socket.addEventListener("open", () => {
              if (socket !== ws) return;
              attempt = 0;
              $("status").textContent = "live";
            });
            socket.addEventListener("message", (m) => { if (socket === ws) apply(JSON.parse(m.data)); });
            socket.addEventListener("close", () => {
              if (socket !== ws) return;
              const delay = backoff(attempt++);
              $("status").textContent = `disconnected; retrying in ${(delay / 1000).toFixed(1)} s` + (token ? "" : " (no token: open the address the server printed)");
              retry = setTimeout(connect, delay);
            });
          }

          function renderRuns() {
            $("runs").textContent = "runs: " + [...runs.values()].slice(-5).map((r) => `${r.dag_id} (${r.status || "?"})`).join(", ");
          }

          function show(id) {
            if (id === runId) return;
            runId = id;
            state = null;
            attempt = 0;
            connect();
          }

          function openLobby() {
            let lobby;
            try {
              lobby = socketTo("/api/dags/stream");
            } catch (error) {
              $("status").textContent = `cannot connect: ${error.message}`;
              return;
            }
            lobby.addEventListener("open", () => { lobbyAttempt = 0; });
            lobby.addEventListener("message", (m) => {
              const e = JSON.parse(m.data);
              if (e.type === "runs") { runs.clear(); for (const r of e.runs) runs.set(r.dag_id, r); }
              if (e.type === "run_started" || e.type === "run_finished") runs.set(e.run.dag_id, e.run);
              if (e.type === "run_removed") runs.delete(e.dag_id);
              renderRuns();
              // Show the newest run: the one just started, or the newest listed.
              if (e.type === "run_started") show(e.run.dag_id);
              if (e.type === "runs" && runs.size && !runId) show([...runs.keys()].pop());
            });
            lobby.addEventListener("close", () => setTimeout(openLobby, backoff(lobbyAttempt++)));
          }

          addEventListener("online", () => { if (runId !== null && (!ws || ws.readyState > WebSocket.OPEN)) connect(); });
          openLobby();
        })();

        """#
}
