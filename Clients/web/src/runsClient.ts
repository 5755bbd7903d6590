import { decodeLobbyMessage } from "./protocol/decode.js";
import type { LobbyMessage } from "./protocol/types.js";
import { applyLobbyMessage, type RunsState } from "./runs.js";
import { Link, type ConnectionState } from "./link.js";
import {
  Listeners, linkSettings, resolveServerUrl, tokenPlacement, warnProtocolError, withQuery, type ConnectionOptions,
} from "./options.js";

/**
 * Follows the lobby (`/api/dags/stream`): the server's list of runs, live.
 *
 * Guarantees: `getState()` is null until the first `runs` listing, then the server's list
 * (oldest first), the same object until it changes; every (re)connection starts with a fresh
 * listing that replaces the list, so nothing is missed across reconnects. Reconnects like
 * `DAGStreamClient` (same backoff, heartbeat and browser signals) until `close()`.
 */
export class DAGRunsClient {
  private state: RunsState | null = null;
  private readonly link: Link;
  private readonly changes = new Listeners<[]>();
  private readonly messages = new Listeners<[LobbyMessage]>();

  constructor(options: ConnectionOptions = {}) {
    const placement = tokenPlacement(options.token);
    const url = withQuery(`${resolveServerUrl(options)}/api/dags/stream`, placement.query);
    const report = options.onProtocolError ?? warnProtocolError;
    this.link = new Link(linkSettings(options, {
      url: () => url,
      protocols: placement.protocols,
      onOpen: () => {},
      onText: (text) => {
        let message: LobbyMessage;
        try {
          message = decodeLobbyMessage(text);
        } catch (error) {
          report(error instanceof Error ? error : new Error(String(error)), text);
          return;
        }
        const state = applyLobbyMessage(this.state, message);
        if (state !== this.state) {
          this.state = state;
          this.changes.emit();
        }
        this.messages.emit(message);
      },
      onDown: () => {},
      onConnection: () => this.changes.emit(),
    }));
  }

  /** Starts connecting (idempotent). */
  start(): this {
    this.link.start();
    return this;
  }

  /** Stops for good. */
  close(): void {
    this.link.stop();
  }

  /** The runs, or null before the first listing. Same object until it changes. */
  getState = (): RunsState | null => this.state;

  /** The connection's state. Same object until it changes. */
  getConnection = (): ConnectionState => this.link.connection;

  /** Calls `listener` after every change of `getState()` or `getConnection()`. */
  subscribe = (listener: () => void): (() => void) => this.changes.add(listener);

  /** Calls `listener` with every decoded lobby message. */
  onMessage(listener: (message: LobbyMessage) => void): () => void {
    return this.messages.add(listener);
  }
}
