// The hooks with Debian's react-test-renderer: shared connections, stable snapshots, unmount
// closes. (StrictMode's double mount itself is in strictmode.test.mjs: this renderer's 18.1
// build does not double-invoke effects.)
import { test, beforeEach } from "node:test";
import assert from "node:assert/strict";
import React from "react";
import TestRenderer from "react-test-renderer";
import { useDAGStream, useDAGRuns, sharedStreams, sharedLobbies } from "../dist/eddy-dag-react.js";
import { FakeWebSocket, ManualClock, fixture, envelope } from "./helpers.mjs";

globalThis.IS_REACT_ACT_ENVIRONMENT = true;
const { act } = TestRenderer;
const h = React.createElement;

beforeEach(() => FakeWebSocket.reset());

/** Renders `element` in StrictMode on a concurrent root (where StrictMode double-mounts). */
function render(element) {
  let renderer;
  act(() => {
    renderer = TestRenderer.create(h(React.StrictMode, null, element), { unstable_isConcurrent: true });
  });
  return renderer;
}

test("two components on one run share one connection; stable snapshots; unmount closes it", () => {
  const clock = new ManualClock();
  const options = { serverUrl: "ws://eddy.test", token: "op", WebSocket: FakeWebSocket, clock, signals: {} };
  let mounts = 0;
  const views = [];
  function Run() {
    const view = useDAGStream("run-42", options);
    views.push(view);
    React.useEffect(() => { mounts++; }, []);
    return view.state === null ? "no state" : `seq ${view.state.seq} · ${view.connection.status}`;
  }
  const renderer = render(h(React.Fragment, null, h(Run), h(Run)));
  assert.equal(mounts, 2);
  assert.equal(FakeWebSocket.instances.length, 1, "one connection for both components");
  assert.equal(sharedStreams.size, 1);
  assert.deepEqual(FakeWebSocket.last.protocols, ["eddy.dag.v1", "token.op"]);

  act(() => FakeWebSocket.last.open());
  act(() => FakeWebSocket.last.receive(fixture("server.snapshot.json")));
  assert.deepEqual(renderer.toJSON(), ["seq 14 · live", "seq 14 · live"]);
  assert.deepEqual(views[views.length - 1].resync, { seq: 14, by: "snapshot", connection: 1, at: 0 });

  // Stable snapshots: a heartbeat renders nothing new, and the view object is the same.
  const last = views[views.length - 1];
  const rendersBefore = views.length;
  act(() => FakeWebSocket.last.receive(envelope("heartbeat", 14)));
  assert.equal(views.length, rendersBefore, "a heartbeat does not re-render");
  act(() => FakeWebSocket.last.receive(envelope("edge_active", 15, { from: "review", to: "publish" })));
  assert.deepEqual(renderer.toJSON(), ["seq 15 · live", "seq 15 · live"]);
  assert.notEqual(views[views.length - 1].state, last.state);
  assert.equal(views[views.length - 1].send, last.send, "send is stable");

  act(() => renderer.unmount());
  assert.equal(FakeWebSocket.last.closedByClient, null, "the close is deferred (a remount may follow)");
  act(() => clock.advance(1000));
  assert.ok(FakeWebSocket.last.closedByClient, "closed after the last user left");
  assert.equal(sharedStreams.size, 0);
  assert.equal(FakeWebSocket.instances.length, 1, "never reconnected");
});

test("send from the hook goes through the shared client and resolves on the result", async () => {
  const clock = new ManualClock();
  const options = { serverUrl: "ws://eddy.test", WebSocket: FakeWebSocket, clock, signals: {}, newCommandId: () => "cmd-9" };
  let view;
  function Run() {
    view = useDAGStream("run-42", options);
    return null;
  }
  const renderer = render(h(Run));
  await assert.rejects(view.send({ type: "pause_execution" }), (e) => e.code === "offline");
  act(() => FakeWebSocket.last.open());
  const result = view.send({ type: "pause_execution" });
  assert.deepEqual(FakeWebSocket.last.sentJSON, [{ v: 1, type: "pause_execution", command_id: "cmd-9" }]);
  act(() => FakeWebSocket.last.receive(envelope("command_result", 14, { command_id: "cmd-9", status: "accepted" })));
  assert.equal((await result).status, "accepted");
  act(() => renderer.unmount());
  act(() => clock.advance(1000));
});

test("changing the dag id moves to the other run's connection; null means none", () => {
  const clock = new ManualClock();
  const options = { serverUrl: "ws://eddy.test", WebSocket: FakeWebSocket, clock, signals: {} };
  let view;
  function Run({ id }) {
    view = useDAGStream(id, options);
    return null;
  }
  const renderer = render(h(Run, { id: null }));
  assert.equal(FakeWebSocket.instances.length, 0);
  assert.equal(view.connection.status, "idle");
  act(() => renderer.update(h(React.StrictMode, null, h(Run, { id: "run-1" }))));
  act(() => renderer.update(h(React.StrictMode, null, h(Run, { id: "run-2" }))));
  act(() => clock.advance(1000));
  assert.deepEqual(FakeWebSocket.instances.map((s) => s.url.split("/")[5]), ["run-1", "run-2"]);
  assert.ok(FakeWebSocket.instances[0].closedByClient, "the first run's connection closed");
  assert.equal(FakeWebSocket.instances[1].closedByClient, null);
  act(() => renderer.unmount());
  act(() => clock.advance(1000));
  assert.equal(sharedStreams.size, 0);
});

test("useDAGRuns follows the lobby over one connection", () => {
  const clock = new ManualClock();
  const options = { serverUrl: "ws://eddy.test", WebSocket: FakeWebSocket, clock, signals: {} };
  function Runs() {
    const { state } = useDAGRuns(options);
    return state === null ? "…" : state.runs.map((run) => `${run.dag_id}:${run.status}`).join(" ");
  }
  const renderer = render(h(React.Fragment, null, h(Runs), h(Runs)));
  assert.equal(FakeWebSocket.instances.length, 1);
  assert.equal(FakeWebSocket.last.url, "ws://eddy.test/api/dags/stream");
  act(() => FakeWebSocket.last.open());
  act(() => FakeWebSocket.last.receive(fixture("lobby.runs.json")));
  act(() => FakeWebSocket.last.receive(fixture("lobby.run_removed.json")));
  assert.deepEqual(renderer.toJSON(), ["run-42:paused run-7:null", "run-42:paused run-7:null"]);
  act(() => renderer.unmount());
  act(() => clock.advance(1000));
  assert.equal(sharedLobbies.size, 0);
  assert.ok(FakeWebSocket.last.closedByClient);
});
