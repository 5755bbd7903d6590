import type {
  Cost, DAGMutatedEvent, ExecutionStatus, JSONValue, LoggedEvent, Metrics, NodeKind, NodeStatus, RunStateFields, ServerEvent,
  SnapshotEdge, SnapshotEvent, SnapshotNode, WaitingGate,
} from "./protocol/types.js";
import { assertNever } from "./protocol/types.js";

/**
 * A run's state as the client holds it: the fields of a `snapshot` plus the envelope's
 * `dag_id`, `epoch` and `seq` (the last logged event reflected). Immutable: the reducer
 * never changes a state, it returns a new one (sharing unchanged parts).
 */
export interface DAGState extends RunStateFields {
  readonly dag_id: string;
  readonly epoch: number;
  readonly seq: number;
}

/** What the reducer did with an event. */
export type ApplyOutcome =
  /** The event was applied (or was a snapshot, which replaces the state). */
  | { readonly kind: "applied" }
  /** A logged event at or below the state's seq: already applied, nothing changed. */
  | { readonly kind: "duplicate" }
  /** A logged event after a missing one (or from another epoch): nothing changed; resync. */
  | { readonly kind: "gap"; readonly expected: number; readonly received: number }
  /** A session message, another run's event, or a delta before any snapshot. */
  | { readonly kind: "ignored" };

/** The new state and what happened; `state` is the very same object unless `applied`. */
export interface ApplyResult {
  readonly state: DAGState | null;
  readonly outcome: ApplyOutcome;
}

const IGNORED: ApplyOutcome = { kind: "ignored" };
const DUPLICATE: ApplyOutcome = { kind: "duplicate" };
const APPLIED: ApplyOutcome = { kind: "applied" };

/** Whether `event` is stored in the server's log (and so carries a consecutive `seq`). */
export function isLogged(event: ServerEvent): event is LoggedEvent {
  return event.type !== "snapshot" && event.type !== "command_result" && event.type !== "heartbeat";
}

/** The state a `snapshot` describes. */
export function stateFromSnapshot(snapshot: SnapshotEvent): DAGState {
  const state = {
    dag_id: snapshot.dag_id, epoch: snapshot.epoch, seq: snapshot.seq, status: snapshot.status,
    revision: snapshot.revision, nodes: snapshot.nodes, edges: snapshot.edges, cost: snapshot.cost,
    waiting_gates: snapshot.waiting_gates,
  };
  return snapshot.results === undefined ? state : { ...state, results: snapshot.results };
}

/**
 * The run-state reducer, the same rules as the server's `DAGStateStore`:
 * - a `snapshot` replaces the whole state;
 * - a logged event applies only at `seq == state.seq + 1` in the same epoch; at or below it
 *   is a `duplicate`, beyond it (or in another epoch) a `gap`, and neither changes anything;
 * - session messages and deltas before the first snapshot are `ignored`.
 * Guarantees: pure; `result.state === state` whenever the outcome is not `applied`;
 * snapshot at seq N + the logged events after N == every event from seq 1.
 */
export function applyEvent(state: DAGState | null, event: ServerEvent): ApplyResult {
  if (event.type === "snapshot") return { state: stateFromSnapshot(event), outcome: APPLIED };
  if (!isLogged(event) || state === null || event.dag_id !== state.dag_id) return { state, outcome: IGNORED };
  if (event.epoch !== state.epoch) return { state, outcome: { kind: "gap", expected: state.seq + 1, received: event.seq } };
  if (event.seq <= state.seq) return { state, outcome: DUPLICATE };
  if (event.seq !== state.seq + 1) return { state, outcome: { kind: "gap", expected: state.seq + 1, received: event.seq } };
  return { state: reduce({ ...state, seq: event.seq }, event), outcome: APPLIED };
}

