// Eddy's DAG stream client: protocol types and decoders, the run-state and lobby reducers,
// and the reconnecting clients. Framework-agnostic; the React hooks are in eddy-dag-react.
// (TypeScript 4.8 has no `export type *`: type-only modules are re-exported with `export *`.)

export * from "./protocol/types.js";
export { decodeServerEvent, decodeLobbyMessage, decodeClientCommand, ProtocolError, NODE_STATUSES, EXECUTION_STATUSES } from "./protocol/decode.js";
export { encodeCommand } from "./protocol/encode.js";
export { applyEvent, isLogged, stateFromSnapshot, type DAGState, type ApplyOutcome, type ApplyResult } from "./store.js";
export { applyLobbyMessage, type RunsState } from "./runs.js";
export { backoffCeiling, backoffDelay, defaultBackoff, type BackoffPolicy } from "./backoff.js";
export type { ConnectionState } from "./link.js";
export type { ConnectionOptions } from "./options.js";
export { resolveServerUrl } from "./options.js";
export * from "./transport.js";
export { DAGStreamClient, DAGStreamError, randomCommandId, type CommandRequest, type DAGStreamClientOptions, type DAGStreamErrorCode, type Resync } from "./client.js";
export { DAGRunsClient } from "./runsClient.js";
export { SharedClients, type Startable } from "./shared.js";
