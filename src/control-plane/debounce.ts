// Push pacing on an injected clock: a debouncer for change events and a one-in-flight push slot per stream; no I/O.
import type { Clock, TimerHandle } from "../runtime/clock.js";

export interface DebounceOptions {
  /** Flush once no event came for this long. */
  quietMs: number;
  /** ...but never later than this after the first event of a burst. */
  maxDelayMs: number;
  clock: Clock;
  /** Called once per burst, never re-entered while a previous flush's promise is pending. */
  flush: () => void | Promise<void>;
  /**
   * Leading edge: a trigger that finds nothing pending, no flush running and none started in the
   * last quietMs flushes on the next turn of the clock (a 0 ms timer, so the triggers of one turn
   * share it); triggers within quietMs of a flush wait for a quiet period as without it, so
   * flushes are never closer than min(quietMs, maxDelayMs) either way. Default false.
   */
  leading?: boolean;
}

export interface Debouncer {
  /** Record a change; many triggers in a burst give one flush. */
  trigger(): void;
  /** Drop a pending flush and stop. */
  close(): void;
}

/**
 * Istio-style debounce: each trigger restarts the quiet period, the burst is cut at maxDelayMs,
 * and triggers that arrive while a flush runs start a new burst that waits for it to finish.
 * With `leading`, the first change after a quiet spell goes out at once (see DebounceOptions).
 */
export function debounce(opts: DebounceOptions): Debouncer {
  const { clock } = opts;
  let firstAt: number | undefined;
  let timer: TimerHandle | undefined;
  let flushing = false;
  let dirtyWhileFlushing = false;
  let closed = false;
  /** When the last flush started. */
  let lastFlushAt = Number.NEGATIVE_INFINITY;
  /** The armed timer is a leading-edge one: later triggers of the turn join it. */
  let leadingArmed = false;

  const arm = (): void => {
    if (firstAt === undefined || leadingArmed) return;
    if (timer !== undefined) clock.clearTimeout(timer);
    const untilMax = firstAt + opts.maxDelayMs - clock.now();
    timer = clock.setTimeout(fire, Math.max(0, Math.min(opts.quietMs, untilMax)));
  };

  const fire = (): void => {
    timer = undefined;
    leadingArmed = false;
    if (closed) return;
    firstAt = undefined;
    flushing = true;
    lastFlushAt = clock.now();
    let result: void | Promise<void>;
    try {
      result = opts.flush();
    } catch {
      result = undefined;
    }
    const done = (): void => {
      flushing = false;
      if (dirtyWhileFlushing && !closed) {
        dirtyWhileFlushing = false;
        trigger(true);
      }
    };
    if (result instanceof Promise) result.then(done, done);
    else done();
  };

  /** `burst`: the triggers that came during a flush, which always wait for a quiet period. */
  const trigger = (burst = false): void => {
    if (closed) return;
    if (flushing) {
      dirtyWhileFlushing = true;
      return;
    }
    if (firstAt === undefined) {
      firstAt = clock.now();
      if (opts.leading && !burst && firstAt - lastFlushAt >= opts.quietMs) {
        leadingArmed = true;
        timer = clock.setTimeout(fire, 0);
        return;
      }
    }
    arm();
  };

  return {
    trigger: () => trigger(),
    close(): void {
      closed = true;
      if (timer !== undefined) clock.clearTimeout(timer);
      timer = undefined;
      leadingArmed = false;
    },
  };
}

/**
 * One stream's outgoing pushes: at most one unacknowledged at a time; while one is in flight,
 * newer values replace each other and only the latest is sent once the ACK/NACK arrives.
 */
export class PushSlot<T> {
  private inFlight = false;
  private pending: T | undefined;
  private hasPending = false;

  constructor(private readonly send: (value: T) => void) {}

  /** Send now if nothing is in flight, else keep as the next value (replacing an older one). */
  offer(value: T): void {
    if (!this.inFlight) {
      this.inFlight = true;
      this.send(value);
      return;
    }
    this.pending = value;
    this.hasPending = true;
  }

  /** The in-flight push was answered; send the latest waiting value, if any. */
  settle(): void {
    if (!this.inFlight) return;
    this.inFlight = false;
    if (!this.hasPending) return;
    const v = this.pending as T;
    this.pending = undefined;
    this.hasPending = false;
    this.offer(v);
  }

  busy(): boolean {
    return this.inFlight;
  }

  /** The value that will be sent after the in-flight one, if any. */
  next(): T | undefined {
    return this.hasPending ? this.pending : undefined;
  }
}
