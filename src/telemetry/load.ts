// The proxy's load book: per (direction, service, tag) counters and a fixed log-scale latency histogram, drained into compact bounded reports; it counts, it never decides or sends.

/*
 * A report is what a proxy sends on its control-plane stream every --report-interval: one row per
 * (direction, service, tag) that saw traffic since the last report. The latency summary is a
 * histogram over LATENCY_BUCKETS fixed buckets whose upper bounds grow by √2 from 0.25 ms
 * (bucket i: (b[i-1], b[i]], b[i] = 0.25·2^(i/2) ms; the last bucket takes everything above),
 * so histograms from any proxy and any interval merge by adding counts, and a quantile read from
 * them is within one bucket (±19% around the bucket's geometric middle).
 *
 * Recording is a field update on a cell the request path resolved once (no allocation per
 * request). The cells are bounded (MAX_CELLS; the rest count on an `other` service cell), and a
 * report carries at most MAX_REPORT_ROWS rows: the busiest ones, the rest folded into one row of
 * service OTHER_SERVICE per direction, its `folded` field saying how many were folded.
 */

/** Buckets of the latency histogram. */
export const LATENCY_BUCKETS = 40;
/** Upper bound of the first bucket, ms. */
const FIRST_BOUND_MS = 0.25;
/** Rows a report carries at most; more are folded into OTHER_SERVICE rows. */
export const MAX_REPORT_ROWS = 256;
/** Distinct cells a proxy keeps; later (direction, service, tag) count on an OTHER_SERVICE cell. */
export const MAX_CELLS = 4096;
/** The service of a folded row. */
export const OTHER_SERVICE = "(other)";

/** The upper bound of bucket `i`, ms (Infinity for the last). */
export function bucketBoundMs(i: number): number {
  return i >= LATENCY_BUCKETS - 1 ? Number.POSITIVE_INFINITY : FIRST_BOUND_MS * 2 ** (i / 2);
}

/** The bucket a latency of `ms` falls in. */
export function bucketOf(ms: number): number {
  if (!(ms > FIRST_BOUND_MS)) return 0;
  const i = Math.ceil(2 * Math.log2(ms / FIRST_BOUND_MS) - 1e-9);
  return i >= LATENCY_BUCKETS ? LATENCY_BUCKETS - 1 : i;
}

/** One (direction, service, tag)'s counters since the last drain. */
export class LoadCell {
  requests = 0;
  /** 5xx answers and the proxy's own errors (x-lanemesh-error). */
  errors = 0;
  /** Requests that wanted this tag and went to base. */
  fallbacks = 0;
  readonly latency = new Uint32Array(LATENCY_BUCKETS);

  constructor(
    readonly direction: string,
    readonly service: string,
    readonly tag: string,
  ) {}

  /** One answered request. */
  record(ms: number, error: boolean): void {
    this.requests++;
    if (error) this.errors++;
    const b = bucketOf(ms);
    this.latency[b] = (this.latency[b] as number) + 1;
  }
}

/** One row of a report, as the wire carries it (proto LoadRow). */
export interface LoadRow {
  direction: string;
  service: string;
  /** Tag of the instance served; "base" for none. */
  tag: string;
  requests: number;
  errors: number;
  fallbacks: number;
  /** LATENCY_BUCKETS counts, or [] when no request was answered. */
  latency: number[];
}

/** One report: the rows since the previous one and the time they cover. */
export interface LoadReportBody {
  intervalMs: number;
  rows: LoadRow[];
  /** Rows folded into OTHER_SERVICE rows because of MAX_REPORT_ROWS. */
  folded: number;
}

export class LoadBook {
  private readonly cells = new Map<string, Map<string, Map<string, LoadCell>>>();
  private count = 0;

