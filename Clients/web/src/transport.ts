// What the client needs from its surroundings, as small interfaces: a WebSocket
// constructor, a clock and the browser's online/visibility signals. Browsers provide all
// three; in Node, pass `WebSocket` from Debian's `ws` module. Tests inject fakes.

/**
 * The part of the WebSocket API the client uses. Browsers' `WebSocket` and the `ws` module
 * (version 8) both provide it. Text frames arrive as strings in `data`.
 */
export interface WebSocketLike {
  readonly readyState: number;
  onopen: ((event: unknown) => void) | null;
  onmessage: ((event: { readonly data: unknown }) => void) | null;
  onclose: ((event: { readonly code?: number; readonly reason?: string }) => void) | null;
  onerror: ((event: unknown) => void) | null;
  send(data: string): void;
  close(code?: number, reason?: string): void;
}

/** `new WebSocket(url, protocols)`. */
export type WebSocketConstructor = new (url: string, protocols?: string | string[]) => WebSocketLike;

/** Timers and the current time, in milliseconds; injectable so tests control time. */
export interface Clock {
  now(): number;
  setTimeout(callback: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

/** The host's clock (`Date.now`, `setTimeout`). */
export const systemClock: Clock = {
  now: () => Date.now(),
  setTimeout: (callback, ms) => globalThis.setTimeout(callback, ms),
  // The handle is whatever setTimeout returned on this host (a number or a Node Timeout).
  clearTimeout: (handle) => globalThis.clearTimeout(handle as Parameters<typeof clearTimeout>[0]),
};

/** Something events can be listened to on (`window`, `document`). */
export interface EventSource {
  addEventListener(type: string, listener: () => void): void;
  removeEventListener(type: string, listener: () => void): void;
}

/**
 * Where the browser says the network came back (`online` on `window`) and the tab became
 * visible again (`visibilitychange` on `document`). Both optional: Node has neither.
 */
export interface BrowserSignals {
  readonly window?: EventSource;
  readonly document?: EventSource & { readonly visibilityState: string };
}

/** The signals of the page this runs in, or none outside a browser. */
export function hostSignals(): BrowserSignals {
  // Narrowed to what is used; each is checked before use.
  const host = globalThis as { window?: EventSource; document?: EventSource & { visibilityState: string } };
  const signals: { window?: EventSource; document?: EventSource & { visibilityState: string } } = {};
  if (host.window !== undefined && typeof host.window.addEventListener === "function") signals.window = host.window;
  if (host.document !== undefined && typeof host.document.addEventListener === "function") signals.document = host.document;
  return signals;
}

/** The host's WebSocket constructor, or undefined (Node 20 has none: inject `ws`). */
export function hostWebSocket(): WebSocketConstructor | undefined {
  // The DOM's WebSocket has richer handler types than WebSocketLike; it does provide it.
  const constructor = (globalThis as { WebSocket?: unknown }).WebSocket;
  return typeof constructor === "function" ? (constructor as WebSocketConstructor) : undefined;
}

/** `ws://host` or `wss://host` of the page this runs in, or undefined outside a browser. */
export function hostServerUrl(): string | undefined {
  // Present in browsers only; checked before use.
  const location = (globalThis as { location?: { protocol: string; host: string } }).location;
  if (location === undefined || !location.host) return undefined;
  return `${location.protocol === "https:" ? "wss:" : "ws:"}//${location.host}`;
}
