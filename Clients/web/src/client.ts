import { decodeServerEvent } from "./protocol/decode.js";
import { encodeCommand } from "./protocol/encode.js";
import type { ClientCommand, CommandResultEvent, Decision, ServerEvent } from "./protocol/types.js";
import { applyEvent, type ApplyOutcome, type DAGState } from "./store.js";
import { Link, type ConnectionState } from "./link.js";
import {
  Listeners, linkSettings, resolveServerUrl, tokenPlacement, warnProtocolError, withQuery, type ConnectionOptions,
} from "./options.js";
import { systemClock, type Clock } from "./transport.js";

/** Why a command's promise was rejected. */
export type DAGStreamErrorCode =
  /** The client was not live when `send` was called: nothing was sent. */
  | "offline"
  /** No `command_result` within the timeout; the command may or may not have been applied. */
  | "timeout"
  /** The connection dropped before the `command_result`; the command may have been applied:
   * send it again with the same `command_id` to learn its outcome (`duplicate` if it was). */
  | "connection_lost"
  /** `close()` was called. */
  | "closed"
  /** A command with this `command_id` is already waiting for its result. */
  | "pending_command_id";

/** The rejection of a command's promise; `commandId` names the command when one was made. */
export class DAGStreamError extends Error {
  override readonly name = "DAGStreamError";
  constructor(readonly code: DAGStreamErrorCode, message: string, readonly commandId?: string) {
    super(message);
  }
}

/** A command to send: `command_id` is generated unless given (give the same one to retry). */
export type CommandRequest =
  | { readonly type: "human_decision"; readonly node_id: string; readonly decision: Decision; readonly feedback?: string; readonly command_id?: string }
  | { readonly type: "pause_execution" | "resume_execution" | "cancel_execution"; readonly command_id?: string };

/**
 * How the current connection caught up with the run, for a connection indicator ("resynced
 * at seq N"): from a `snapshot` at `seq`, or by the server replaying the events after `seq`
 * (the client's last seq when it reconnected). `connection` counts connections (1: the
 * first); `at` is when (ms). Set when a connection applies its first event.
 */
export interface Resync {
  readonly seq: number;
  readonly by: "snapshot" | "replay";
  readonly connection: number;
  readonly at: number;
}

/** Options of a `DAGStreamClient`: the connection, plus the command timeout. */
export interface DAGStreamClientOptions extends ConnectionOptions {
  /** How long a command waits for its `command_result`, default 10000 ms. */
  readonly commandTimeoutMs?: number;
  /** Makes command ids; default random hex (`web-…`). */
  readonly newCommandId?: () => string;
}

interface PendingCommand {
  readonly resolve: (result: CommandResultEvent) => void;
  readonly reject: (error: DAGStreamError) => void;
  readonly timer: unknown;
}

/**
 * Follows one run's stream (`/api/dags/{dagId}/stream`) and keeps an immutable copy of its
 * state, converged with the server's. Framework-agnostic; works in browsers and in Node.
 *
 * Guarantees:
 * - `getState()` returns the same object until something changed (for `useSyncExternalStore`);
 *   snapshots replace it, logged events apply in `seq` order (see `applyEvent`).
 * - A `seq` gap, a lost connection or a silent link (missed heartbeats) reconnects with
 *   `?since=<seq>&epoch=<epoch>`: the server replays what was missed, or sends a snapshot.
 *   Reconnects back off (see `Link`); they never stop until `close()`.
 * - `send` resolves with the command's `command_result` whatever its status (`accepted`,
 *   `rejected`, `duplicate`, `conflict`) and rejects with a `DAGStreamError`: `offline` at
 *   once when not live (commands are never queued), `timeout`, `connection_lost`, `closed`.
 * - Listeners run synchronously after each change; after `close()` nothing more happens.
 */
export class DAGStreamClient {
  readonly dagId: string;
  private state: DAGState | null = null;
  private appliedSinceOpen = false;
  private connections = 0;
  private resync: Resync | null = null;
  private readonly link: Link;
  private readonly changes = new Listeners<[]>();
  private readonly events = new Listeners<[ServerEvent, ApplyOutcome]>();
  private readonly pending = new Map<string, PendingCommand>();
  private readonly commandTimeoutMs: number;
  private readonly newCommandId: () => string;
  private readonly clock: Clock;

  constructor(dagId: string, private readonly options: DAGStreamClientOptions = {}) {
    this.dagId = dagId;
    this.commandTimeoutMs = options.commandTimeoutMs ?? 10_000;
    this.newCommandId = options.newCommandId ?? randomCommandId;
    this.clock = options.clock ?? systemClock;
    const base = `${resolveServerUrl(options)}/api/dags/${encodeURIComponent(dagId)}/stream`;
    const placement = tokenPlacement(options.token);
    const report = options.onProtocolError ?? warnProtocolError;
    this.link = new Link(linkSettings(options, {
      url: () => withQuery(base, [
        ...placement.query,
        ...(this.state === null ? [] : [`since=${this.state.seq}`, `epoch=${this.state.epoch}`]),
      ]),
      protocols: placement.protocols,
      onOpen: () => {
        this.appliedSinceOpen = false;
        this.connections += 1;
      },
      onText: (text) => {
        let event: ServerEvent;
        try {
          event = decodeServerEvent(text);
        } catch (error) {
          report(error instanceof Error ? error : new Error(String(error)), text);
          return;
        }
        this.receive(event);
      },
      onDown: (reason) => this.failPending("connection_lost", `connection lost before the result (${reason})`),
      onConnection: () => this.changes.emit(),
    }));
  }

