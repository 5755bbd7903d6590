import { Fields, ProtocolError } from "./fields.js";
import type {
  ClientCommand, CommandStatus, Cost, Decision, Edge, Envelope, ExecutionStatus, JSONValue, LobbyEnvelope,
  LobbyMessage, Metrics, Mutation, NodeInfo, NodeKind, NodeStatus, RunSummary, ServerEvent, SnapshotEdge,
  SnapshotNode, WaitingGate,
} from "./types.js";

export { ProtocolError } from "./fields.js";

/** Every `NodeStatus`, in the schema's order (the decoder refuses any other). */
export const NODE_STATUSES: readonly NodeStatus[] = [
  "pending", "ready", "running", "retrying", "waiting_human", "completed",
  "failed", "skipped", "upstream_failed", "rejected", "cancelled", "removed",
];
/** Every `ExecutionStatus`, in the schema's order (the decoder refuses any other). */
export const EXECUTION_STATUSES: readonly ExecutionStatus[] = [
  "running", "paused", "cancelling", "cancelled", "completed", "failed", "budget_exceeded", "interrupted",
];
const NODE_KINDS: readonly NodeKind[] = ["task", "human_gate"];
const DECISIONS: readonly Decision[] = ["approve", "reject", "modify"];
const COMMAND_STATUSES: readonly CommandStatus[] = ["accepted", "rejected", "duplicate", "conflict"];

// Decoders build new objects field by field, in the protocol's key order, and leave out
// absent optional fields: unknown fields are dropped, and JSON.stringify of a decoded
// message is the canonical encoding (the golden fixtures round-trip byte for byte).

/** Adds `key: value` unless value is undefined (optional fields are omitted, not undefined). */
function put<T extends object>(target: T, key: string, value: unknown): T {
  if (value !== undefined) Object.defineProperty(target, key, { value, enumerable: true, writable: true, configurable: true });
  return target;
}

/** A present `v` other than 1 is refused; an absent one is allowed only where the protocol says. */
function version(fields: Fields, required: boolean): 1 {
  if (!fields.has("v")) {
    if (required) throw new ProtocolError("v", "missing");
    return 1;
  }
  const v = fields.integer("v");
  if (v !== 1) throw new ProtocolError("v", `unsupported protocol version ${v} (this client speaks 1)`);
  return 1;
}

function envelope(fields: Fields): Envelope {
  return {
    v: version(fields, true),
    dag_id: fields.string("dag_id"),
    epoch: fields.integer("epoch"),
    seq: fields.integer("seq", 0),
    ts: fields.integer("ts"),
  };
}

function metrics(fields: Fields): Metrics {
  const result: Metrics = {};
  put(result, "tokens", fields.optionalInteger("tokens", 0));
  put(result, "cost", fields.has("cost") ? fields.number("cost") : undefined);
  return put(result, "duration_ms", fields.optionalInteger("duration_ms", 0));
}

function edge(value: JSONValue, path: string): Edge {
  const fields = Fields.of(value, path);
  return { from: fields.string("from", 1), to: fields.string("to", 1) };
}

function nodeInfo(value: JSONValue, path: string): NodeInfo {
  const fields = Fields.of(value, path);
  const node = { id: fields.string("id", 1), kind: fields.oneOf("kind", NODE_KINDS) };
  return put(node, "label", fields.optionalString("label"));
}

function mutation(fields: Fields): Mutation {
  const result = { revision: fields.integer("revision", 1) };
  put(result, "source_node", fields.optionalString("source_node"));
  return Object.assign(result, {
    added_nodes: fields.array("added_nodes", nodeInfo),
    added_edges: fields.array("added_edges", edge),
    removed_nodes: fields.array("removed_nodes", (value, path) => {
      if (typeof value !== "string" || value === "") throw new ProtocolError(path, "expected a node id");
      return value;
    }),
  });
}

function cost(fields: Fields): Cost {
  return { spent: fields.number("spent"), budget: fields.nullableNumber("budget"), remaining: fields.nullableNumber("remaining") };
}

function waitingGate(value: JSONValue, path: string): WaitingGate {
  const fields = Fields.of(value, path);
  return { node_id: fields.string("node_id", 1), presentation: fields.raw("presentation") ?? null };
}

function snapshotNode(value: JSONValue, path: string): SnapshotNode {
  const fields = Fields.of(value, path);
  const node = { id: fields.string("id", 1), kind: fields.oneOf("kind", NODE_KINDS) };
  put(node, "label", fields.optionalString("label"));
  Object.assign(node, { status: fields.oneOf("status", NODE_STATUSES), attempt: fields.integer("attempt", 0) });
  put(node, "output", fields.raw("output"));
  // Every required field was read and checked above; the cast only forgets how it was built.
  return put(node, "metrics", optional(fields.optionalObject("metrics"), metrics)) as SnapshotNode;
}

function snapshotEdge(value: JSONValue, path: string): SnapshotEdge {
  const fields = Fields.of(value, path);
  return { from: fields.string("from", 1), to: fields.string("to", 1), active: fields.boolean("active") };
}

function optional<T>(fields: Fields | undefined, read: (fields: Fields) => T): T | undefined {
  return fields === undefined ? undefined : read(fields);
}

