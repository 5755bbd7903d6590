import { systemClock, type Clock } from "./transport.js";

/** What `SharedClients` manages: something that starts, and closes for good. */
export interface Startable {
  start(): unknown;
  close(): void;
}

interface Entry<C> {
  readonly client: C;
  readonly clock: Clock;
  refs: number;
  sweep: unknown;
}

/**
 * One client per key, shared by every component that shows the same run, reference-counted.
 *
 * Guarantees: `peek` makes the client without starting it (no socket: safe during render);
 * `acquire` starts it and counts a user; `release` uncounts it and, when nobody is left,
 * closes it `closeDelayMs` later unless it was acquired again meanwhile — so React
 * StrictMode's mount → unmount → mount keeps one connection. A client peeked but never
 * acquired is dropped after the same delay.
 */
export class SharedClients<C extends Startable> {
  private readonly entries = new Map<string, Entry<C>>();

  constructor(private readonly closeDelayMs = 1000) {}

  /** The client for `key`, made (not started) by `make` if there is none. */
  peek(key: string, make: () => C, clock: Clock = systemClock): C {
    const existing = this.entries.get(key);
    if (existing !== undefined) return existing.client;
    const entry: Entry<C> = { client: make(), clock, refs: 0, sweep: null };
    this.entries.set(key, entry);
    this.scheduleSweep(key, entry);
    return entry.client;
  }

  /** Counts a user of `key`'s client, starts it, and returns it. */
  acquire(key: string, make: () => C, clock: Clock = systemClock): C {
    const client = this.peek(key, make, clock);
    const entry = this.entries.get(key);
    if (entry === undefined) return client; // unreachable: peek just stored it
    entry.refs += 1;
    if (entry.sweep !== null) entry.clock.clearTimeout(entry.sweep);
    entry.sweep = null;
    client.start();
    return client;
  }

  /** Uncounts a user; the last one's release closes the client after the delay. */
  release(key: string): void {
    const entry = this.entries.get(key);
    if (entry === undefined || entry.refs === 0) return;
    entry.refs -= 1;
    if (entry.refs === 0) this.scheduleSweep(key, entry);
  }

  /** How many clients are held (for tests and diagnostics). */
  get size(): number {
    return this.entries.size;
  }

  private scheduleSweep(key: string, entry: Entry<C>): void {
    if (entry.sweep !== null) entry.clock.clearTimeout(entry.sweep);
    entry.sweep = entry.clock.setTimeout(() => {
      entry.sweep = null;
      if (entry.refs > 0 || this.entries.get(key) !== entry) return;
      this.entries.delete(key);
      entry.client.close();
    }, this.closeDelayMs);
  }
}
