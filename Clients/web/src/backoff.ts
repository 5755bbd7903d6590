/**
 * Reconnect timing: exponential backoff with full jitter. Guarantees: the n-th consecutive
 * failed attempt (n from 0) waits a uniformly random time in [0, min(capMs, baseMs·2ⁿ));
 * the count resets once a connection stayed open `stableAfterMs`.
 */
export interface BackoffPolicy {
  /** First ceiling, default 1000 ms. */
  readonly baseMs: number;
  /** Largest ceiling, default 30000 ms. */
  readonly capMs: number;
  /** How long a connection must stay open to count as stable, default 10000 ms. */
  readonly stableAfterMs: number;
}

/** Base 1 s, cap 30 s, stable after 10 s (docs/protocol.md, "Reconnect policy"). */
export const defaultBackoff: BackoffPolicy = { baseMs: 1000, capMs: 30_000, stableAfterMs: 10_000 };

/** The ceiling of the delay before retry number `attempt` (0-based). */
export function backoffCeiling(attempt: number, policy: BackoffPolicy = defaultBackoff): number {
  return Math.min(policy.capMs, policy.baseMs * 2 ** Math.min(Math.max(0, attempt), 40));
}

/** A delay before retry number `attempt`: `random()` (in [0, 1)) times its ceiling. */
export function backoffDelay(attempt: number, random: () => number = Math.random, policy: BackoffPolicy = defaultBackoff): number {
  return random() * backoffCeiling(attempt, policy);
}