/** The payload of a run-stream message of type `type`, in key order. */
function payload(type: string, fields: Fields): object {
  switch (type) {
    case "node_state": {
      const result = { node_id: fields.string("node_id", 1), status: fields.oneOf("status", NODE_STATUSES) };
      put(result, "attempt", fields.optionalInteger("attempt", 1));
      put(result, "output", fields.raw("output"));
      return put(result, "metrics", optional(fields.optionalObject("metrics"), metrics));
    }
    case "edge_active":
      return { from: fields.string("from", 1), to: fields.string("to", 1) };
    case "dag_mutated":
      return { mutation: mutation(fields.object("mutation")) };
    case "cost_update": {
      const result = put({}, "node_id", fields.optionalString("node_id"));
      return Object.assign(result, cost(fields));
    }
    case "execution_complete":
      return { status: fields.oneOf("status", EXECUTION_STATUSES), results: fields.object("results").entries() };
    case "human_gate_waiting":
      return { node_id: fields.string("node_id", 1), presentation: fields.raw("presentation") ?? null };
    case "gate_resolved": {
      const result = { node_id: fields.string("node_id", 1), decision: fields.oneOf("decision", DECISIONS) };
      put(result, "feedback", fields.optionalString("feedback"));
      return put(result, "command_id", fields.optionalString("command_id"));
    }
    case "error": {
      const result = put({}, "node_id", fields.optionalString("node_id"));
      return Object.assign(result, { code: fields.string("code"), message: fields.string("message") });
    }
    case "execution_state":
      return put({ status: fields.oneOf("status", EXECUTION_STATUSES) }, "reason", fields.optionalString("reason"));
    case "snapshot": {
      const result = {
        status: fields.oneOf("status", EXECUTION_STATUSES),
        revision: fields.integer("revision", 0),
        nodes: fields.array("nodes", snapshotNode),
        edges: fields.array("edges", snapshotEdge),
        cost: cost(fields.object("cost")),
        waiting_gates: fields.array("waiting_gates", waitingGate),
      };
      return put(result, "results", fields.optionalObject("results")?.entries());
    }
    case "command_result": {
      const result = { command_id: fields.string("command_id"), status: fields.oneOf("status", COMMAND_STATUSES) };
      return put(result, "reason", fields.optionalString("reason"));
    }
    case "heartbeat":
      return {};
    default:
      throw new ProtocolError("type", `unknown server message type ${JSON.stringify(type)}`);
  }
}

/**
 * Decodes one run-stream message (a WebSocket text frame). Guarantees: returns a
 * well-typed `ServerEvent` with only the protocol's fields, or throws a `ProtocolError`
 * naming the offending field; never returns a partially checked object.
 */
export function decodeServerEvent(text: string): ServerEvent {
  return decodeServerEventValue(Fields.parse(text));
}

function decodeServerEventValue(fields: Fields): ServerEvent {
  const head = envelope(fields);
  const type = fields.string("type");
  const body = payload(type, fields);
  // Key order of the wire: v, type, dag_id, epoch, seq, ts, payload…
  // `payload` checked every field of `type`'s variant; TypeScript cannot tie the string to it.
  return Object.assign({ v: head.v, type }, { dag_id: head.dag_id, epoch: head.epoch, seq: head.seq, ts: head.ts }, body) as ServerEvent;
}

function runSummary(value: JSONValue, path: string): RunSummary {
  const fields = Fields.of(value, path);
  const status = fields.raw("status");
  return {
    dag_id: fields.string("dag_id", 1),
    finished: fields.boolean("finished"),
    status: status === null ? null : fields.oneOf("status", EXECUTION_STATUSES),
    last_seq: fields.integer("last_seq", 0),
  };
}

/**
 * Decodes one lobby message (`/api/dags/stream`). Same guarantees as `decodeServerEvent`.
 */
export function decodeLobbyMessage(text: string): LobbyMessage {
  const fields = Fields.parse(text);
  const head: LobbyEnvelope = { v: version(fields, true), epoch: fields.integer("epoch"), ts: fields.integer("ts") };
  const type = fields.string("type");
  const start = { v: head.v, type, epoch: head.epoch, ts: head.ts };
  switch (type) {
    case "runs":
      return Object.assign(start, { type, runs: fields.array("runs", runSummary) });
    case "run_started":
    case "run_finished":
      return Object.assign(start, { type, run: runSummary(fields.raw("run") ?? missing("run"), "run") });
    case "run_removed":
      return Object.assign(start, { type, dag_id: fields.string("dag_id", 1) });
    case "heartbeat":
      return Object.assign(start, { type });
    default:
      throw new ProtocolError("type", `unknown lobby message type ${JSON.stringify(type)}`);
  }
}

function missing(path: string): never {
  throw new ProtocolError(path, "missing");
}

/**
 * Decodes a client command, as the server would. The client itself only encodes commands;
 * this exists so that the same fixtures the server refuses are refused here too.
 */
export function decodeClientCommand(text: string): ClientCommand {
  const fields = Fields.parse(text);
  const v = version(fields, false);
  const type = fields.string("type");
  const commandId = fields.string("command_id", 1);
  const start = fields.has("v") ? { v } : {};
  switch (type) {
    case "human_decision": {
      const result = Object.assign(start, {
        type, command_id: commandId, node_id: fields.string("node_id", 1), decision: fields.oneOf("decision", DECISIONS),
      });
      return put(result, "feedback", fields.optionalString("feedback"));
    }
    case "pause_execution":
    case "resume_execution":
    case "cancel_execution":
      return Object.assign(start, { type, command_id: commandId });
    default:
      throw new ProtocolError("type", `unknown command type ${JSON.stringify(type)}`);
  }
}
