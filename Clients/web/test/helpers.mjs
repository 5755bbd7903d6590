// Test doubles: a manual clock, a scripted WebSocket, browser signals, and the golden fixtures.
import { readFileSync, readdirSync } from "node:fs";
import { dirname, join } from "node:path";
import { fileURLToPath } from "node:url";

export const repoRoot = join(dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
export const fixturesDir = join(repoRoot, "Tests", "Fixtures", "protocol");

/** `[name, text]` of every fixture in `dir` whose name starts with `prefix`. */
export function fixtures(prefix, dir = fixturesDir) {
  return readdirSync(dir)
    .filter((name) => name.startsWith(prefix) && name.endsWith(".json"))
    .sort()
    .map((name) => [name, readFileSync(join(dir, name), "utf8").trim()]);
}

export function fixture(name) {
  return readFileSync(join(fixturesDir, name), "utf8").trim();
}

/** A clock whose time moves only when told; timers fire in due order on `advance`. */
export class ManualClock {
  constructor() {
    this.time = 0;
    this.timers = new Map();
    this.nextId = 1;
  }
  now() { return this.time; }
  setTimeout(callback, ms) {
    const id = this.nextId++;
    this.timers.set(id, { at: this.time + Math.max(0, ms), callback, id });
    return id;
  }
  clearTimeout(id) { this.timers.delete(id); }
  /** Moves time forward by `ms`, firing every timer due on the way (bounded). */
  advance(ms) {
    const end = this.time + ms;
    for (let fired = 0; fired < 10_000; fired++) {
      const due = [...this.timers.values()].filter((t) => t.at <= end).sort((a, b) => a.at - b.at || a.id - b.id)[0];
      if (!due) break;
      this.timers.delete(due.id);
      this.time = due.at;
      due.callback();
    }
    this.time = end;
  }
  /** Moves time without firing timers (a sleeping laptop, a throttled background tab). */
  jump(ms) { this.time += ms; }
  /** The delay until the earliest pending timer, or undefined. */
  nextDelay() {
    const ats = [...this.timers.values()].map((t) => t.at);
    return ats.length ? Math.min(...ats) - this.time : undefined;
  }
}

/** A WebSocket the test drives: `open()`, `receive()`, `drop()`; records what the client sends. */
export class FakeWebSocket {
  static instances = [];
  static reset() { FakeWebSocket.instances = []; }
  static get last() { return FakeWebSocket.instances[FakeWebSocket.instances.length - 1]; }

  constructor(url, protocols) {
    this.url = url;
    this.protocols = protocols;
    this.readyState = 0;
    this.sent = [];
    this.closedByClient = null;
    this.onopen = this.onmessage = this.onclose = this.onerror = null;
    FakeWebSocket.instances.push(this);
  }
  send(data) {
    if (this.readyState !== 1) throw new Error("send on a socket that is not open");
    this.sent.push(data);
  }
  close(code, reason) {
    this.closedByClient = { code, reason };
    this.readyState = 3;
  }
  open() {
    this.readyState = 1;
    this.onopen?.({});
  }
  /** Delivers a text frame (an object is sent as its JSON). */
  receive(message) {
    this.onmessage?.({ data: typeof message === "string" ? message : JSON.stringify(message) });
  }
  /** The server (or the network) closes the connection. */
  drop(code = 1006, reason = "") {
    this.readyState = 3;
    this.onerror?.({});
    this.onclose?.({ code, reason });
  }
  get sentJSON() { return this.sent.map((text) => JSON.parse(text)); }
}

/** A fake `window` and `document`, for the `online` and `visibilitychange` signals. */
export function fakeSignals() {
  const window = new EventTarget();
  const document = new EventTarget();
  document.visibilityState = "visible";
  return {
    signals: { window, document },
    goOnline: () => window.dispatchEvent(new Event("online")),
    setVisibility: (state) => {
      document.visibilityState = state;
      document.dispatchEvent(new Event("visibilitychange"));
    },
  };
}

/** An envelope for run `run-42` in the fixtures' epoch. */
export const EPOCH = 1764230400000123;
export function envelope(type, seq, payload = {}) {
  return { v: 1, type, dag_id: "run-42", epoch: EPOCH, seq, ts: 1764230400123, ...payload };
}
