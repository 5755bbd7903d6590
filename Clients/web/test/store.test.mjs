// The run-state and lobby reducers on the golden fixtures.
import { test } from "node:test";
import assert from "node:assert/strict";
import { applyEvent, applyLobbyMessage, decodeServerEvent, decodeLobbyMessage, stateFromSnapshot } from "../dist/eddy-dag-client.js";
import { fixture, envelope, EPOCH } from "./helpers.mjs";

/** A fixture as an event renumbered to `seq`. */
function at(name, seq) {
  return decodeServerEvent(JSON.stringify({ ...JSON.parse(fixture(name)), seq }));
}

const emptySnapshot = decodeServerEvent(JSON.stringify(envelope("snapshot", 0, {
  status: "running", revision: 0, nodes: [], edges: [], cost: { spent: 0, budget: null, remaining: null }, waiting_gates: [],
})));

/** A run told by the fixtures, seq 1…10. */
const story = [
  at("server.dag_mutated.initial.json", 1),
  at("server.execution_state.running.json", 2),
  at("server.node_state.running.json", 3),
  at("server.node_state.progress.json", 4),
  at("server.node_state.completed.json", 5),
  at("server.edge_active.json", 6),
  at("server.cost_update.json", 7),
  at("server.human_gate_waiting.json", 8),
  at("server.error.node_failed.json", 9),
  at("server.gate_resolved.json", 10),
  at("server.execution_complete.json", 11),
];

function applyAll(state, events) {
  for (const event of events) {
    const result = applyEvent(state, event);
    assert.equal(result.outcome.kind, "applied", `${event.type} at ${event.seq}`);
    state = result.state;
  }
  return state;
}

/** The snapshot a server would send for `state` (through its JSON text, like the wire). */
function snapshotOf(state) {
  const { dag_id, epoch, seq, ...rest } = state;
  return decodeServerEvent(JSON.stringify({ v: 1, type: "snapshot", dag_id, epoch, seq, ts: 1, ...rest }));
}

test("the fixtures' story builds the expected state", () => {
  const state = applyAll(stateFromSnapshot(emptySnapshot), story);
  assert.equal(state.seq, 11);
  assert.equal(state.status, "completed");
  assert.equal(state.revision, 1);
  assert.deepEqual(state.nodes.map((n) => [n.id, n.status, n.attempt]), [
    ["fetch", "pending", 0], ["summarise", "completed", 2], ["review", "pending", 0], ["publish", "pending", 0],
  ]);
  const summarise = state.nodes[1];
  assert.equal(summarise.label, "Summarise with model");
  assert.deepEqual(summarise.output, { summary: "ok", score: 0.75, tags: ["a", "b"], extra: null, flag: true });
  assert.deepEqual(summarise.metrics, { tokens: 1200, cost: 0.0125, duration_ms: 842 });
  assert.deepEqual(state.edges, [
    { from: "fetch", to: "summarise", active: false },
    { from: "summarise", to: "review", active: true },
    { from: "review", to: "publish", active: false },
  ]);
  assert.deepEqual(state.cost, { spent: 1.5, budget: 10, remaining: 8.5 });
  assert.deepEqual(state.waiting_gates, []);
  assert.deepEqual(state.results, JSON.parse(fixture("server.execution_complete.json")).results);
});

test("a waiting gate is listed until it is resolved", () => {
  const state = applyAll(stateFromSnapshot(emptySnapshot), story.slice(0, 8));
  assert.deepEqual(state.waiting_gates, [{ node_id: "review", presentation: JSON.parse(fixture("server.human_gate_waiting.json")).presentation }]);
});

test("snapshot at N + the events after N == every event from the start, for every N", () => {
  const full = applyAll(stateFromSnapshot(emptySnapshot), story);
  for (let n = 0; n <= story.length; n++) {
    const atN = applyAll(stateFromSnapshot(emptySnapshot), story.slice(0, n));
    const resumed = applyAll(stateFromSnapshot(snapshotOf(atN)), story.slice(n));
    assert.deepEqual(resumed, full, `snapshot at ${n}`);
    assert.equal(JSON.stringify(resumed), JSON.stringify(full), `key order, snapshot at ${n}`);
  }
});

test("the snapshot fixtures become the state they describe", () => {
  for (const name of ["server.snapshot.json", "server.snapshot.finished.json"]) {
    const snapshot = decodeServerEvent(fixture(name));
    const { state, outcome } = applyEvent(null, snapshot);
    assert.equal(outcome.kind, "applied");
    const { v, type, ts, ...expected } = JSON.parse(fixture(name));
    assert.deepEqual(state, expected, name);
  }
});

