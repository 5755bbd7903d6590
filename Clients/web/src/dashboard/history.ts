import { decodeServerEvent } from "../protocol/decode.js";
import type { LoggedEvent, ServerEvent } from "../protocol/types.js";
import { applyEvent, isLogged, type DAGState } from "../store.js";

/** One page of `GET /api/dags/{dagId}/events`. */
interface EventsPage {
  readonly head: number;
  readonly events: readonly LoggedEvent[];
}

/** Fetches a path of this server as JSON text (the token goes in a header, not the URL). */
export type FetchText = (path: string) => Promise<string>;

/** Events per checkpoint: reaching any seq replays at most this many events. */
export const CHECKPOINT_EVERY = 250;
/** Events per `/events` request (the server's maximum). */
const PAGE = 10_000;

/**
 * A run's past, for the time-travel scrubber: the run's logged events, fetched once from
 * `/api/dags/{dagId}/events` (pages of 10,000) starting from `/history?at=0` (the empty
 * run), reduced locally with the client's own reducer (`applyEvent`).
 *
 * Guarantees: `stateAt(seq)` is the state right after event `seq` — the same reduction as the
 * live stream and the server's `DAGStateStore` — computed from the nearest checkpoint at or
 * below `seq` (one every `CHECKPOINT_EVERY` events), so any position costs at most that many
 * reductions and scrubbing a 10,000-event run stays smooth. `load(upTo)` fetches only events
 * not fetched yet; events are only ever appended in seq order (a page that does not continue
 * the sequence, e.g. another epoch after a server reset, throws and nothing is kept from it).
 */
export class RunHistory {
  private readonly checkpoints: DAGState[] = [];
  private last: DAGState | null = null;
  private events: LoggedEvent[] = [];
  private loading: Promise<void> | null = null;

  constructor(readonly dagId: string, private readonly fetchText: FetchText) {}

  /** The last seq loaded (0 before any). */
  get loadedSeq(): number {
    return this.last?.seq ?? 0;
  }

  /** Loads the events up to `seq` (or the head, if it is below); one load at a time. */
  async load(seq: number): Promise<void> {
    while (this.loadedSeq < seq) {
      if (this.loading === null) {
        this.loading = this.loadPage().finally(() => { this.loading = null; });
      }
      const before = this.loadedSeq;
      await this.loading;
      if (this.loadedSeq === before) return; // the head: nothing more to load
    }
  }

  /** The state right after event `seq` (clamped to what is loaded), or null before loading. */
  stateAt(seq: number): DAGState | null {
    if (this.last === null) return null;
    const target = Math.max(0, Math.min(seq, this.last.seq));
    let state: DAGState | null = this.checkpoints[Math.floor(target / CHECKPOINT_EVERY)] ?? null;
    if (state === null) return null;
    for (let next = state.seq + 1; next <= target; next += 1) {
      const event = this.events[next - 1];
      if (event === undefined) break;
      state = applyEvent(state, event).state;
    }
    return state;
  }

  private async loadPage(): Promise<void> {
    const base = `/api/dags/${encodeURIComponent(this.dagId)}`;
    if (this.last === null) {
      const empty = decodeServerEvent(await this.fetchText(`${base}/history?at=0`));
      const start = applyEvent(null, empty).state;
      if (start === null || empty.type !== "snapshot") throw new Error("history?at=0 is not a snapshot");
      this.last = start;
      this.checkpoints[0] = start;
    }
    const page = decodePage(await this.fetchText(`${base}/events?after=${this.loadedSeq}&limit=${PAGE}`));
    let state: DAGState = this.last;
    const added: LoggedEvent[] = [];
    const marks: DAGState[] = [];
    for (const event of page.events) {
      const result = applyEvent(state, event);
      if (result.outcome.kind !== "applied" || result.state === null) {
        throw new Error(`history: event ${event.seq} does not follow seq ${state.seq} (epoch ${event.epoch})`);
      }
      state = result.state;
      added.push(event);
      if (state.seq % CHECKPOINT_EVERY === 0) marks.push(state);
    }
    // Committed only once the whole page applied.
    for (const event of added) this.events.push(event);
    for (const mark of marks) this.checkpoints[mark.seq / CHECKPOINT_EVERY] = mark;
    this.last = state;
  }
}

function decodePage(text: string): EventsPage {
  // A JSON object from our own server; every event goes through the protocol decoder.
  const raw = JSON.parse(text) as { head?: unknown; events?: unknown };
  if (typeof raw.head !== "number" || !Array.isArray(raw.events)) throw new Error("events page: missing head or events");
  const events: LoggedEvent[] = [];
  for (const value of raw.events) {
    const event: ServerEvent = decodeServerEvent(JSON.stringify(value));
    if (!isLogged(event)) throw new Error(`events page: ${event.type} is not a logged event`);
    events.push(event);
  }
  return { head: raw.head, events };
}
