// A proxy's load reports: every interval, what it served since the last one (telemetry/load.ts) written on the control-plane stream; it counts nothing itself and never decides.
import type { MeshStream } from "../protocol/wire.js";
import type { Clock, TimerHandle } from "../runtime/clock.js";
import type { LoadBook } from "../telemetry/load.js";

/** Default of --report-interval: a load report every 5 s. */
export const DEFAULT_REPORT_INTERVAL_MS = 5000;

export interface ReportsOptions {
  clock: Clock;
  /** 0 = never. */
  everyMs: number;
  load: LoadBook;
  /** The stream to write on, or undefined while there is none (the counts are then dropped). */
  stream(): MeshStream | undefined;
}

export interface Reports {
  close(): void;
}

/**
 * Every `everyMs`, drain the load book into one report (at most MAX_REPORT_ROWS rows) and write
 * it, empty ones included (so the control plane knows an idle interval). With no stream, or one
 * whose buffer is full (write returned false, until "drain"), the interval's counts are dropped:
 * a report always covers the one interval it says, and nothing queues without bound.
 */
export function startReports(opts: ReportsOptions): Reports {
  let timer: TimerHandle | undefined;
  let from = opts.clock.now();
  let closed = false;
  const blocked = new WeakSet<MeshStream>();
  const send = (): void => {
    const now = opts.clock.now();
    const body = opts.load.drain(Math.max(1, Math.round(now - from)));
    from = now;
    const call = opts.stream();
    if (call === undefined || blocked.has(call)) return;
    if (!call.write({ report: body })) {
      blocked.add(call);
      call.once("drain", () => blocked.delete(call));
    }
  };
  const schedule = (): void => {
    if (closed || opts.everyMs <= 0) return;
    timer = opts.clock.setTimeout(() => {
      timer = undefined;
      send();
      schedule();
    }, opts.everyMs);
  };
  schedule();
  return {
    close() {
      closed = true;
      if (timer !== undefined) opts.clock.clearTimeout(timer);
    },
  };
}