  /** Starts connecting (idempotent). */
  start(): this {
    this.link.start();
    return this;
  }

  /** Stops for good: closes the socket, rejects waiting commands (`closed`), stops timers. */
  close(): void {
    this.failPending("closed", "client closed");
    this.link.stop();
  }

  /** The run's state, or null before the first snapshot. Same object until it changes. */
  getState = (): DAGState | null => this.state;

  /** The connection's state. Same object until it changes. */
  getConnection = (): ConnectionState => this.link.connection;

  /** How the current connection caught up (null before the first event). Same object until it changes. */
  getResync = (): Resync | null => this.resync;

  /** Calls `listener` after every change of `getState()`, `getConnection()` or `getResync()`. */
  subscribe = (listener: () => void): (() => void) => this.changes.add(listener);

  /** Calls `listener` with every decoded message and what the reducer did with it. */
  onEvent(listener: (event: ServerEvent, outcome: ApplyOutcome) => void): () => void {
    return this.events.add(listener);
  }

  /**
   * Sends a command and resolves with its `command_result`. Rejects with a `DAGStreamError`
   * (`offline`, `timeout`, `connection_lost`, `closed`, `pending_command_id`); see the type.
   */
  send = (request: CommandRequest): Promise<CommandResultEvent> => {
    const commandId = request.command_id ?? this.newCommandId();
    const command: ClientCommand = request.type === "human_decision"
      ? { ...request, command_id: commandId }
      : { type: request.type, command_id: commandId };
    if (this.pending.has(commandId)) {
      return Promise.reject(new DAGStreamError("pending_command_id", `command ${commandId} is already waiting for its result`, commandId));
    }
    const connection = this.link.connection;
    if (connection.status !== "live") {
      return Promise.reject(new DAGStreamError("offline", `not connected (${connection.status}): command not sent`, commandId));
    }
    return new Promise<CommandResultEvent>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        this.pending.delete(commandId);
        reject(new DAGStreamError("timeout", `no result for command ${commandId} within ${this.commandTimeoutMs} ms`, commandId));
      }, this.commandTimeoutMs);
      this.pending.set(commandId, { resolve, reject, timer });
      if (!this.link.send(encodeCommand(command))) {
        this.settle(commandId)?.reject(new DAGStreamError("offline", "not connected: command not sent", commandId));
      }
    });
  };

  private receive(event: ServerEvent): void {
    if (event.type === "command_result") this.settle(event.command_id)?.resolve(event);
    const { state, outcome } = applyEvent(this.state, event);
    if (outcome.kind === "gap") {
      // Resubscribe from our last seq; at once, unless this connection brought nothing yet.
      this.link.reconnect(`seq gap: expected ${outcome.expected}, received ${outcome.received}`, this.appliedSinceOpen);
    }
    if (state !== this.state) {
      if (!this.appliedSinceOpen) {
        const by = event.type === "snapshot" ? "snapshot" : "replay";
        const seq = by === "snapshot" ? event.seq : event.seq - 1;
        this.resync = { seq, by, connection: this.connections, at: this.clock.now() };
      }
      this.state = state;
      this.appliedSinceOpen = true;
      this.changes.emit();
    }
    this.events.emit(event, outcome);
  }

  /** Removes a waiting command and stops its timer; returns it, if it was waiting. */
  private settle(commandId: string): PendingCommand | undefined {
    const pending = this.pending.get(commandId);
    if (pending === undefined) return undefined;
    this.pending.delete(commandId);
    this.clock.clearTimeout(pending.timer);
    return pending;
  }

  private failPending(code: DAGStreamErrorCode, message: string): void {
    for (const commandId of [...this.pending.keys()]) {
      this.settle(commandId)?.reject(new DAGStreamError(code, `command ${commandId}: ${message}`, commandId));
    }
  }
}

let commandCounter = 0;

/** `web-` + 128 random bits in hex (a counter and Math.random where there is no crypto). */
export function randomCommandId(): string {
  // Web Crypto where the host has it (browsers, Node 20); checked before use.
  const crypto = (globalThis as { crypto?: { getRandomValues?: (array: Uint8Array) => Uint8Array } }).crypto;
  if (crypto?.getRandomValues !== undefined) {
    const bytes = crypto.getRandomValues(new Uint8Array(16));
    return "web-" + Array.from(bytes, (byte) => byte.toString(16).padStart(2, "0")).join("");
  }
  commandCounter += 1;
  return `web-${commandCounter}-${Math.random().toString(16).slice(2)}`;
}
