// The emitting end every registry resolver shares: bursts of changes coalesced into one whole endpoint set, unchanged sets dropped, an outage reported once until it ends; it never reads a registry.
import type { Endpoint } from "../config/types.js";
import type { Logger } from "../telemetry/logger.js";
import type { ResolverError } from "./types.js";

/** A burst of registry events (a rollout touches pods and slices together) becomes one emission. */
export const COALESCE_MS = 20;

export const DISCOVERY_UNAVAILABLE = "LANEMESH_DISCOVERY_UNAVAILABLE";

export interface FeedOptions {
  log: Logger;
  /**
   * The whole set as the registry shows it now, or undefined while it cannot be told yet (not
   * every watch has listed, not every service has answered): nothing is emitted then.
   */
  collect(): Endpoint[] | undefined;
  /**
   * Hold a set that would be empty after a non-empty one (logged once): a whole mesh vanishing at
   * once is a registry restart or glitch far more often than a real decommission.
   */
  holdEmpty?: boolean;
}

/**
 * Between a resolver and its consumer: `changed()` after any event, `unavailable()` when the
 * registry cannot be reached, `available()` when it can again. Callbacks run from a timer, never
 * synchronously from these calls, and never after `close()`.
 */
export class EndpointFeed {
  private onEndpoints: ((endpoints: Endpoint[]) => void) | undefined;
  private onError: ((err: ResolverError) => void) | undefined;
  private timer: NodeJS.Timeout | undefined;
  private lastEmitted: string | undefined;
  private force = false;
  private holding = false;
  private down = false;
  private closed = false;

  constructor(private readonly opts: FeedOptions) {}

  /** Where the sets and errors go (the resolver's `start` arguments). */
  connect(onEndpoints: (endpoints: Endpoint[]) => void, onError: (err: ResolverError) => void) {
    this.onEndpoints = onEndpoints;
    this.onError = onError;
  }

  /** Something changed: the set is collected and emitted after COALESCE_MS. */
  changed(): void {
    if (this.closed || this.timer !== undefined) return;
    this.timer = setTimeout(() => this.flush(), COALESCE_MS);
  }

  /** Report an error to the consumer (logged at `level`). */
  report(code: string, message: string, level: "warn" | "error" = "warn"): void {
    if (this.closed) return;
    this.opts.log[level]({ code }, message);
    this.onError?.({ code, message });
  }

  /** The registry cannot be reached: reported once per outage; the last set stays in force. */
  unavailable(message: string): void {
    if (this.down) return;
    this.down = true;
    this.report(DISCOVERY_UNAVAILABLE, message);
  }

  /** The outage (if any) is over; with `reemit`, the next set is emitted even when unchanged. */
  available(reemit = false): boolean {
    if (!this.down) return false;
    this.down = false;
    if (reemit) {
      this.force = true;
      this.changed();
    }
    return true;
  }

  get inOutage(): boolean {
    return this.down;
  }

  close(): void {
    this.closed = true;
    clearTimeout(this.timer);
    this.timer = undefined;
  }

  private flush(): void {
    this.timer = undefined;
    if (this.closed) return;
    const set = this.opts.collect();
    if (set === undefined) return;
    if (
      this.opts.holdEmpty &&
      set.length === 0 &&
      this.lastEmitted !== undefined &&
      this.lastEmitted !== "[]"
    ) {
      if (!this.holding)
        this.opts.log.warn(
          "the registry lists no instance at all any more; the last endpoints stay in force",
        );
      this.holding = true;
      return;
    }
    this.holding = false;
    const print = JSON.stringify(set);
    if (print === this.lastEmitted && !this.force) return;
    this.force = false;
    this.lastEmitted = print;
    this.opts.log.debug({ endpoints: set.length }, "endpoints changed");
    this.onEndpoints?.(set);
  }
}
