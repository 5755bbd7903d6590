// The Eddy DAG stream protocol, version 1 (docs/protocol.md, docs/protocol.schema.json),
// as TypeScript types. Every message is a plain JSON object; these types describe what
// `decode.ts` accepts and returns (unknown extra fields are dropped by the decoder).

/** Any JSON value: node outputs, gate presentations and results are arbitrary JSON. */
export type JSONValue = null | boolean | number | string | readonly JSONValue[] | { readonly [key: string]: JSONValue };

/** A node's status. The list is closed: the decoder refuses any other string. */
export type NodeStatus =
  | "pending" | "ready" | "running" | "retrying" | "waiting_human" | "completed"
  | "failed" | "skipped" | "upstream_failed" | "rejected" | "cancelled" | "removed";

/** A run's status (`interrupted`: the server stopped while the run was live). */
export type ExecutionStatus =
  | "running" | "paused" | "cancelling" | "cancelled" | "completed" | "failed"
  | "budget_exceeded" | "interrupted";

/** `task` or `human_gate`. */
export type NodeKind = "task" | "human_gate";

/** A human's answer to a gate. */
export type Decision = "approve" | "reject" | "modify";

/** How the server answered a command. */
export type CommandStatus = "accepted" | "rejected" | "duplicate" | "conflict";

/** `{tokens?, cost?, duration_ms?}` on completed or failed nodes. */
export interface Metrics {
  readonly tokens?: number;
  readonly cost?: number;
  readonly duration_ms?: number;
}

/** A dependency: `from` feeds `to`. */
export interface Edge {
  readonly from: string;
  readonly to: string;
}

/**
 * Fields every run-stream message carries. `seq` is the run's event number for logged
 * events (1, 2, 3… no gaps) and the last logged seq reflected for session messages;
 * `epoch` names the server's event history (a different epoch means: resync).
 */
export interface Envelope {
  readonly v: 1;
  readonly dag_id: string;
  readonly epoch: number;
  readonly seq: number;
  readonly ts: number;
}

/** A node changed state, or a running node reported progress (same status, new output). */
export interface NodeStateEvent extends Envelope {
  readonly type: "node_state";
  readonly node_id: string;
  readonly status: NodeStatus;
  readonly attempt?: number;
  readonly output?: JSONValue;
  readonly metrics?: Metrics;
}

/** `from` completed and fed `to`. */
export interface EdgeActiveEvent extends Envelope, Edge {
  readonly type: "edge_active";
}

/** A node added by a mutation. */
export interface NodeInfo {
  readonly id: string;
  readonly kind: NodeKind;
  readonly label?: string;
}

/** A graph change; revision 1 (seq 1, no `source_node`) is the initial graph. */
export interface Mutation {
  readonly revision: number;
  readonly source_node?: string;
  readonly added_nodes: readonly NodeInfo[];
  readonly added_edges: readonly Edge[];
  readonly removed_nodes: readonly string[];
}

/** The graph changed. */
export interface DAGMutatedEvent extends Envelope {
  readonly type: "dag_mutated";
  readonly mutation: Mutation;
}

/** Spending so far; `budget`/`remaining` are null for an unlimited run. */
export interface Cost {
  readonly spent: number;
  readonly budget: number | null;
  readonly remaining: number | null;
}

/** The running total after a cost report. */
export interface CostUpdateEvent extends Envelope, Cost {
  readonly type: "cost_update";
  readonly node_id?: string;
}

/** The last logged event of a run; `results` maps completed node ids to outputs. */
export interface ExecutionCompleteEvent extends Envelope {
  readonly type: "execution_complete";
  readonly status: ExecutionStatus;
  readonly results: { readonly [nodeId: string]: JSONValue };
}

/** A gate waiting for a decision, with whatever the workflow wants shown. */
export interface WaitingGate {
  readonly node_id: string;
  readonly presentation: JSONValue;
}

/** A gate waits for a human decision. */
export interface HumanGateWaitingEvent extends Envelope, WaitingGate {
  readonly type: "human_gate_waiting";
}

/** The first decision on a gate won (no `command_id` when the gate's timeout decided). */
export interface GateResolvedEvent extends Envelope {
  readonly type: "gate_resolved";
  readonly node_id: string;
  readonly decision: Decision;
  readonly feedback?: string;
  readonly command_id?: string;
}

/** A logged error (attempt_failed, node_failed…) or a session reply (bad_message, unknown_command). */
export interface ErrorEvent extends Envelope {
  readonly type: "error";
  readonly node_id?: string;
  readonly code: string;
  readonly message: string;
}

