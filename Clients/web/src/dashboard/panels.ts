import type { ConnectionState } from "../link.js";
import type { Decision, JSONValue, RunSummary, WaitingGate } from "../protocol/types.js";
import type { Resync } from "../client.js";
import type { DAGState } from "../store.js";
import { button, element, jsonText } from "./dom.js";

/**
 * The dashboard's panels, each a function from data to DOM that writes data only as text.
 * None of them sends anything: controls call the handlers they are given.
 */

/** What the operator can do; absent for viewers and for a past state (time travel). */
export interface Controls {
  decide(nodeId: string, decision: Decision, feedback?: string): void;
  execution(type: "pause_execution" | "resume_execution" | "cancel_execution"): void;
}

/** The connection indicator: `live`, `reconnecting in N s`, `connecting…`, `closed`. */
export function connectionText(connection: ConnectionState, now: number): string {
  switch (connection.status) {
    case "live": return "live";
    case "waiting": return `reconnecting in ${Math.max(0, Math.ceil((connection.retryAt - now) / 1000))} s`;
    case "connecting": return connection.attempt > 0 ? `reconnecting (attempt ${connection.attempt + 1})…` : "connecting…";
    case "idle": return "not connected";
    case "closed": return "closed";
  }
}

/** "resynced at seq N" once a connection after the first caught up; empty before. */
export function resyncText(resync: Resync | null): string {
  if (resync === null || resync.connection <= 1) return "";
  return `resynced at seq ${resync.seq} (${resync.by === "snapshot" ? "snapshot" : "replayed missed events"})`;
}

/** The runs list: one button per run (newest last, as the lobby orders them). */
export function runsList(runs: readonly RunSummary[], shown: string | null, show: (dagId: string) => void): HTMLElement[] {
  return runs.map((run) => {
    const item = element("li", undefined, run.dag_id === shown ? "shown" : undefined);
    item.append(button(`${run.dag_id} (${run.status ?? "?"})`, () => show(run.dag_id)));
    return item;
  });
}

/** The cost ticker: spent and budget as text, and a budget bar (`<meter>`, no inline style). */
export function costLine(state: DAGState, text: HTMLElement, meter: HTMLMeterElement): void {
  const { spent, budget } = state.cost;
  text.textContent = budget === null ? `spent ${spent.toFixed(3)} (no budget)` : `spent ${spent.toFixed(3)} of ${budget.toFixed(3)}`;
  meter.hidden = budget === null;
  meter.max = budget !== null && budget > 0 ? budget : 1;
  meter.high = meter.max * 0.8;
  meter.value = Math.min(spent, meter.max);
}

/** A gate presentation's title, as text. */
export function gateTitle(presentation: JSONValue): string {
  if (presentation === null || typeof presentation !== "object" || Array.isArray(presentation)) return "";
  const title = (presentation as { readonly [key: string]: JSONValue })["title"];
  return title === undefined || title === null ? "" : typeof title === "string" ? title : jsonText(title);
}

/**
 * The waiting gates: `<p><b>id</b>: title [Approve] [Reject] [feedback] [Modify]</p>` and the
 * whole presentation below it as JSON text. Without `controls`, no buttons.
 */
export function gateLines(gates: readonly WaitingGate[], controls: Controls | null): HTMLElement[] {
  const lines: HTMLElement[] = [];
  for (const gate of gates) {
    const line = element("p");
    line.append(element("b", gate.node_id), `: ${gateTitle(gate.presentation)}`);
    if (controls !== null) {
      const feedback = element("input");
      feedback.type = "text";
      feedback.placeholder = "feedback";
      feedback.setAttribute("aria-label", "feedback");
      line.append(" ", button("Approve", () => controls.decide(gate.node_id, "approve")),
        " ", button("Reject", () => controls.decide(gate.node_id, "reject")),
        " ", feedback, " ", button("Modify", () => controls.decide(gate.node_id, "modify", feedback.value), "modify"));
    }
    lines.push(line, element("pre", JSON.stringify(gate.presentation, null, 2), "presentation"));
  }
  return lines;
}

/** Pause / resume / cancel, as the run's status allows. */
export function executionButtons(state: DAGState, controls: Controls): HTMLElement[] {
  const live = state.status === "running" || state.status === "paused";
  if (!live) return [];
  return [
    state.status === "running"
      ? button("Pause", () => controls.execution("pause_execution"))
      : button("Resume", () => controls.execution("resume_execution")),
    button("Cancel", () => controls.execution("cancel_execution"), "danger"),
  ];
}

/** The node table: `<tr><td>label</td><td class="s-status">status</td><td>output</td></tr>`. */
export function nodeRows(state: DAGState, select: (nodeId: string) => void): HTMLElement[] {
  return state.nodes.map((node) => {
    const row = element("tr");
    row.append(element("td", node.label ?? node.id), element("td", node.status, `s-${node.status}`),
      element("td", jsonText(node.output).slice(0, 80)));
    row.addEventListener("click", () => select(node.id));
    return row;
  });
}

/** A node's details: id, label, status, attempts, metrics and the whole output, as text. */
export function nodeDetail(state: DAGState, nodeId: string): HTMLElement[] {
  const node = state.nodes.find((candidate) => candidate.id === nodeId);
  if (node === undefined) return [element("p", `${nodeId}: not in the graph at seq ${state.seq}`)];
  const facts = element("dl");
  const fact = (name: string, value: string) => facts.append(element("dt", name), element("dd", value));
  fact("id", node.id);
  if (node.label !== undefined) fact("label", node.label);
  fact("kind", node.kind);
  fact("status", node.status);
  fact("attempts", String(node.attempt));
  const metrics = node.metrics;
  if (metrics?.tokens !== undefined) fact("tokens", String(metrics.tokens));
  if (metrics?.cost !== undefined) fact("cost", String(metrics.cost));
  if (metrics?.duration_ms !== undefined) fact("duration", `${metrics.duration_ms} ms`);
  return [element("h2", node.label ?? node.id), facts, element("h3", "output"),
    element("pre", node.output === undefined ? "(none)" : JSON.stringify(node.output, null, 2), "output")];
}
