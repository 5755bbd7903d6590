// The dashboard's pure parts: the stable graph layout and the time-travel history.
import { test } from "node:test";
import assert from "node:assert/strict";
import { StableLayout, levels } from "../dist/dashboard/layout.js";
import { RunHistory, CHECKPOINT_EVERY } from "../dist/dashboard/history.js";
import { applyEvent, decodeServerEvent } from "../dist/eddy-dag-client.js";

const edge = (from, to) => ({ from, to });

test("levels: one more than the deepest dependency; a cycle cannot loop", () => {
  const depth = levels(["a", "b", "c", "d"], [edge("a", "b"), edge("b", "c"), edge("a", "c"), edge("a", "d")]);
  assert.deepEqual([...depth], [["a", 0], ["b", 1], ["c", 2], ["d", 1]]);
  const cyclic = levels(["x", "y"], [edge("x", "y"), edge("y", "x")]);
  assert.equal(cyclic.size, 2);
});

test("layout: columns by level, rows in order, and nodes added later never move the others", () => {
  const layout = new StableLayout();
  const first = new Map(layout.place(["plan", "review", "ship"], [edge("plan", "review"), edge("review", "ship")]));
  assert.deepEqual(first.get("plan"), { column: 0, row: 0 });
  assert.deepEqual(first.get("review"), { column: 1, row: 0 });
  assert.deepEqual(first.get("ship"), { column: 2, row: 0 });
  // A mutation adds two nodes after `plan`, and one of them also feeds `ship` (which is now deeper).
  const edges = [edge("plan", "review"), edge("review", "ship"), edge("plan", "write"), edge("plan", "check"), edge("write", "ship")];
  const second = layout.place(["plan", "review", "ship", "write", "check"], edges);
  for (const [id, slot] of first) assert.deepEqual(second.get(id), slot, `${id} moved`);
  assert.deepEqual(second.get("write"), { column: 1, row: 1 });
  assert.deepEqual(second.get("check"), { column: 1, row: 2 });
  assert.deepEqual(layout.size, { columns: 3, rows: 3 });
  const slots = [...second.values()].map((slot) => `${slot.column},${slot.row}`);
  assert.equal(new Set(slots).size, slots.length, "two nodes share a slot");
});

const DAG = "run-long";
const EPOCH = 7;
const envelope = (type, seq, fields) => ({ v: 1, type, dag_id: DAG, epoch: EPOCH, seq, ts: 1000 + seq, ...fields });
const emptySnapshot = envelope("snapshot", 0, {
  status: "running", revision: 0, nodes: [], edges: [], cost: { spent: 0, budget: 10, remaining: 10 }, waiting_gates: [],
});

/** A run of `count` logged events: a graph, then progress, costs, a gate and its decision. */
function longRun(count) {
  const events = [envelope("dag_mutated", 1, { mutation: { revision: 1, added_nodes: [
    { id: "work", kind: "task" }, { id: "gate", kind: "human_gate" }], added_edges: [edge("work", "gate")], removed_nodes: [] } })];
  for (let seq = 2; seq <= count; seq++) {
    if (seq === count - 2) events.push(envelope("human_gate_waiting", seq, { node_id: "gate", presentation: { title: "ok?" } }));
    else if (seq === count - 1) events.push(envelope("gate_resolved", seq, { node_id: "gate", decision: "approve" }));
    else if (seq === count) events.push(envelope("execution_complete", seq, { status: "completed", results: {} }));
    else if (seq % 3 === 0) events.push(envelope("cost_update", seq, { spent: seq / 1000, budget: 10, remaining: 10 - seq / 1000 }));
    else events.push(envelope("node_state", seq, { node_id: "work", status: "running", attempt: 1, output: { step: seq } }));
  }
  return events;
}

/** A fake server: `/history?at=0` and `/events` pages, recording the requests. */
function fakeServer(events) {
  const requests = [];
  const fetchText = async (path) => {
    requests.push(path);
    if (path === `/api/dags/${DAG}/history?at=0`) return JSON.stringify(emptySnapshot);
    const match = /\/events\?after=(\d+)&limit=(\d+)$/.exec(path);
    assert.ok(match, `unexpected request ${path}`);
    const after = Number(match[1]), limit = Number(match[2]);
    return JSON.stringify({ dag_id: DAG, epoch: EPOCH, head: events.length, events: events.slice(after, after + limit) });
  };
  return { requests, fetchText };
}

test("history: the state at every seq of a 10,000-event run is the reducer's, from checkpoints", async () => {
  const events = longRun(10_000);
  const server = fakeServer(events);
  const history = new RunHistory(DAG, server.fetchText);
  assert.equal(history.stateAt(5), null, "nothing before loading");
  await history.load(10_000);
  assert.equal(history.loadedSeq, 10_000);
  // The reference: every event reduced in order.
  let state = applyEvent(null, decodeServerEvent(JSON.stringify(emptySnapshot))).state;
  const expected = [state];
  for (const event of events) {
    state = applyEvent(state, decodeServerEvent(JSON.stringify(event))).state;
    expected.push(state);
  }
  for (const seq of [0, 1, 2, CHECKPOINT_EVERY - 1, CHECKPOINT_EVERY, CHECKPOINT_EVERY + 1, 4321, 9997, 9998, 9999, 10_000]) {
    assert.deepEqual(history.stateAt(seq), expected[seq], `seq ${seq}`);
  }
  assert.equal(history.stateAt(9998).waiting_gates.length, 1, "the gate waits at 9998");
  assert.equal(history.stateAt(10_000).waiting_gates.length, 0);
  assert.equal(history.stateAt(20_000).seq, 10_000, "clamped to the head");
  // One snapshot and one page of 10,000; loading again fetches nothing.
  await history.load(10_000);
  assert.deepEqual(server.requests, [`/api/dags/${DAG}/history?at=0`, `/api/dags/${DAG}/events?after=0&limit=10000`]);
});

test("history: loads on from where it stopped as the run grows, and refuses a page that does not follow", async () => {
  const events = longRun(600);
  const served = events.slice(0, 300);
  const server = fakeServer(served);
  const history = new RunHistory(DAG, server.fetchText);
  await history.load(600);
  assert.equal(history.loadedSeq, 300, "stops at the head");
  served.push(...events.slice(300));
  await history.load(450);
  assert.equal(history.loadedSeq, 600);
  assert.equal(server.requests.at(-1), `/api/dags/${DAG}/events?after=300&limit=10000`);
  assert.equal(history.stateAt(598).waiting_gates[0]?.node_id, "gate");

  const other = new RunHistory(DAG, async (path) => path.includes("history")
    ? JSON.stringify(emptySnapshot)
    : JSON.stringify({ dag_id: DAG, epoch: EPOCH, head: 3, events: [events[0], events[2]] }));
  await assert.rejects(other.load(3), /does not follow/);
  assert.equal(other.loadedSeq, 0, "nothing kept from a bad page");
});