/** A node with its keys in the protocol's order (optional ones omitted when absent). */
function makeNode(
  id: string, kind: NodeKind, label: string | undefined, status: NodeStatus, attempt: number,
  output: JSONValue | undefined, metrics: Metrics | undefined,
): SnapshotNode {
  // Built key by key so the order is the wire's; status and attempt are set just below.
  const node: { -readonly [K in keyof SnapshotNode]: SnapshotNode[K] } = { id, kind } as SnapshotNode;
  if (label !== undefined) node.label = label;
  node.status = status;
  node.attempt = attempt;
  if (output !== undefined) node.output = output;
  if (metrics !== undefined) node.metrics = metrics;
  return node;
}

function withoutGate(gates: readonly WaitingGate[], nodeId: string): readonly WaitingGate[] {
  return gates.some((gate) => gate.node_id === nodeId) ? gates.filter((gate) => gate.node_id !== nodeId) : gates;
}

function reduce(state: DAGState, event: LoggedEvent): DAGState {
  switch (event.type) {
    case "node_state": {
      const index = state.nodes.findIndex((node) => node.id === event.node_id);
      const old = state.nodes[index];
      if (old === undefined) return state;
      const node = makeNode(old.id, old.kind, old.label, event.status, event.attempt ?? old.attempt,
        event.output !== undefined ? event.output : old.output, event.metrics ?? old.metrics);
      const nodes = state.nodes.slice();
      nodes[index] = node;
      const waiting_gates = event.status === "waiting_human" ? state.waiting_gates : withoutGate(state.waiting_gates, event.node_id);
      return { ...state, nodes, waiting_gates };
    }
    case "edge_active": {
      const index = state.edges.findIndex((edge) => edge.from === event.from && edge.to === event.to);
      if (index < 0) return state;
      const edges = state.edges.slice();
      edges[index] = { from: event.from, to: event.to, active: true };
      return { ...state, edges };
    }
    case "dag_mutated":
      return mutate(state, event);
    case "cost_update":
      return { ...state, cost: { spent: event.spent, budget: event.budget, remaining: event.remaining } };
    case "execution_complete":
      return { ...state, status: event.status, results: event.results };
    case "human_gate_waiting":
      return { ...state, waiting_gates: [...withoutGate(state.waiting_gates, event.node_id), { node_id: event.node_id, presentation: event.presentation }] };
    case "gate_resolved":
      return { ...state, waiting_gates: withoutGate(state.waiting_gates, event.node_id) };
    case "execution_state":
      return { ...state, status: event.status };
    case "error":
      return state;
    default:
      return assertNever(event, "logged event");
  }
}

function mutate(state: DAGState, event: DAGMutatedEvent): DAGState {
  const { mutation } = event;
  const known = new Set(state.nodes.map((node) => node.id));
  let nodes = state.nodes.slice();
  for (const added of mutation.added_nodes) {
    if (known.has(added.id)) continue;
    known.add(added.id);
    nodes.push(makeNode(added.id, added.kind, added.label, "pending", 0, undefined, undefined));
  }
  const edgeKey = (edge: { from: string; to: string }) => JSON.stringify([edge.from, edge.to]);
  const knownEdges = new Set(state.edges.map(edgeKey));
  let edges = state.edges.slice();
  for (const added of mutation.added_edges) {
    const key = edgeKey(added);
    if (knownEdges.has(key)) continue;
    knownEdges.add(key);
    edges.push({ from: added.from, to: added.to, active: false });
  }
  let waiting_gates = state.waiting_gates;
  if (mutation.removed_nodes.length > 0) {
    const removed = new Set(mutation.removed_nodes);
    nodes = nodes.map((node) => removed.has(node.id)
      ? makeNode(node.id, node.kind, node.label, "removed", node.attempt, node.output, node.metrics)
      : node);
    for (const id of removed) waiting_gates = withoutGate(waiting_gates, id);
    edges = edges.filter((edge) => !removed.has(edge.from) && !removed.has(edge.to));
  }
  return { ...state, revision: mutation.revision, nodes, edges, waiting_gates };
}
