import type { Edge } from "../protocol/types.js";

/** Where a node is drawn: its column (dependency level) and its row within the column. */
export interface Slot {
  readonly column: number;
  readonly row: number;
}

/**
 * Lays a run's graph out by dependency level: a node's column is one more than the deepest
 * of its dependencies (roots in column 0), and it takes the next free row of that column.
 *
 * Guarantees: a node keeps the slot it was given first for the life of the layout, so nodes
 * that a `dag_mutated` adds appear without moving any node already drawn (a late node lands
 * in its level's column, below the nodes already there); slots are never shared; the layout
 * only grows (a node that is no longer shown keeps its slot, so scrubbing through history
 * never reshuffles the graph). Ids are `Map` keys only.
 */
export class StableLayout {
  private readonly slots = new Map<string, Slot>();
  private readonly rowsUsed: number[] = [];

  /** The slot of every node in `nodeIds`, placing those not seen before. */
  place(nodeIds: readonly string[], edges: readonly Edge[]): ReadonlyMap<string, Slot> {
    const fresh = nodeIds.filter((id) => !this.slots.has(id));
    if (fresh.length === 0) return this.slots;
    const depth = levels(nodeIds, edges);
    // Shallow first, then in the given order, so a column fills top-down in run order.
    const ordered = fresh.map((id, index) => ({ id, index, column: depth.get(id) ?? 0 }))
      .sort((a, b) => a.column - b.column || a.index - b.index);
    for (const { id, column } of ordered) {
      const row = this.rowsUsed[column] ?? 0;
      this.rowsUsed[column] = row + 1;
      this.slots.set(id, { column, row });
    }
    return this.slots;
  }

  /** Columns and rows used so far (at least 1 × 1). */
  get size(): { columns: number; rows: number } {
    return { columns: Math.max(1, this.rowsUsed.length), rows: Math.max(1, ...this.rowsUsed.map((rows) => rows ?? 0)) };
  }
}

/**
 * Each node's dependency level: 0 for a node without dependencies among `nodeIds`, else one
 * more than its deepest dependency. A cycle (not a DAG) cannot loop: a node is visited once
 * and a back edge counts as level 0.
 */
export function levels(nodeIds: readonly string[], edges: readonly Edge[]): Map<string, number> {
  const known = new Set(nodeIds);
  const dependencies = new Map<string, string[]>();
  for (const edge of edges) {
    if (!known.has(edge.from) || !known.has(edge.to)) continue;
    const list = dependencies.get(edge.to);
    if (list === undefined) dependencies.set(edge.to, [edge.from]);
    else list.push(edge.from);
  }
  const level = new Map<string, number>();
  const visiting = new Set<string>();
  const visit = (id: string): number => {
    const done = level.get(id);
    if (done !== undefined) return done;
    if (visiting.has(id)) return 0;
    visiting.add(id);
    let deepest = -1;
    for (const from of dependencies.get(id) ?? []) deepest = Math.max(deepest, visit(from));
    visiting.delete(id);
    level.set(id, deepest + 1);
    return deepest + 1;
  };
  for (const id of nodeIds) visit(id);
  return level;
}
