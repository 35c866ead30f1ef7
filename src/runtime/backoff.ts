// Reconnect delays: jittered exponential backoff (0.5 s doubling to 30 s); pure, it never sleeps.

export interface BackoffOptions {
  initialMs?: number;
  maxMs?: number;
  /** Source in [0, 1); Math.random by default. */
  random?: () => number;
}

/**
 * Delay before reconnect attempt `attempt` (0-based): the capped exponential step, with "equal
 * jitter" (half fixed, half random) so a fleet of proxies does not reconnect in lockstep.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions = {}): number {
  const initial = opts.initialMs ?? 500;
  const max = opts.maxMs ?? 30_000;
  const step = Math.min(max, initial * 2 ** Math.min(attempt, 30));
  const r = (opts.random ?? Math.random)();
  return Math.round(step / 2 + (step / 2) * r);
}
