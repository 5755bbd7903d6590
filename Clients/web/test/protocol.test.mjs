// The decoders against the same golden fixtures as the Swift tests (Tests/Fixtures/protocol).
import { test } from "node:test";
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import {
  decodeServerEvent, decodeLobbyMessage, decodeClientCommand, encodeCommand, ProtocolError,
  NODE_STATUSES, EXECUTION_STATUSES,
} from "../dist/eddy-dag-client.js";
import { fixtures, fixturesDir, repoRoot, envelope } from "./helpers.mjs";

test("every valid server fixture decodes and re-encodes byte for byte", () => {
  const all = fixtures("server.");
  assert.ok(all.length >= 20, `expected the server fixtures, found ${all.length}`);
  for (const [name, text] of all) {
    const event = decodeServerEvent(text);
    assert.equal(JSON.stringify(event), text, name);
  }
});

test("every server message type of the schema has a fixture the decoder accepts", () => {
  const schema = JSON.parse(readFileSync(join(repoRoot, "docs", "protocol.schema.json"), "utf8"));
  const types = schema.$defs.ServerMessage.oneOf.map((ref) => schema.$defs[ref.$ref.split("/").pop()].properties.type.const);
  const decoded = new Set(fixtures("server.").map(([, text]) => decodeServerEvent(text).type));
  assert.deepEqual([...decoded].sort(), [...types].sort());
});

test("the decoder's enums are the schema's", () => {
  const schema = JSON.parse(readFileSync(join(repoRoot, "docs", "protocol.schema.json"), "utf8"));
  assert.deepEqual([...NODE_STATUSES], schema.$defs.NodeStatus.enum);
  assert.deepEqual([...EXECUTION_STATUSES], schema.$defs.ExecutionStatus.enum);
});

test("every valid lobby fixture decodes and re-encodes byte for byte", () => {
  const all = fixtures("lobby.");
  assert.ok(all.length >= 5);
  for (const [name, text] of all) assert.equal(JSON.stringify(decodeLobbyMessage(text)), text, name);
});

test("every valid client fixture decodes, and encodeCommand spells it exactly", () => {
  const all = fixtures("client.");
  assert.ok(all.length >= 5);
  for (const [name, text] of all) {
    const command = decodeClientCommand(text);
    assert.equal(encodeCommand(command), text, name);
  }
});

test("every invalid fixture is refused with an error naming the field", () => {
  const expected = {
    "client.bad_decision.json": /^decision: "maybe" is not one of approve, reject, modify$/,
    "client.missing_command_id.json": /^command_id: missing$/,
    "client.unknown_type.json": /^type: unknown command type "launch_missiles"$/,
    "client.wrong_version.json": /^v: unsupported protocol version 2/,
    "lobby.run_started.missing_run.json": /^run: missing$/,
    "lobby.runs.bad_status.json": /^runs\[0\]\.status: "exploded" is not one of running/,
  };
  const all = fixtures("", join(fixturesDir, "invalid"));
  assert.deepEqual(all.map(([name]) => name), Object.keys(expected).sort());
  for (const [name, text] of all) {
    const decode = name.startsWith("lobby.") ? decodeLobbyMessage : decodeClientCommand;
    assert.throws(() => decode(text), (error) => error instanceof ProtocolError && expected[name].test(error.message), name);
  }
});

/** Asserts that `decode` throws a ProtocolError whose message matches `pattern`. */
function refuses(decode, pattern) {
  assert.throws(decode, (error) => {
    assert.ok(error instanceof ProtocolError, `not a ProtocolError: ${error}`);
    assert.match(error.message, pattern);
    return true;
  });
}

test("unknown fields are ignored, a version other than 1 is refused", () => {
  const text = JSON.stringify({ ...envelope("edge_active", 3, { from: "a", to: "b" }), added_later: { x: 1 } });
  assert.deepEqual(decodeServerEvent(text), envelope("edge_active", 3, { from: "a", to: "b" }));
  refuses(() => decodeServerEvent(JSON.stringify({ ...envelope("heartbeat", 3), v: 2 })), /^v: unsupported protocol version 2/);
  refuses(() => decodeServerEvent(JSON.stringify({ type: "heartbeat", dag_id: "r", epoch: 1, seq: 1, ts: 1 })), /^v: missing$/);
});

test("malformed and mistyped server messages are refused with a clear error", () => {
  refuses(() => decodeServerEvent("{not json"), /^malformed JSON/);
  refuses(() => decodeServerEvent("[1,2]"), /expected a JSON object/);
  refuses(() => decodeServerEvent(JSON.stringify(envelope("node_state", 1, { node_id: "n", status: "exploded" }))), /^status: "exploded"/);
  refuses(() => decodeServerEvent(JSON.stringify(envelope("node_state", 1.5, { node_id: "n", status: "ready" }))), /^seq: expected an integer/);
  refuses(() => decodeServerEvent(JSON.stringify(envelope("teleport", 1))), /^type: unknown server message type "teleport"/);
  refuses(
    () => decodeServerEvent(JSON.stringify(envelope("dag_mutated", 1, { mutation: { revision: 1, added_nodes: [{ id: "a", kind: "robot" }], added_edges: [], removed_nodes: [] } }))),
    /^mutation\.added_nodes\[0\]\.kind: "robot" is not one of task, human_gate$/,
  );
  refuses(() => decodeServerEvent(JSON.stringify(envelope("cost_update", 1, { spent: 1, budget: "ten", remaining: null }))), /^budget: expected a number/);
});

test("a field named __proto__ stays data", () => {
  const text = `{"v":1,"type":"execution_complete","dag_id":"r","epoch":1,"seq":3,"ts":1,"status":"completed","results":{"__proto__":{"polluted":true},"a":1}}`;
  const event = decodeServerEvent(text);
  assert.equal(JSON.stringify(event), text);
  assert.equal(Object.getPrototypeOf(event.results), Object.prototype);
  assert.equal({}.polluted, undefined);
});
