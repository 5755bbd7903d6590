// DAGStreamClient with a scripted WebSocket and a manual clock: tokens, deltas, seq gaps,
// backoff, heartbeats, browser signals, commands.
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import { DAGStreamClient, DAGRunsClient, DAGStreamError, backoffCeiling } from "../dist/eddy-dag-client.js";
import { FakeWebSocket, ManualClock, fakeSignals, fixture, envelope, EPOCH } from "./helpers.mjs";

beforeEach(() => FakeWebSocket.reset());

function makeClient(extra = {}) {
  const clock = new ManualClock();
  const browser = fakeSignals();
  let ids = 0;
  const client = new DAGStreamClient("run-42", {
    serverUrl: "ws://eddy.test:8080/", token: "secret-1", WebSocket: FakeWebSocket, clock, random: () => 0.5,
    signals: browser.signals, newCommandId: () => `cmd-${++ids}`, onProtocolError: () => {}, ...extra,
  });
  return { client, clock, browser };
}

const snapshot = JSON.parse(fixture("server.snapshot.json")); // seq 14
const edge = (seq) => envelope("edge_active", seq, { from: "review", to: "publish" });

test("connects with the token as a subprotocol, never in the URL", () => {
  const { client } = makeClient();
  assert.equal(FakeWebSocket.instances.length, 0, "nothing before start()");
  client.start();
  assert.equal(FakeWebSocket.instances.length, 1);
  assert.equal(FakeWebSocket.last.url, "ws://eddy.test:8080/api/dags/run-42/stream");
  assert.deepEqual(FakeWebSocket.last.protocols, ["eddy.dag.v1", "token.secret-1"]);
  assert.deepEqual(client.getConnection(), { status: "connecting", attempt: 0 });
  client.close();
});

test("a token a browser would refuse as a subprotocol goes in the query instead", () => {
  const { client } = makeClient({ token: "a b/c" });
  client.start();
  assert.equal(FakeWebSocket.last.url, "ws://eddy.test:8080/api/dags/run-42/stream?token=a%20b%2Fc");
  assert.deepEqual(FakeWebSocket.last.protocols, ["eddy.dag.v1"]);
  client.close();
});

test("applies the snapshot and the deltas; the state object changes only when the state does", () => {
  const { client } = makeClient();
  let changes = 0;
  client.subscribe(() => changes++);
  client.start();
  const socket = FakeWebSocket.last;
  socket.open();
  assert.equal(client.getConnection().status, "live");
  assert.equal(client.getState(), null);
  socket.receive(snapshot);
  const first = client.getState();
  assert.equal(first.seq, 14);
  socket.receive(envelope("heartbeat", 14));
  socket.receive(snapshot.seq === 14 ? JSON.parse(fixture("server.gate_resolved.json")) : null); // seq 14: duplicate
  assert.equal(client.getState(), first, "heartbeat and duplicate: same object");
  const before = changes;
  socket.receive(edge(15));
  assert.equal(changes, before + 1);
  assert.equal(client.getState().seq, 15);
  assert.equal(client.getState().edges[2].active, true);
  client.close();
});

test("a seq gap resubscribes at once from the last seq and epoch, and the replay applies", () => {
  const { client, clock } = makeClient();
  client.start();
  const first = FakeWebSocket.last;
  first.open();
  first.receive(snapshot);
  assert.deepEqual(client.getResync(), { seq: 14, by: "snapshot", connection: 1, at: 0 });
  const before = client.getState();
  first.receive(edge(16)); // 15 is missing
  assert.equal(client.getState(), before, "the gap changed nothing");
  assert.ok(first.closedByClient, "the gapped socket is closed");
  clock.advance(0);
  assert.equal(FakeWebSocket.instances.length, 2);
  const second = FakeWebSocket.last;
  assert.equal(second.url, `ws://eddy.test:8080/api/dags/run-42/stream?since=14&epoch=${EPOCH}`);
  second.open();
  second.receive(envelope("cost_update", 15, { spent: 2, budget: 10, remaining: 8 }));
  second.receive(edge(16));
  assert.equal(client.getState().seq, 16);
  assert.equal(client.getState().cost.spent, 2);
  assert.deepEqual(client.getResync(), { seq: 14, by: "replay", connection: 2, at: 0 });
  first.receive(edge(17));
  assert.equal(client.getState().seq, 16, "the abandoned socket is ignored");
  client.close();
});

test("a gap as the first message of a connection backs off instead of looping", () => {
  const { client, clock } = makeClient();
  client.start();
  FakeWebSocket.last.open();
  FakeWebSocket.last.receive(snapshot);
  FakeWebSocket.last.receive(edge(16));
  clock.advance(0);
  FakeWebSocket.last.open();
  FakeWebSocket.last.receive(edge(18)); // the server still has a hole: do not hammer it
  const connection = client.getConnection();
  assert.equal(connection.status, "waiting");
  assert.ok(connection.retryAt > clock.now(), "a delay before the next attempt");
  assert.equal(FakeWebSocket.instances.length, 2);
  client.close();
});

