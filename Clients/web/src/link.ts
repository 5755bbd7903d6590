import { backoffDelay, type BackoffPolicy } from "./backoff.js";
import type { BrowserSignals, Clock, EventSource, WebSocketConstructor, WebSocketLike } from "./transport.js";

/**
 * The state of a client's connection, for a connection indicator.
 * - `idle`: not started; `closed`: stopped for good (`close()`).
 * - `connecting`: a socket is opening (`attempt` failures before it).
 * - `live`: open since `since` (ms); commands may be sent.
 * - `waiting`: down because of `reason`; the next attempt is at `retryAt` (ms).
 */
export type ConnectionState =
  | { readonly status: "idle" }
  | { readonly status: "connecting"; readonly attempt: number }
  | { readonly status: "live"; readonly since: number }
  | { readonly status: "waiting"; readonly attempt: number; readonly retryAt: number; readonly reason: string }
  | { readonly status: "closed" };

/** What a `Link` needs; see `ConnectionOptions` for the public meaning of each. */
export interface LinkSettings {
  readonly url: () => string;
  readonly protocols: readonly string[];
  readonly WebSocket: WebSocketConstructor;
  readonly clock: Clock;
  readonly random: () => number;
  readonly backoff: BackoffPolicy;
  /** No message for this long (heartbeats included) means the link is dead. */
  readonly deadAfterMs: number;
  readonly connectTimeoutMs: number;
  readonly signals: BrowserSignals;
  readonly onOpen: () => void;
  readonly onText: (text: string) => void;
  /** The socket went away (before the next attempt is scheduled). */
  readonly onDown: (reason: string) => void;
  readonly onConnection: (state: ConnectionState) => void;
}

const OPEN = 1;

/**
 * One logical connection that stays up: a WebSocket, replaced after every loss. Guarantees:
 * - at most one socket at a time; events of a socket it gave up on are ignored;
 * - after a loss, retries after `backoffDelay(n)` for the n-th consecutive failure, reset
 *   once a connection stayed open `stableAfterMs`; unlimited attempts until `stop()`;
 * - a socket silent for `deadAfterMs` is given up (the server sends heartbeats);
 * - the browser's `online` event, or the tab becoming visible, retries at once when down,
 *   and a visible tab whose link has been silent too long reconnects at once;
 * - after `stop()` nothing is scheduled and no callback runs.
 */
export class Link {
  private socket: WebSocketLike | null = null;
  private failures = 0;
  private retryTimer: unknown = null;
  private watchdog: unknown = null;
  private stableTimer: unknown = null;
  private lastHeard = 0;
  private state: ConnectionState = { status: "idle" };

  constructor(private readonly settings: LinkSettings) {}

  get connection(): ConnectionState {
    return this.state;
  }

  start(): void {
    if (this.state.status !== "idle") return;
    this.listen(this.settings.signals.window, "online", this.onOnline);
    this.listen(this.settings.signals.document, "visibilitychange", this.onVisibility);
    this.connectNow();
  }

  stop(): void {
    if (this.state.status === "closed") return;
    this.unlisten(this.settings.signals.window, "online", this.onOnline);
    this.unlisten(this.settings.signals.document, "visibilitychange", this.onVisibility);
    this.clearTimers();
    this.clear("retryTimer");
    this.abandon(1000, "client closed");
    this.setState({ status: "closed" });
  }

  /** Sends `text` if the link is live; false otherwise (nothing is queued). */
  send(text: string): boolean {
    if (this.state.status !== "live" || this.socket === null || this.socket.readyState !== OPEN) return false;
    this.socket.send(text);
    return true;
  }

  /** Gives up the current socket and connects again: at once, or after the usual backoff. */
  reconnect(reason: string, immediately: boolean): void {
    if (this.state.status === "closed" || this.state.status === "idle") return;
    this.down(reason, immediately);
  }

  private readonly onOnline = (): void => {
    if (this.state.status === "waiting") this.connectNow();
  };

