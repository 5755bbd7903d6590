import type { LobbyMessage, RunSummary } from "./protocol/types.js";
import { assertNever } from "./protocol/types.js";

/**
 * The lobby as the client holds it: every run the server knows, oldest first (the server's
 * order; runs that start later are appended). Immutable, like `DAGState`.
 */
export interface RunsState {
  readonly epoch: number;
  readonly runs: readonly RunSummary[];
}

/**
 * The lobby reducer. A `runs` listing replaces the list; `run_started` / `run_finished`
 * add the run or replace it in place; `run_removed` drops it (a run never seen is ignored);
 * messages before the first listing are ignored. Guarantees: pure, and returns the very same
 * object when nothing changed (heartbeats, removal of an unknown run).
 */
export function applyLobbyMessage(state: RunsState | null, message: LobbyMessage): RunsState | null {
  switch (message.type) {
    case "runs":
      return { epoch: message.epoch, runs: message.runs };
    case "run_started":
    case "run_finished": {
      if (state === null) return state;
      const index = state.runs.findIndex((run) => run.dag_id === message.run.dag_id);
      const runs = state.runs.slice();
      if (index < 0) runs.push(message.run);
      else runs[index] = message.run;
      return { epoch: message.epoch, runs };
    }
    case "run_removed": {
      if (state === null || !state.runs.some((run) => run.dag_id === message.dag_id)) return state;
      return { epoch: message.epoch, runs: state.runs.filter((run) => run.dag_id !== message.dag_id) };
    }
    case "heartbeat":
      return state;
    default:
      return assertNever(message, "lobby message");
  }
}
