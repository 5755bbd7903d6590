// The JS client in Node (Debian's `ws`) against a real `eddy demo`, SIGKILLed mid-run and
// restarted on the same port and event log: the client reconnects, resumes from its last
// seq (a replay, not a new snapshot) and converges to the server's snapshot of the run.
import { test, after } from "node:test";
import assert from "node:assert/strict";
import { spawn } from "node:child_process";
import { existsSync, mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { randomBytes } from "node:crypto";
import WebSocket from "ws";
import { DAGStreamClient, DAGRunsClient } from "../dist/eddy-dag-client.js";
import { repoRoot } from "./helpers.mjs";

const eddy = process.env.EDDY_BIN || join(repoRoot, ".build", "debug", "eddy");
const dir = mkdtempSync(join(tmpdir(), "eddy-web-client-"));
const db = join(dir, "events.sqlite");
const operatorToken = "op-" + randomBytes(12).toString("hex");
const servers = new Set();
const clients = [];

after(async () => {
  for (const client of clients) client.close();
  for (const server of servers) await stop(server, "SIGTERM");
  rmSync(dir, { recursive: true, force: true });
});

/** Starts `eddy demo` on `port` (0: any) and resolves with the process and its port. */
function startEddy(port) {
  const child = spawn(eddy, ["demo", "--port", String(port), "--db", db, "--gate-timeout", "600"], {
    env: { ...process.env, EDDY_OPERATOR_TOKEN: operatorToken, EDDY_VIEWER_TOKEN: "view-" + randomBytes(12).toString("hex") },
    stdio: ["ignore", "pipe", "pipe"],
  });
  servers.add(child);
  child.on("exit", () => servers.delete(child));
  let output = "";
  let errors = "";
  child.stderr.on("data", (chunk) => { errors += chunk; });
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`eddy did not print LISTENING within 60 s: ${errors}`)), 60_000);
    child.stdout.on("data", (chunk) => {
      output += chunk;
      const match = /^LISTENING (\d+)$/m.exec(output);
      if (match) {
        clearTimeout(timer);
        resolve({ child, port: Number(match[1]) });
      }
    });
    child.on("exit", (code, signal) => {
      clearTimeout(timer);
      reject(new Error(`eddy exited (${code ?? signal}) before listening: ${errors}`));
    });
  });
}

/** Sends `signal` to a server this test started, and waits (bounded) for it to exit. */
function stop(child, signal) {
  if (child.exitCode !== null || child.signalCode !== null) return Promise.resolve();
  return new Promise((resolve) => {
    const timer = setTimeout(() => { child.kill("SIGKILL"); }, 10_000);
    child.once("exit", () => { clearTimeout(timer); resolve(); });
    child.kill(signal);
  });
}

/** Resolves once `predicate()` holds, checked on every change of `client` (bounded). */
function until(client, predicate, what, ms = 90_000) {
  return new Promise((resolve, reject) => {
    if (predicate()) return resolve();
    const timer = setTimeout(() => {
      unsubscribe();
      reject(new Error(`timed out waiting for ${what}; connection ${JSON.stringify(client.getConnection())}, state seq ${client.getState()?.seq}`));
    }, ms);
    const unsubscribe = client.subscribe(() => {
      if (!predicate()) return;
      clearTimeout(timer);
      unsubscribe();
      resolve();
    });
  });
}

function connect(ClientType, ...args) {
  const client = new ClientType(...args).start();
  clients.push(client);
  return client;
}

test("a client survives a SIGKILL and restart of eddy and converges to the server's snapshot", { timeout: 300_000 }, async () => {
  assert.ok(existsSync(eddy), `no eddy binary at ${eddy}: run 'swift build --product eddy' (make test does)`);
  const first = await startEddy(0);
  const options = { serverUrl: `ws://127.0.0.1:${first.port}`, token: operatorToken, WebSocket, onProtocolError: (e) => { throw e; } };

  // The lobby names the demo's run.
  const lobby = connect(DAGRunsClient, options);
  await until(lobby, () => (lobby.getState()?.runs.length ?? 0) > 0, "a run in the lobby");
  const dagId = lobby.getState().runs[0].dag_id;

  // Follow it until it is well under way, and steer it: pause, then resume.
  const client = connect(DAGStreamClient, dagId, options);
  const snapshots = [];
  client.onEvent((event) => { if (event.type === "snapshot") snapshots.push(event.seq); });
  await until(client, () => (client.getState()?.seq ?? 0) >= 8 && client.getConnection().status === "live", "seq 8");
  const paused = await client.send({ type: "pause_execution" });
  assert.equal(paused.status, "accepted", JSON.stringify(paused));
  await until(client, () => client.getState().status === "paused", "the paused state");
  assert.equal((await client.send({ type: "pause_execution" })).status, "rejected", "pausing twice is refused");
  assert.equal((await client.send({ type: "resume_execution" })).status, "accepted");
  await until(client, () => client.getState().status === "running", "running again");
  const seqBeforeKill = client.getState().seq;
  assert.equal(client.getState().results, undefined, "the run is still live");

  // SIGKILL: no close frame, no orderly shutdown.
  await stop(first.child, "SIGKILL");
  await until(client, () => client.getConnection().status === "waiting", "the client to notice");
  await assert.rejects(client.send({ type: "cancel_execution" }), (error) => error.code === "offline");

  // Same port, same event log: the run the crash left live is marked interrupted.
  await startEddy(first.port);
  await until(client, () => client.getState()?.status === "interrupted", "the interrupted run");
  assert.ok(client.getState().seq > seqBeforeKill);
  assert.deepEqual(snapshots.length, 1, "resumed by replay from its last seq, not by a new snapshot");
  assert.equal(client.getResync().by, "replay");
  assert.ok(client.getResync().seq >= seqBeforeKill && client.getResync().connection >= 2, JSON.stringify(client.getResync()));

  // A fresh connection's snapshot is the server's state: the client's equals it.
  const fresh = connect(DAGStreamClient, dagId, options);
  await until(fresh, () => fresh.getState() !== null, "a fresh snapshot");
  await until(client, () => client.getState().seq === fresh.getState().seq, "the same seq");
  assert.deepEqual(client.getState(), fresh.getState());
  assert.ok(client.getState().nodes.length > 3, "the graph includes the planner's mutation");
});
