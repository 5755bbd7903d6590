import { DAGStreamClient } from "../client.js";
import { DAGRunsClient } from "../runsClient.js";
import type { DAGState } from "../store.js";
import { byId, takeToken } from "./dom.js";
import { GraphView } from "./graph.js";
import { RunHistory } from "./history.js";
import {
  connectionText, costLine, executionButtons, gateLines, nodeDetail, nodeRows, resyncText, runsList, type Controls,
} from "./panels.js";

/**
 * The dashboard served at `/`: follows the lobby, shows one run live (graph, node table, cost,
 * gates, connection), lets an operator decide gates and pause / resume / cancel, and travels
 * back through the run's logged history with the scrubber.
 *
 * Guarantees:
 * - Data is only ever written as text (see `dom.ts`); the page runs under the server's CSP.
 * - Controls appear only for a token the server calls an operator's (`GET /api/session`),
 *   and only on the live state; a command the server refuses as a viewer's hides them. The
 *   server decides regardless: a viewer's command is rejected there.
 * - Controls and gates are rebuilt only when what they show changes, so an event never
 *   replaces a button under the pointer or clears a feedback being typed.
 * - Time travel shows `RunHistory.stateAt(seq)`: the graph, costs and gates after that event.
 */
type Role = "operator" | "viewer" | "unknown";
const VIEWER_REFUSAL = "viewers may not send commands";

const token = takeToken();
const graph = new GraphView(byId<SVGSVGElement>("graph"), (nodeId) => { selected = nodeId; render(); });
const scrubber = byId<HTMLInputElement>("scrubber");
let role: Role = "unknown";
let client: DAGStreamClient | null = null;
let runHistory: RunHistory | null = null;
let pinned = false;           // the user picked a run: new runs do not take over
let viewing: number | null = null; // a past seq, or null for live
let selected: string | null = null;
let shownControls = "", shownGates = "";
const lobby = new DAGRunsClient({ token });

async function fetchText(path: string): Promise<string> {
  const headers: Record<string, string> = token === "" ? {} : { Authorization: `Bearer ${token}` };
  const response = await fetch(path, { headers, cache: "no-store" });
  if (!response.ok) throw new Error(`${path.split("?")[0]}: HTTP ${response.status}`);
  return response.text();
}

function notice(text: string): void {
  byId("notice").textContent = text;
}

const controls: Controls = {
  decide: (nodeId, decision, feedback) => command(`${decision} ${nodeId}`, feedback === undefined
    ? { type: "human_decision", node_id: nodeId, decision }
    : { type: "human_decision", node_id: nodeId, decision, feedback }),
  execution: (type) => command(type.replace("_execution", ""), { type }),
};

function command(what: string, request: Parameters<DAGStreamClient["send"]>[0]): void {
  if (client === null) return;
  notice(`${what}: sent`);
  client.send(request).then((result) => {
    notice(`${what}: ${result.status}${result.reason === undefined ? "" : ` (${result.reason})`}`);
    if (result.reason === VIEWER_REFUSAL) { role = "viewer"; render(); }
  }, (error: unknown) => notice(`${what}: not sent (${error instanceof Error ? error.message : String(error)})`));
}

function show(dagId: string): void {
  if (client?.dagId === dagId) return;
  client?.close();
  client = new DAGStreamClient(dagId, { token }).start();
  client.subscribe(scheduleRender);
  client.onEvent((event) => {
    // After the state change it comes with, so the flash needs its own render.
    if (event.type === "edge_active") { graph.flash(event.from, event.to, Date.now()); scheduleRender(); }
  });
  runHistory = new RunHistory(dagId, fetchText);
  graph.reset();
  viewing = null;
  selected = null;
  renderRuns();
  render();
}

function renderRuns(): void {
  const runs = lobby.getState()?.runs ?? [];
  byId("runs").replaceChildren(...runsList(runs, client?.dagId ?? null, (dagId) => { pinned = true; show(dagId); }));
}