/** A non-terminal change of the run's status. */
export interface ExecutionStateEvent extends Envelope {
  readonly type: "execution_state";
  readonly status: ExecutionStatus;
  readonly reason?: string;
}

/** One node in a snapshot (and in the client's state). */
export interface SnapshotNode {
  readonly id: string;
  readonly kind: NodeKind;
  readonly label?: string;
  readonly status: NodeStatus;
  readonly attempt: number;
  readonly output?: JSONValue;
  readonly metrics?: Metrics;
}

/** One edge in a snapshot; `active` once `from` completed and fed `to`. */
export interface SnapshotEdge extends Edge {
  readonly active: boolean;
}

/** The fields of a run's whole state: what a `snapshot` carries (and the client's store holds). */
export interface RunStateFields {
  readonly status: ExecutionStatus;
  readonly revision: number;
  readonly nodes: readonly SnapshotNode[];
  readonly edges: readonly SnapshotEdge[];
  readonly cost: Cost;
  readonly waiting_gates: readonly WaitingGate[];
  /** Present once the run ended (`execution_complete`). */
  readonly results?: { readonly [nodeId: string]: JSONValue };
}

/** The run's whole state as of the envelope's `seq` (session message). */
export interface SnapshotEvent extends Envelope, RunStateFields {
  readonly type: "snapshot";
}

/** The answer to one command (session message). */
export interface CommandResultEvent extends Envelope {
  readonly type: "command_result";
  readonly command_id: string;
  readonly status: CommandStatus;
  readonly reason?: string;
}

/** Sent every heartbeat interval so clients notice a dead link (session message). */
export interface HeartbeatEvent extends Envelope {
  readonly type: "heartbeat";
}

/** Every message the server sends on a run's stream. */
export type ServerEvent =
  | NodeStateEvent | EdgeActiveEvent | DAGMutatedEvent | CostUpdateEvent | ExecutionCompleteEvent
  | HumanGateWaitingEvent | GateResolvedEvent | ErrorEvent | ExecutionStateEvent
  | SnapshotEvent | CommandResultEvent | HeartbeatEvent;

/** The events stored in the server's log, which carry consecutive `seq`s. */
export type LoggedEvent = Exclude<ServerEvent, SnapshotEvent | CommandResultEvent | HeartbeatEvent>;

/** Decide a waiting gate. */
export interface HumanDecisionCommand {
  readonly v?: 1;
  readonly type: "human_decision";
  readonly command_id: string;
  readonly node_id: string;
  readonly decision: Decision;
  readonly feedback?: string;
}

/** Pause, resume or cancel the run. */
export interface ExecutionCommand {
  readonly v?: 1;
  readonly type: "pause_execution" | "resume_execution" | "cancel_execution";
  readonly command_id: string;
}

/** Every command a client may send; `command_id` is its idempotency key. */
export type ClientCommand = HumanDecisionCommand | ExecutionCommand;

/** A run in the lobby: `status` is null when unknown; `last_seq` its last logged event. */
export interface RunSummary {
  readonly dag_id: string;
  readonly finished: boolean;
  readonly status: ExecutionStatus | null;
  readonly last_seq: number;
}

/** Fields every lobby message carries (no `dag_id`, no `seq`). */
export interface LobbyEnvelope {
  readonly v: 1;
  readonly epoch: number;
  readonly ts: number;
}

/** Every run the server knows, oldest first; replaces the client's list. */
export interface LobbyRunsMessage extends LobbyEnvelope {
  readonly type: "runs";
  readonly runs: readonly RunSummary[];
}

/** A run started, or ended (`run.status` is then final). */
export interface LobbyRunMessage extends LobbyEnvelope {
  readonly type: "run_started" | "run_finished";
  readonly run: RunSummary;
}

/** Retention deleted a finished run. */
export interface LobbyRunRemovedMessage extends LobbyEnvelope {
  readonly type: "run_removed";
  readonly dag_id: string;
}

/** The lobby's heartbeat. */
export interface LobbyHeartbeatMessage extends LobbyEnvelope {
  readonly type: "heartbeat";
}

/** Every message of the lobby stream (`/api/dags/stream`). */
export type LobbyMessage = LobbyRunsMessage | LobbyRunMessage | LobbyRunRemovedMessage | LobbyHeartbeatMessage;

/** For exhaustive switches: a call that type-checks only when every case was handled. */
export function assertNever(value: never, what: string): never {
  throw new Error(`unhandled ${what}: ${JSON.stringify(value)}`);
}
