// StrictMode's double mount, for real: react-dom's createRoot on a jsdom document (Debian's
// react-test-renderer 18.1 is built without StrictMode's double effects, so it cannot show it).
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { JSDOM } from "jsdom";
import { FakeWebSocket, ManualClock, fixture } from "./helpers.mjs";

const dom = new JSDOM("<!doctype html><div id=root></div>");
globalThis.window = dom.window;
globalThis.document = dom.window.document;
if (globalThis.navigator === undefined) globalThis.navigator = dom.window.navigator; // Node 20 has none
globalThis.IS_REACT_ACT_ENVIRONMENT = true;
// react-dom looks for a DOM when it is loaded: import it after the globals exist.
const React = (await import("react")).default;
const { createRoot } = await import("react-dom/client");
const { act } = await import("react-dom/test-utils");
const { useDAGStream, sharedStreams } = await import("../dist/eddy-dag-react.js");
const h = React.createElement;
after(() => dom.window.close());

test("StrictMode's double mount opens exactly one connection; unmount closes it", () => {
  const clock = new ManualClock();
  const options = { serverUrl: "ws://eddy.test", token: "op", WebSocket: FakeWebSocket, clock, signals: {} };
  let mounts = 0;
  let unmounts = 0;
  function Run() {
    const { state, connection } = useDAGStream("run-42", options);
    React.useEffect(() => {
      mounts++;
      return () => { unmounts++; };
    }, []);
    return h("p", null, state === null ? "no state" : `seq ${state.seq} · ${connection.status}`);
  }
  const container = document.getElementById("root");
  const root = createRoot(container);
  act(() => root.render(h(React.StrictMode, null, h(Run), h(Run))));
  assert.equal(mounts, 4, "StrictMode mounted each component twice");
  assert.equal(unmounts, 2, "…and unmounted each once in between");
  assert.equal(FakeWebSocket.instances.length, 1, "one connection for both components, double mount included");
  assert.equal(sharedStreams.size, 1);
  assert.equal(FakeWebSocket.last.closedByClient, null);

  act(() => FakeWebSocket.last.open());
  act(() => FakeWebSocket.last.receive(fixture("server.snapshot.json")));
  assert.equal(container.textContent, "seq 14 · liveseq 14 · live");

  act(() => root.unmount());
  assert.equal(FakeWebSocket.last.closedByClient, null, "the close is deferred (a remount may follow)");
  act(() => clock.advance(1000));
  assert.ok(FakeWebSocket.last.closedByClient, "closed after the last user left");
  assert.equal(sharedStreams.size, 0);
  assert.equal(FakeWebSocket.instances.length, 1, "never reconnected");
});
