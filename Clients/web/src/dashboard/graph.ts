import type { SnapshotNode } from "../protocol/types.js";
import type { DAGState } from "../store.js";
import { svg } from "./dom.js";
import { StableLayout } from "./layout.js";

const COLUMN = 190, ROW = 64, WIDTH = 150, HEIGHT = 40, MARGIN = 12;
const LABEL_CHARACTERS = 20;

/**
 * The graph view: an SVG with one `g.node` per node (a box coloured by status via the
 * `s-<status>` class, its label as text, its id in a `<title>`), one `path.edge` per edge
 * (`active` once `from` fed `to`; `flash` for a moment when an `edge_active` arrives), laid
 * out by `StableLayout` (columns by dependency level; existing nodes never move).
 *
 * Guarantees: labels and ids only reach the SVG as text nodes; `onSelect` gets the node id
 * (a closure, not an attribute). One layout per run: `reset()` when the run shown changes.
 */
export class GraphView {
  private layout = new StableLayout();
  private readonly flashing = new Map<string, number>();

  constructor(private readonly root: SVGSVGElement, private readonly onSelect: (nodeId: string) => void) {}

  /** Forgets the layout (another run). */
  reset(): void {
    this.layout = new StableLayout();
    this.flashing.clear();
  }

  /** Highlights the edge `from → to` for `ms` (the next `render` shows it). */
  flash(from: string, to: string, now: number, ms = 1500): void {
    this.flashing.set(JSON.stringify([from, to]), now + ms);
  }

  /** Draws `state`; `selected` is outlined. */
  render(state: DAGState, selected: string | null, now: number): void {
    const nodes = state.nodes.filter((node) => node.status !== "removed");
    const slots = this.layout.place(state.nodes.map((node) => node.id), state.edges);
    const { columns, rows } = this.layout.size;
    const width = MARGIN * 2 + (columns - 1) * COLUMN + WIDTH, height = MARGIN * 2 + (rows - 1) * ROW + HEIGHT;
    this.root.setAttribute("viewBox", `0 0 ${width} ${height}`);
    this.root.setAttribute("width", String(width));
    const at = (id: string) => {
      const slot = slots.get(id) ?? { column: 0, row: 0 };
      return { x: MARGIN + slot.column * COLUMN, y: MARGIN + slot.row * ROW };
    };
    const edges = svg("g", { class: "edges" });
    for (const edge of state.edges) {
      const from = at(edge.from), to = at(edge.to);
      const key = JSON.stringify([edge.from, edge.to]);
      const until = this.flashing.get(key);
      if (until !== undefined && until <= now) this.flashing.delete(key);
      const classes = ["edge", edge.active ? "active" : "", until !== undefined && until > now ? "flash" : ""].filter(Boolean).join(" ");
      const x1 = from.x + WIDTH, y1 = from.y + HEIGHT / 2, x2 = to.x, y2 = to.y + HEIGHT / 2, bend = (x2 - x1) / 2;
      edges.append(svg("path", { class: classes, d: `M${x1},${y1} C${x1 + bend},${y1} ${x2 - bend},${y2} ${x2},${y2}` }));
    }
    const boxes = svg("g", { class: "nodes" });
    for (const node of nodes) boxes.append(this.box(node, at(node.id), node.id === selected));
    this.root.replaceChildren(edges, boxes);
  }

  private box(node: SnapshotNode, { x, y }: { x: number; y: number }, selected: boolean): SVGGElement {
    const group = svg("g", { class: `node s-${node.status}${selected ? " selected" : ""}`, transform: `translate(${x},${y})`, tabindex: 0 });
    const title = svg("title");
    title.textContent = `${node.id}: ${node.status}`;
    const label = svg("text", { class: "label", x: 8, y: 17 });
    label.textContent = shorten(node.label ?? node.id);
    const status = svg("text", { class: "status", x: 8, y: 33 });
    status.textContent = node.attempt > 1 ? `${node.status} · attempt ${node.attempt}` : node.status;
    group.append(title, svg("rect", { width: WIDTH, height: HEIGHT, rx: 6 }), label, status);
    group.addEventListener("click", () => this.onSelect(node.id));
    group.addEventListener("keydown", (event) => { if (event.key === "Enter") this.onSelect(node.id); });
    return group;
  }
}

function shorten(text: string): string {
  const characters = Array.from(text);
  return characters.length <= LABEL_CHARACTERS ? text : characters.slice(0, LABEL_CHARACTERS - 1).join("") + "…";
}