  /** The cell of (direction, service, tag); resolve once and keep it. */
  cell(direction: string, service: string, tag: string): LoadCell {
    let byService = this.cells.get(direction);
    if (byService === undefined) {
      byService = new Map();
      this.cells.set(direction, byService);
    }
    let byTag = byService.get(service);
    if (byTag === undefined) {
      if (this.count >= MAX_CELLS && service !== OTHER_SERVICE)
        return this.cell(direction, OTHER_SERVICE, tag);
      byTag = new Map();
      byService.set(service, byTag);
    }
    let c = byTag.get(tag);
    if (c === undefined) {
      if (this.count >= MAX_CELLS && service !== OTHER_SERVICE)
        return this.cell(direction, OTHER_SERVICE, tag);
      c = new LoadCell(direction, service, tag);
      byTag.set(tag, c);
      this.count++;
    }
    return c;
  }

  /** The rows with activity since the last drain (bounded), and zero the cells. */
  drain(intervalMs: number, maxRows = MAX_REPORT_ROWS): LoadReportBody {
    const rows: LoadRow[] = [];
    for (const byService of this.cells.values())
      for (const byTag of byService.values())
        for (const c of byTag.values()) {
          if (c.requests === 0 && c.fallbacks === 0) continue;
          rows.push({
            direction: c.direction,
            service: c.service,
            tag: c.tag,
            requests: c.requests,
            errors: c.errors,
            fallbacks: c.fallbacks,
            latency: c.requests === 0 ? [] : Array.from(c.latency),
          });
          c.requests = 0;
          c.errors = 0;
          c.fallbacks = 0;
          c.latency.fill(0);
        }
    return foldRows(rows, intervalMs, maxRows);
  }
}

/** Keep the `maxRows - 3` busiest rows; fold the rest into one OTHER_SERVICE row per direction. */
export function foldRows(rows: LoadRow[], intervalMs: number, maxRows: number): LoadReportBody {
  if (rows.length <= maxRows) return { intervalMs, rows, folded: 0 };
  rows.sort((a, b) => b.requests + b.fallbacks - (a.requests + a.fallbacks));
  const keep = rows.slice(0, Math.max(0, maxRows - 3));
  const other = new Map<string, LoadRow>();
  for (const r of rows.slice(keep.length)) {
    let o = other.get(r.direction);
    if (o === undefined) {
      o = {
        direction: r.direction,
        service: OTHER_SERVICE,
        tag: "base",
        requests: 0,
        errors: 0,
        fallbacks: 0,
        latency: [],
      };
      other.set(r.direction, o);
    }
    mergeRow(o, r);
  }
  return { intervalMs, rows: [...keep, ...other.values()], folded: rows.length - keep.length };
}

/** Add `r`'s counts to `into` (histograms add bucket by bucket). */
export function mergeRow(
  into: Pick<LoadRow, "requests" | "errors" | "fallbacks" | "latency">,
  r: Pick<LoadRow, "requests" | "errors" | "fallbacks" | "latency">,
): void {
  into.requests += r.requests;
  into.errors += r.errors;
  into.fallbacks += r.fallbacks;
  if (r.latency.length === 0) return;
  if (into.latency.length === 0) into.latency = new Array<number>(LATENCY_BUCKETS).fill(0);
  for (let i = 0; i < LATENCY_BUCKETS; i++)
    into.latency[i] = (into.latency[i] as number) + (r.latency[i] ?? 0);
}

/**
 * The q-quantile (0..1) of a merged histogram, ms: the geometric middle of the bucket it falls
 * in (the last bucket reports its lower bound); null without observations.
 */
export function quantileMs(latency: readonly number[], q: number): number | null {
  let total = 0;
  for (const n of latency) total += n;
  if (total === 0) return null;
  const rank = Math.max(1, Math.ceil(q * total));
  let acc = 0;
  for (let i = 0; i < latency.length; i++) {
    acc += latency[i] as number;
    if (acc >= rank) {
      const hi = bucketBoundMs(i);
      const lo = i === 0 ? 0 : bucketBoundMs(i - 1);
      if (!Number.isFinite(hi)) return lo;
      return i === 0 ? hi / 2 : Math.sqrt(lo * hi);
    }
  }
  return null;
}