function shownState(live: DAGState | null): DAGState | null {
  if (viewing === null || runHistory === null) return live;
  return runHistory.stateAt(viewing) ?? live;
}

let renderTimer: ReturnType<typeof setTimeout> | null = null;

/** Renders soon, once for a burst of events (at most every 50 ms): a fast run stays smooth. */
function scheduleRender(): void {
  if (renderTimer !== null) return;
  renderTimer = setTimeout(() => { renderTimer = null; render(); }, 50);
}

function render(): void {
  const connection = client?.getConnection();
  byId("status").textContent = connection === undefined ? "waiting for a run…" : connectionText(connection, Date.now())
    + (token === "" ? " (no token: open the address the server printed)" : "");
  byId("resync").textContent = resyncText(client?.getResync() ?? null);
  byId("role").textContent = role === "operator" ? "operator" : role === "viewer" ? "viewer: read-only" : "role unknown: read-only";
  const live = client?.getState() ?? null;
  const state = shownState(live);
  if (live === null || state === null) return;
  scrubber.max = String(live.seq);
  scrubber.value = String(viewing ?? live.seq);
  byId("at").textContent = viewing === null ? `live · seq ${live.seq}` : `history · seq ${state.seq} of ${live.seq}`;
  document.body.classList.toggle("past", viewing !== null);
  byId("run").textContent = `run ${state.dag_id} · ${state.status} · seq ${state.seq}`;
  const allowed = role === "operator" && viewing === null ? controls : null;
  const controlsKey = JSON.stringify([state.dag_id, state.status, allowed !== null]);
  if (controlsKey !== shownControls) {
    shownControls = controlsKey;
    byId("controls").replaceChildren(...(allowed === null ? [] : executionButtons(state, allowed)));
  }
  const gatesKey = JSON.stringify([state.dag_id, allowed !== null, state.waiting_gates]);
  if (gatesKey !== shownGates) {
    shownGates = gatesKey;
    byId("gates").replaceChildren(...gateLines(state.waiting_gates, allowed));
  }
  costLine(state, byId("cost-text"), byId<HTMLMeterElement>("budget"));
  graph.render(state, selected, Date.now());
  byId("nodes").replaceChildren(...nodeRows(state, (nodeId) => { selected = nodeId; render(); }));
  byId("detail").replaceChildren(...(selected === null ? [] : nodeDetail(state, selected)));
}

function scrubTo(seq: number): void {
  const head = client?.getState()?.seq ?? 0;
  if (runHistory === null || seq >= head) { viewing = null; render(); return; }
  viewing = seq;
  const loading = runHistory;
  if (loading.loadedSeq >= seq) { render(); return; }
  byId("at").textContent = `loading history up to seq ${seq}…`;
  loading.load(seq).then(render, (error: unknown) => {
    notice(`history: ${error instanceof Error ? error.message : String(error)}`);
    viewing = null;
    render();
  });
}

function start(): void {
  scrubber.addEventListener("input", () => scrubTo(Number(scrubber.value)));
  byId("live").addEventListener("click", () => { viewing = null; render(); });
  fetchText("/api/session").then((text) => {
    const answer = JSON.parse(text) as { role?: unknown };
    role = answer.role === "operator" ? "operator" : answer.role === "viewer" ? "viewer" : "unknown";
    render();
  }, (error: unknown) => notice(`role unknown (${error instanceof Error ? error.message : String(error)}): read-only`));
  lobby.subscribe(() => {
    const runs = lobby.getState()?.runs ?? [];
    const newest = runs[runs.length - 1];
    if (client === null && newest !== undefined) show(newest.dag_id);
    renderRuns();
  });
  lobby.start();
  lobby.onMessage((message) => {
    if (message.type === "run_started" && !pinned) show(message.run.dag_id);
  });
  // The countdown of "reconnecting in N s" and the fading of flashed edges.
  setInterval(() => { if (client?.getConnection().status !== "live" || document.querySelector(".edge.flash")) render(); }, 1000);
  render();
}

start();