test("reconnects back off exponentially with full jitter, capped at 30 s", () => {
  const draws = [0.5, 0.75, 0, 0.25, 0.5, 0.125, 0.5, 0.5];
  let n = 0;
  const { client, clock } = makeClient({ random: () => draws[n++ % draws.length] });
  client.start();
  const delays = [];
  for (let attempt = 0; attempt < 8; attempt++) {
    FakeWebSocket.last.drop(); // refused before opening
    const connection = client.getConnection();
    assert.equal(connection.status, "waiting");
    const delay = connection.retryAt - clock.now();
    delays.push(delay);
    const count = FakeWebSocket.instances.length;
    if (delay > 0) {
      clock.advance(delay - 1);
      assert.equal(FakeWebSocket.instances.length, count, "no attempt before the delay");
      clock.advance(1);
    } else {
      clock.advance(0);
    }
    assert.equal(FakeWebSocket.instances.length, count + 1, "an attempt at the delay");
  }
  const ceilings = [1000, 2000, 4000, 8000, 16000, 30000, 30000, 30000];
  assert.deepEqual(ceilings, [0, 1, 2, 3, 4, 5, 6, 7].map((a) => backoffCeiling(a)));
  assert.deepEqual(delays, ceilings.map((ceiling, i) => draws[i] * ceiling));
  client.close();
});

test("the backoff resets after a stable connection, not after a short one", () => {
  const { client, clock } = makeClient({ random: () => 1 - Number.EPSILON });
  client.start();
  for (let i = 0; i < 3; i++) {
    FakeWebSocket.last.drop();
    clock.advance(client.getConnection().retryAt - clock.now());
  }
  const delayAfter = () => client.getConnection().retryAt - clock.now();
  FakeWebSocket.last.open();
  clock.advance(9_000); // open, but not yet stable (10 s)
  FakeWebSocket.last.receive(envelope("heartbeat", 0));
  FakeWebSocket.last.drop();
  assert.ok(delayAfter() > 4_000, `short connection: still backing off (${delayAfter()})`);
  clock.advance(delayAfter());
  FakeWebSocket.last.open();
  clock.advance(10_000);
  FakeWebSocket.last.drop();
  assert.ok(delayAfter() <= 1_000, `stable connection: back to the base (${delayAfter()})`);
  client.close();
});

test("a link silent for two heartbeats is given up; heartbeats keep it alive", () => {
  const { client, clock } = makeClient();
  client.start();
  const socket = FakeWebSocket.last;
  socket.open();
  socket.receive(snapshot);
  for (let i = 0; i < 10; i++) {
    clock.advance(15_000);
    socket.receive(envelope("heartbeat", 14));
  }
  assert.equal(client.getConnection().status, "live");
  clock.advance(37_499);
  assert.equal(client.getConnection().status, "live");
  clock.advance(1);
  assert.equal(client.getConnection().status, "waiting");
  assert.match(client.getConnection().reason, /heartbeat/);
  assert.ok(socket.closedByClient);
  clock.advance(client.getConnection().retryAt - clock.now());
  assert.match(FakeWebSocket.last.url, /since=14&epoch=/);
  client.close();
});

test("the browser's online event retries at once", () => {
  const { client, clock, browser } = makeClient({ random: () => 0.9 });
  client.start();
  for (let i = 0; i < 5; i++) {
    FakeWebSocket.last.drop();
    clock.advance(client.getConnection().retryAt - clock.now());
  }
  FakeWebSocket.last.drop();
  assert.ok(client.getConnection().retryAt - clock.now() > 10_000);
  const count = FakeWebSocket.instances.length;
  browser.goOnline();
  assert.equal(FakeWebSocket.instances.length, count + 1);
  assert.equal(client.getConnection().status, "connecting");
  client.close();
});

test("a tab made visible after a long sleep reconnects at once", () => {
  const { client, clock, browser } = makeClient();
  client.start();
  FakeWebSocket.last.open();
  FakeWebSocket.last.receive(snapshot);
  browser.setVisibility("hidden");
  clock.jump(10 * 60_000); // timers did not run while asleep
  const count = FakeWebSocket.instances.length;
  browser.setVisibility("visible");
  clock.advance(0);
  assert.equal(FakeWebSocket.instances.length, count + 1);
  assert.match(FakeWebSocket.last.url, /since=14/);
  // A short hide does not reconnect a live link.
  FakeWebSocket.last.open();
  browser.setVisibility("hidden");
  clock.advance(1000);
  browser.setVisibility("visible");
  clock.advance(0);
  assert.equal(FakeWebSocket.instances.length, count + 1);
  // Down and waiting for a retry: becoming visible retries at once.
  FakeWebSocket.last.drop();
  assert.equal(client.getConnection().status, "waiting");
  browser.setVisibility("hidden");
  browser.setVisibility("visible");
  assert.equal(FakeWebSocket.instances.length, count + 2);
  client.close();
});

