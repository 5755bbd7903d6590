import { defaultBackoff, type BackoffPolicy } from "./backoff.js";
import type { LinkSettings, ConnectionState } from "./link.js";
import {
  hostServerUrl, hostSignals, hostWebSocket, systemClock,
  type BrowserSignals, type Clock, type WebSocketConstructor,
} from "./transport.js";

/**
 * How a client connects. Everything is optional in a browser page served by Eddy; in Node,
 * give `serverUrl` and `WebSocket` (Debian's `ws` module: `import WebSocket from "ws"`).
 */
export interface ConnectionOptions {
  /** `ws://host:port` or `wss://host`; default: the page's own host. */
  readonly serverUrl?: string;
  /** A viewer or operator token. Sent as the `token.<t>` subprotocol (never in the URL)
   * when it is made of token characters; otherwise, as browsers refuse such a subprotocol,
   * as `?token=`. */
  readonly token?: string;
  /** The WebSocket constructor; default: the host's `WebSocket`. */
  readonly WebSocket?: WebSocketConstructor;
  /** The server's heartbeat interval (`DAGStreamConfiguration.heartbeatInterval`), default 15000 ms. */
  readonly heartbeatIntervalMs?: number;
  /** Heartbeats that may be missed before the link counts as dead, default 2 (dead after
   * `heartbeatIntervalMs × (missedHeartbeats + 0.5)` of silence: 37.5 s by default). */
  readonly missedHeartbeats?: number;
  /** Time allowed for a socket to open, default 10000 ms. */
  readonly connectTimeoutMs?: number;
  /** Reconnect timing; defaults: base 1 s, cap 30 s, stable after 10 s. */
  readonly backoff?: Partial<BackoffPolicy>;
  /** Time source, default the host's; tests inject a manual clock. */
  readonly clock?: Clock;
  /** Uniform random numbers in [0, 1) for the jitter, default `Math.random`. */
  readonly random?: () => number;
  /** Browser signals, default the page's `window` and `document` (none in Node). */
  readonly signals?: BrowserSignals;
  /** Told about every message that could not be decoded (it is skipped); default `console.warn`. */
  readonly onProtocolError?: (error: Error, text: string) => void;
}

/** Characters allowed in a subprotocol name (an RFC 7230 token). */
const TOKEN_CHARACTERS = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;

/** The subprotocols offered, and the URL query carrying the token when it cannot be one. */
export function tokenPlacement(token: string | undefined): { protocols: string[]; query: string[] } {
  if (token === undefined || token === "") return { protocols: ["eddy.dag.v1"], query: [] };
  if (TOKEN_CHARACTERS.test(token)) return { protocols: ["eddy.dag.v1", `token.${token}`], query: [] };
  return { protocols: ["eddy.dag.v1"], query: [`token=${encodeURIComponent(token)}`] };
}

/** `url` with `query` parts appended. */
export function withQuery(url: string, query: readonly string[]): string {
  return query.length === 0 ? url : `${url}${url.includes("?") ? "&" : "?"}${query.join("&")}`;
}

/** The server URL without a trailing slash, or an error saying what to pass. */
export function resolveServerUrl(options: ConnectionOptions): string {
  const url = options.serverUrl ?? hostServerUrl();
  if (url === undefined) throw new Error("serverUrl is required outside a browser page (ws://host:port)");
  return url.replace(/\/+$/, "");
}

/** Link settings from `options`, with the defaults filled in. */
export function linkSettings(
  options: ConnectionOptions,
  parts: Pick<LinkSettings, "url" | "protocols" | "onOpen" | "onText" | "onDown" | "onConnection">,
): LinkSettings {
  const WebSocket = options.WebSocket ?? hostWebSocket();
  if (WebSocket === undefined) throw new Error("no WebSocket on this host: pass options.WebSocket (in Node: the `ws` module)");
  const interval = options.heartbeatIntervalMs ?? 15_000;
  return {
    ...parts,
    WebSocket,
    clock: options.clock ?? systemClock,
    random: options.random ?? Math.random,
    backoff: { ...defaultBackoff, ...options.backoff },
    deadAfterMs: interval * ((options.missedHeartbeats ?? 2) + 0.5),
    connectTimeoutMs: options.connectTimeoutMs ?? 10_000,
    signals: options.signals ?? hostSignals(),
  };
}

/** The default protocol-error report. */
export function warnProtocolError(error: Error, text: string): void {
  console.warn(`eddy: skipped a message that does not match the protocol: ${error.message}: ${text.slice(0, 200)}`);
}

/** A set of change listeners. */
export class Listeners<T extends unknown[]> {
  private readonly listeners = new Set<(...args: T) => void>();

  add(listener: (...args: T) => void): () => void {
    // Wrapped, so that the same function subscribed twice is two subscriptions.
    const entry = (...args: T) => listener(...args);
    this.listeners.add(entry);
    return () => { this.listeners.delete(entry); };
  }

  emit(...args: T): void {
    for (const listener of [...this.listeners]) listener(...args);
  }
}

export type { ConnectionState };
