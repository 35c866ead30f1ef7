// Small statistics for the macro benchmark (percentiles, medians) and the load generator's result
// type; pure functions, no I/O.

/** Latency percentiles in microseconds. */
export interface Percentiles {
  p50: number;
  p90: number;
  p99: number;
  p999: number;
  max: number;
  mean: number;
}

/** What one run of the load generator (openloop.ts) prints as one JSON line. */
export interface LoadResult {
  mode: "open" | "closed";
  connections: number;
  /** Requested rate (open mode), else null. */
  rate: number | null;
  durationS: number;
  sent: number;
  completed: number;
  /** Network errors and requests that had not completed when the drain timeout ran out. */
  errors: number;
  non2xx: number;
  /** Completed requests per second over the measured window. */
  achievedRate: number;
  /** From scheduled send time (open) or send time (closed) to the end of the response body. */
  latencyUs: Percentiles;
  /** Open mode: how late the generator sent each request after its scheduled time. */
  sendLagUs: Percentiles | null;
  /** Open mode with `--window S`: the same figures per S seconds of scheduled send times. */
  windows?: LoadWindow[];
  /** Which generator sent the requests: loadgen.c, or the Node one (undici). */
  engine?: "c" | "node";
}

/** One window of an open-loop run: the requests scheduled in [startS, startS + window). */
export interface LoadWindow {
  startS: number;
  sent: number;
  completed: number;
  errors: number;
  non2xx: number;
  latencyUs: Percentiles;
}

/** Nearest-rank percentile of an ascending-sorted array; NaN when empty. */
export function percentileSorted(sorted: ArrayLike<number>, p: number): number {
  const n = sorted.length;
  if (n === 0) return Number.NaN;
  const rank = Math.min(n, Math.max(1, Math.ceil((p / 100) * n)));
  return sorted[rank - 1] as number;
}

/** Percentiles of `values` (any order; NaN entries are ignored). */
export function percentiles(values: ArrayLike<number>): Percentiles {
  const kept: number[] = [];
  let sum = 0;
  for (let i = 0; i < values.length; i++) {
    const v = values[i] as number;
    if (!Number.isNaN(v)) {
      kept.push(v);
      sum += v;
    }
  }
  const sorted = Float64Array.from(kept).sort();
  return {
    p50: percentileSorted(sorted, 50),
    p90: percentileSorted(sorted, 90),
    p99: percentileSorted(sorted, 99),
    p999: percentileSorted(sorted, 99.9),
    max: sorted.length > 0 ? (sorted[sorted.length - 1] as number) : Number.NaN,
    mean: sorted.length > 0 ? sum / sorted.length : Number.NaN,
  };
}

/** Median of the finite values (mean of the middle two when even); NaN when none. */
export function median(values: readonly (number | null | undefined)[]): number {
  const v = values
    .filter((x): x is number => typeof x === "number" && Number.isFinite(x))
    .sort((a, b) => a - b);
  if (v.length === 0) return Number.NaN;
  const mid = v.length >> 1;
  return v.length % 2 === 1
    ? (v[mid] as number)
    : ((v[mid - 1] as number) + (v[mid] as number)) / 2;
}

/** Smallest and largest finite value; NaN when none. */
export function range(values: readonly (number | null | undefined)[]): [number, number] {
  const v = values.filter((x): x is number => typeof x === "number" && Number.isFinite(x));
  if (v.length === 0) return [Number.NaN, Number.NaN];
  return [Math.min(...v), Math.max(...v)];
}