test("commands carry a command_id and resolve with their command_result, whatever its status", async () => {
  const { client } = makeClient();
  client.start();
  const socket = FakeWebSocket.last;
  socket.open();
  const pause = client.send({ type: "pause_execution" });
  const decide = client.send({ type: "human_decision", node_id: "review", decision: "modify", feedback: "Shorter" });
  assert.deepEqual(socket.sentJSON, [
    { v: 1, type: "pause_execution", command_id: "cmd-1" },
    { v: 1, type: "human_decision", command_id: "cmd-2", node_id: "review", decision: "modify", feedback: "Shorter" },
  ]);
  socket.receive(envelope("command_result", 14, { command_id: "cmd-2", status: "conflict", reason: "gate already resolved: approve" }));
  socket.receive(envelope("command_result", 15, { command_id: "cmd-1", status: "accepted" }));
  assert.equal((await decide).status, "conflict");
  assert.equal((await pause).status, "accepted");
  client.close();
});

test("a command without a result in time is rejected with `timeout`; a late result is ignored", async () => {
  const { client, clock } = makeClient({ commandTimeoutMs: 5000 });
  client.start();
  FakeWebSocket.last.open();
  const pending = client.send({ type: "cancel_execution" });
  clock.advance(5000);
  await assert.rejects(pending, (error) => error instanceof DAGStreamError && error.code === "timeout" && error.commandId === "cmd-1");
  FakeWebSocket.last.receive(envelope("command_result", 14, { command_id: "cmd-1", status: "accepted" }));
  assert.equal(client.getConnection().status, "live");
  client.close();
});

test("commands are refused while offline, and fail when the link drops or the client closes", async () => {
  const { client } = makeClient();
  await assert.rejects(client.send({ type: "pause_execution" }), (e) => e.code === "offline");
  client.start();
  await assert.rejects(client.send({ type: "pause_execution" }), (e) => e.code === "offline" && /connecting/.test(e.message));
  assert.deepEqual(FakeWebSocket.last.sent, [], "nothing sent while connecting");
  FakeWebSocket.last.open();
  const lost = client.send({ type: "pause_execution", command_id: "mine" });
  await assert.rejects(client.send({ type: "resume_execution", command_id: "mine" }), (e) => e.code === "pending_command_id");
  FakeWebSocket.last.drop();
  await assert.rejects(lost, (e) => e.code === "connection_lost" && e.commandId === "mine");
  await assert.rejects(client.send({ type: "pause_execution" }), (e) => e.code === "offline" && /waiting/.test(e.message));
  const clock = new ManualClock();
  FakeWebSocket.reset();
  const other = new DAGStreamClient("run-42", { serverUrl: "ws://x", WebSocket: FakeWebSocket, clock, signals: {} }).start();
  FakeWebSocket.last.open();
  const closing = other.send({ type: "pause_execution" });
  other.close();
  await assert.rejects(closing, (e) => e.code === "closed");
});

test("after close() nothing reconnects and no listener runs", () => {
  const { client, clock, browser } = makeClient();
  client.start();
  FakeWebSocket.last.open();
  let changes = 0;
  client.subscribe(() => changes++);
  client.close();
  assert.equal(client.getConnection().status, "closed");
  const count = FakeWebSocket.instances.length;
  const after = changes;
  browser.goOnline();
  clock.advance(120_000);
  FakeWebSocket.last.receive(snapshot);
  assert.equal(FakeWebSocket.instances.length, count);
  assert.equal(changes, after);
  assert.equal(clock.nextDelay(), undefined, "no timer left");
});

test("a message that does not match the protocol is reported and skipped", () => {
  const reports = [];
  const { client } = makeClient({ onProtocolError: (error, text) => reports.push([error.message, text]) });
  client.start();
  FakeWebSocket.last.open();
  FakeWebSocket.last.receive(snapshot);
  const state = client.getState();
  FakeWebSocket.last.receive(envelope("node_state", 15, { node_id: "fetch", status: "exploded" }));
  assert.equal(client.getState(), state);
  assert.equal(reports.length, 1);
  assert.match(reports[0][0], /^status: "exploded"/);
  client.close();
});

test("the lobby client follows the listing and replaces it on reconnect", () => {
  const clock = new ManualClock();
  const lobby = new DAGRunsClient({ serverUrl: "ws://eddy.test:8080", token: "t", WebSocket: FakeWebSocket, clock, signals: {}, random: () => 0 });
  lobby.start();
  assert.equal(FakeWebSocket.last.url, "ws://eddy.test:8080/api/dags/stream");
  assert.deepEqual(FakeWebSocket.last.protocols, ["eddy.dag.v1", "token.t"]);
  FakeWebSocket.last.open();
  FakeWebSocket.last.receive(fixture("lobby.runs.json"));
  FakeWebSocket.last.receive(fixture("lobby.run_started.json"));
  assert.deepEqual(lobby.getState().runs.map((r) => r.dag_id), ["run-41", "run-42", "run-7", "run-43"]);
  const state = lobby.getState();
  FakeWebSocket.last.receive(fixture("lobby.heartbeat.json"));
  assert.equal(lobby.getState(), state);
  FakeWebSocket.last.drop();
  clock.advance(0);
  FakeWebSocket.last.open();
  FakeWebSocket.last.receive(fixture("lobby.runs.empty.json"));
  assert.deepEqual(lobby.getState().runs, []);
  lobby.close();
});
