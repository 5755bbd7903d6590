import { useEffect, useMemo, useReducer, useRef, useSyncExternalStore } from "react";
import {
  DAGStreamClient, DAGStreamError, type CommandRequest, type DAGStreamClientOptions, DAGRunsClient, type Resync, SharedClients, resolveServerUrl,
  type CommandResultEvent, type ConnectionOptions, type ConnectionState, type DAGState, type RunsState, type Startable,
} from "./eddy-dag-client.js";

/** Clients shared by every hook of this page, one per (server, run, token). */
// Module-level: one registry per page (per copy of this module).
export const sharedStreams = new SharedClients<DAGStreamClient>();
/** Lobby clients shared by every hook of this page, one per (server, token). */
export const sharedLobbies = new SharedClients<DAGRunsClient>();

/** What `useDAGStream` returns. */
export interface DAGStreamView {
  /** The run's state, null before the first snapshot (or without a dag id). */
  readonly state: DAGState | null;
  readonly connection: ConnectionState;
  /** How the current connection caught up ("resynced at seq N"); null before the first event. */
  readonly resync: Resync | null;
  /** Sends a command; see `DAGStreamClient.send` (rejects `offline` when not live). */
  readonly send: (request: CommandRequest) => Promise<CommandResultEvent>;
}

/** What `useDAGRuns` returns. */
export interface DAGRunsView {
  /** The server's runs, null before the first listing. */
  readonly state: RunsState | null;
  readonly connection: ConnectionState;
}

const IDLE: ConnectionState = { status: "idle" };
const noSubscription = (): (() => void) => () => {};
const nothing = (): null => null;
const idle = (): ConnectionState => IDLE;
const sendNowhere = (): Promise<CommandResultEvent> =>
  Promise.reject(new DAGStreamError("offline", "no run selected: command not sent"));

/** The client for `key`, held while the component is mounted (shared, reference-counted). */
function useShared<C extends Startable>(
  shared: SharedClients<C>, key: string | null, make: () => C, options: ConnectionOptions,
): C | null {
  const makeRef = useRef(make);
  makeRef.current = make;
  const [generation, rerender] = useReducer((count: number) => count + 1, 0);
  // Only the key decides which client is used; options are those of the first user.
  const client = useMemo(
    () => (key === null ? null : shared.peek(key, () => makeRef.current(), options.clock)),
    [shared, key, generation], // eslint-style exhaustive deps would add options: deliberately not
  );
  useEffect(() => {
    if (key === null) return undefined;
    const held = shared.acquire(key, () => makeRef.current(), options.clock);
    // The peeked client was dropped before this effect ran (a long-suspended render):
    // render again with the one now held.
    if (held !== client) rerender();
    return () => shared.release(key);
  }, [shared, key, client]);
  return client;
}

/**
 * Follows run `dagId` (null: none) and re-renders on every change.
 *
 * Guarantees: built on `useSyncExternalStore`, so `state` and `connection` are the same
 * objects until they change and tearing cannot happen; every component showing the same
 * (server, dag id, token) shares one client and one connection, StrictMode included; the
 * connection closes shortly after the last such component unmounts. Options other than
 * `serverUrl` and `token` are those of the first component that asked for this run.
 */
export function useDAGStream(dagId: string | null | undefined, options: DAGStreamClientOptions = {}): DAGStreamView {
  const key = dagId === null || dagId === undefined
    ? null
    : JSON.stringify([resolveServerUrl(options), dagId, options.token ?? ""]);
  const client = useShared(sharedStreams, key, () => new DAGStreamClient(dagId ?? "", options), options);
  const state = useSyncExternalStore(client?.subscribe ?? noSubscription, client?.getState ?? nothing, client?.getState ?? nothing);
  const connection = useSyncExternalStore(client?.subscribe ?? noSubscription, client?.getConnection ?? idle, client?.getConnection ?? idle);
  const resync = useSyncExternalStore(client?.subscribe ?? noSubscription, client?.getResync ?? nothing, client?.getResync ?? nothing);
  const send = client?.send ?? sendNowhere;
  return useMemo(() => ({ state, connection, resync, send }), [state, connection, resync, send]);
}

/**
 * Follows the server's list of runs (the lobby). Same sharing guarantees as `useDAGStream`,
 * one connection per (server, token).
 */
export function useDAGRuns(options: ConnectionOptions = {}): DAGRunsView {
  const key = JSON.stringify([resolveServerUrl(options), options.token ?? ""]);
  const client = useShared(sharedLobbies, key, () => new DAGRunsClient(options), options);
  const state = useSyncExternalStore(client?.subscribe ?? noSubscription, client?.getState ?? nothing, client?.getState ?? nothing);
  const connection = useSyncExternalStore(client?.subscribe ?? noSubscription, client?.getConnection ?? idle, client?.getConnection ?? idle);
  return useMemo(() => ({ state, connection }), [state, connection]);
}