test("duplicates, gaps, session messages and other runs change nothing (same object)", () => {
  const state = stateFromSnapshot(decodeServerEvent(fixture("server.snapshot.json"))); // seq 14
  const same = (event, kind) => {
    const result = applyEvent(state, event);
    assert.equal(result.state, state, event.type);
    assert.equal(result.outcome.kind, kind, event.type);
    return result.outcome;
  };
  same(decodeServerEvent(fixture("server.gate_resolved.json")), "duplicate"); // seq 14
  same(at("server.edge_active.json", 3), "duplicate");
  assert.deepEqual(same(at("server.edge_active.json", 16), "gap"), { kind: "gap", expected: 15, received: 16 });
  same(decodeServerEvent(fixture("server.heartbeat.json")), "ignored");
  same(decodeServerEvent(fixture("server.command_result.accepted.json")), "ignored");
  same(decodeServerEvent(JSON.stringify({ ...envelope("edge_active", 15, { from: "a", to: "b" }), dag_id: "run-7" })), "ignored");
  // Another epoch: the history was lost; resync.
  same(decodeServerEvent(JSON.stringify({ ...envelope("edge_active", 15, { from: "a", to: "b" }), epoch: EPOCH + 1 })), "gap");
  // Deltas before any snapshot are ignored.
  assert.deepEqual(applyEvent(null, at("server.edge_active.json", 1)), { state: null, outcome: { kind: "ignored" } });
});

test("an applied event shares what it did not change", () => {
  const state = stateFromSnapshot(decodeServerEvent(fixture("server.snapshot.json")));
  const { state: next } = applyEvent(state, at("server.cost_update.json", 15));
  assert.notEqual(next, state);
  assert.equal(next.nodes, state.nodes);
  assert.equal(next.edges, state.edges);
  assert.deepEqual(next.cost, { spent: 1.5, budget: 10, remaining: 8.5 });
  assert.equal(state.seq, 14, "the old state is untouched");
});

test("a fan-out mutation adds nodes and edges and removes a pending node with its edges", () => {
  const start = decodeServerEvent(JSON.stringify(envelope("snapshot", 11, {
    status: "running", revision: 1,
    nodes: [
      { id: "plan", kind: "task", status: "running", attempt: 1 },
      { id: "fallback", kind: "task", status: "pending", attempt: 0 },
      { id: "join", kind: "task", status: "pending", attempt: 0 },
    ],
    edges: [{ from: "plan", to: "fallback", active: false }, { from: "fallback", to: "join", active: false }],
    cost: { spent: 0, budget: null, remaining: null }, waiting_gates: [],
  })));
  const { state, outcome } = applyEvent(stateFromSnapshot(start), decodeServerEvent(fixture("server.dag_mutated.fanout.json")));
  assert.equal(outcome.kind, "applied");
  assert.equal(state.revision, 2);
  assert.deepEqual(state.nodes.map((n) => [n.id, n.status]), [
    ["plan", "running"], ["fallback", "removed"], ["join", "pending"], ["work-0", "pending"], ["work-1", "pending"],
  ]);
  assert.deepEqual(state.edges.map((e) => `${e.from}>${e.to}`), ["plan>work-0", "plan>work-1", "work-0>join", "work-1>join"]);
});

test("a null output replaces the previous output", () => {
  const state = stateFromSnapshot(decodeServerEvent(fixture("server.snapshot.json")));
  const { state: next } = applyEvent(state, decodeServerEvent(JSON.stringify(envelope("node_state", 15, { node_id: "fetch", status: "completed", output: null }))));
  assert.equal(next.nodes[0].output, null);
  assert.deepEqual(next.nodes[0].metrics, { duration_ms: 120 }, "metrics kept when absent");
});

test("the lobby reducer follows the lobby fixtures", () => {
  const listing = decodeLobbyMessage(fixture("lobby.runs.json"));
  assert.equal(applyLobbyMessage(null, decodeLobbyMessage(fixture("lobby.run_started.json"))), null, "nothing before the listing");
  let state = applyLobbyMessage(null, listing);
  assert.deepEqual(state.runs.map((r) => r.dag_id), ["run-41", "run-42", "run-7"]);
  state = applyLobbyMessage(state, decodeLobbyMessage(fixture("lobby.run_started.json")));
  assert.deepEqual(state.runs.map((r) => [r.dag_id, r.status]), [["run-41", "completed"], ["run-42", "paused"], ["run-7", null], ["run-43", "running"]]);
  state = applyLobbyMessage(state, decodeLobbyMessage(fixture("lobby.run_finished.json")));
  assert.deepEqual(state.runs[3], { dag_id: "run-43", finished: true, status: "cancelled", last_seq: 24 });
  state = applyLobbyMessage(state, decodeLobbyMessage(fixture("lobby.run_removed.json")));
  assert.deepEqual(state.runs.map((r) => r.dag_id), ["run-42", "run-7", "run-43"]);
  assert.equal(applyLobbyMessage(state, decodeLobbyMessage(fixture("lobby.run_removed.json"))), state, "unknown run: same object");
  assert.equal(applyLobbyMessage(state, decodeLobbyMessage(fixture("lobby.heartbeat.json"))), state, "heartbeat: same object");
  assert.deepEqual(applyLobbyMessage(state, decodeLobbyMessage(fixture("lobby.runs.empty.json"))).runs, [], "a listing replaces the list");
});