  private readonly onVisibility = (): void => {
    if (this.settings.signals.document?.visibilityState !== "visible") return;
    if (this.state.status === "waiting") {
      this.connectNow();
    } else if (this.state.status === "live" && this.settings.clock.now() - this.lastHeard > this.settings.deadAfterMs) {
      // Timers are throttled in a hidden tab: check the silence on return.
      this.down("no message while the tab was hidden", true);
    }
  };

  private connectNow(): void {
    this.clear("retryTimer");
    const attempt = this.failures;
    let socket: WebSocketLike;
    try {
      socket = new this.settings.WebSocket(this.settings.url(), [...this.settings.protocols]);
    } catch (error) {
      this.setState({ status: "connecting", attempt });
      this.down(`cannot connect: ${error instanceof Error ? error.message : String(error)}`, false);
      return;
    }
    this.socket = socket;
    this.setState({ status: "connecting", attempt });
    this.arm("watchdog", this.settings.connectTimeoutMs, () => this.down("connect timed out", false));
    socket.onerror = () => {}; // a `close` follows; `ws` would throw on an unhandled error
    socket.onopen = () => {
      if (socket !== this.socket) return;
      this.heard();
      this.arm("stableTimer", this.settings.backoff.stableAfterMs, () => { this.failures = 0; });
      this.setState({ status: "live", since: this.settings.clock.now() });
      this.settings.onOpen();
    };
    socket.onmessage = (event) => {
      if (socket !== this.socket) return;
      this.heard();
      if (typeof event.data === "string") this.settings.onText(event.data);
    };
    socket.onclose = (event) => {
      if (socket !== this.socket) return;
      this.down(`closed${event.code === undefined ? "" : ` (${event.code}${event.reason ? `: ${event.reason}` : ""})`}`, false);
    };
  }

  private heard(): void {
    this.lastHeard = this.settings.clock.now();
    this.arm("watchdog", this.settings.deadAfterMs, () => this.down("no heartbeat: link presumed dead", false));
  }

  private down(reason: string, immediately: boolean): void {
    this.clearTimers();
    this.abandon(4000, reason.slice(0, 100));
    this.settings.onDown(reason);
    if (this.state.status === "closed") return; // onDown may have stopped us
    const attempt = this.failures;
    const delay = immediately ? 0 : backoffDelay(attempt, this.settings.random, this.settings.backoff);
    if (!immediately) this.failures += 1;
    this.setState({ status: "waiting", attempt: this.failures, retryAt: this.settings.clock.now() + delay, reason });
    this.arm("retryTimer", delay, () => this.connectNow());
  }

  /** Forgets the current socket (its later events are ignored) and closes it. */
  private abandon(code: number, reason: string): void {
    const socket = this.socket;
    if (socket === null) return;
    this.socket = null;
    socket.onopen = null;
    socket.onmessage = null;
    socket.onclose = null;
    try {
      socket.close(code, reason);
    } catch {
      // Closing a socket that failed already may throw in some implementations; it is gone either way.
    }
  }

  private setState(state: ConnectionState): void {
    this.state = state;
    this.settings.onConnection(state);
  }

  private arm(timer: "watchdog" | "stableTimer" | "retryTimer", ms: number, action: () => void): void {
    this.clear(timer);
    const handle = this.settings.clock.setTimeout(() => {
      if (this[timer] !== handle) return;
      this[timer] = null;
      action();
    }, ms);
    this[timer] = handle;
  }

  private clear(timer: "watchdog" | "stableTimer" | "retryTimer"): void {
    if (this[timer] !== null) this.settings.clock.clearTimeout(this[timer]);
    this[timer] = null;
  }

  private clearTimers(): void {
    this.clear("watchdog");
    this.clear("stableTimer");
  }

  private listen(source: EventSource | undefined, type: string, listener: () => void): void {
    source?.addEventListener(type, listener);
  }

  private unlisten(source: EventSource | undefined, type: string, listener: () => void): void {
    source?.removeEventListener(type, listener);
  }
}
