import type { ClientCommand } from "./types.js";
import { assertNever } from "./types.js";

/**
 * The canonical JSON of a command: `v` first, then the documented key order, optional
 * fields omitted when absent. Guarantees: the server decodes it back to the same command.
 */
export function encodeCommand(command: ClientCommand): string {
  switch (command.type) {
    case "human_decision": {
      const { command_id, node_id, decision, feedback } = command;
      return JSON.stringify(feedback === undefined
        ? { v: 1, type: command.type, command_id, node_id, decision }
        : { v: 1, type: command.type, command_id, node_id, decision, feedback });
    }
    case "pause_execution":
    case "resume_execution":
    case "cancel_execution":
      return JSON.stringify({ v: 1, type: command.type, command_id: command.command_id });
    default:
      return assertNever(command, "command");
  }
}
