// The control plane's memory of the proxies' load reports: a bounded sliding window per proxy, merged per (direction, service, tag) on demand; it stores and sums, it never decides.
import type { LoadReportMessage } from "../protocol/wire.js";
import type { Clock } from "../runtime/clock.js";
import { LATENCY_BUCKETS, type LoadRow, MAX_REPORT_ROWS, mergeRow } from "../telemetry/load.js";

/** Who sent a report (from its hello). */
export interface Reporter {
  nodeId: string;
  role: string;
  /** The sidecar's service; "" for a gateway. */
  app: string;
  /** null = base. */
  tag: string | null;
  gateway: string;
}

interface Kept {
  /** Clock ms the report arrived. */
  at: number;
  intervalMs: number;
  rows: LoadRow[];
}

interface ProxyLoad {
  reporter: Reporter;
  reports: Kept[];
}

/** Reports kept per proxy at most (the oldest go first); with 5 s reports, 10 minutes. */
export const MAX_REPORTS_PER_PROXY = 128;
/** Proxies whose reports are kept at most (the longest silent goes first). */
export const MAX_PROXIES = 10_000;

/** One (direction, service, tag) merged over a window and over the proxies that reported it. */
export interface Traffic extends Pick<LoadRow, "requests" | "errors" | "fallbacks" | "latency"> {
  /** Requests per second: each proxy's requests over the time its reports in the window cover. */
  rps: number;
}

/** What one proxy reported over a window, merged per (direction, service, tag). */
export interface ProxyTraffic {
  reporter: Reporter;
  /** Milliseconds its reports in the window cover. */
  coveredMs: number;
  rows: (LoadRow & { rps: number })[];
}

function count(v: unknown): number {
  const n = typeof v === "number" ? v : Number(v);
  return Number.isFinite(n) && n >= 0 ? Math.min(n, Number.MAX_SAFE_INTEGER) : 0;
}

const text = (v: unknown, max = 253): string => (typeof v === "string" ? v.slice(0, max) : "");

/** A received report made safe: bounded rows, counts as numbers, histograms of the right length. */
export function sanitizeReport(r: LoadReportMessage): { intervalMs: number; rows: LoadRow[] } {
  const rows: LoadRow[] = [];
  for (const raw of (r.rows ?? []).slice(0, MAX_REPORT_ROWS)) {
    const latency = Array.isArray(raw.latency)
      ? raw.latency.slice(0, LATENCY_BUCKETS).map(count)
      : [];
    rows.push({
      direction: text(raw.direction, 16),
      service: text(raw.service),
      tag: text(raw.tag, 63) || "base",
      requests: count(raw.requests),
      errors: count(raw.errors),
      fallbacks: count(raw.fallbacks),
      latency: latency.length === LATENCY_BUCKETS ? latency : [],
    });
  }
  const interval = count(r.intervalMs);
  return { intervalMs: Math.max(1, Math.min(interval, 600_000)), rows };
}

export class LoadStore {
  private readonly proxies = new Map<string, ProxyLoad>();
  private prunedAt = Number.NEGATIVE_INFINITY;

  /** `retentionMs`: reports older than this are dropped (the longest window anyone reads). */
  constructor(
    private readonly clock: Clock,
    private readonly retentionMs: number,
  ) {}

  add(reporter: Reporter, report: LoadReportMessage): void {
    const now = this.clock.now();
    const { intervalMs, rows } = sanitizeReport(report);
    let p = this.proxies.get(reporter.nodeId);
    if (p === undefined) {
      if (this.proxies.size >= MAX_PROXIES) this.prune(now, true);
      p = { reporter, reports: [] };
    } else this.proxies.delete(reporter.nodeId); // re-inserted last: the map is oldest-first
    p.reporter = reporter;
    this.proxies.set(reporter.nodeId, p);
    p.reports.push({ at: now, intervalMs, rows });
    if (p.reports.length > MAX_REPORTS_PER_PROXY) p.reports.shift();
    if (now - this.prunedAt >= 1000) {
      this.prunedAt = now;
      this.prune(now, false);
    }
  }

  /**
   * Every proxy's reports that arrived in (now - windowMs, now] and after `since`, merged
   * per (direction, service, tag).
   */
  window(windowMs: number, since = Number.NEGATIVE_INFINITY): ProxyTraffic[] {
    const now = this.clock.now();
    const out: ProxyTraffic[] = [];
    for (const p of this.proxies.values()) {
      let coveredMs = 0;
      const merged = new Map<string, LoadRow>();
      for (const k of p.reports) {
        if (k.at <= now - windowMs || k.at <= since) continue;
        coveredMs += Math.min(k.intervalMs, windowMs);
        for (const r of k.rows) {
          const key = `${r.direction}\u0000${r.service}\u0000${r.tag}`;
          let m = merged.get(key);
          if (m === undefined) {
            m = { ...r, requests: 0, errors: 0, fallbacks: 0, latency: [] };
            merged.set(key, m);
          }
          mergeRow(m, r);
        }
      }
      if (coveredMs === 0) continue;
      const seconds = coveredMs / 1000;
      out.push({
        reporter: p.reporter,
        coveredMs,
        rows: [...merged.values()].map((r) => ({ ...r, rps: r.requests / seconds })),
      });
    }
    return out;
  }

  /** Drop reports past the retention; `oldest`: also the proxy silent the longest. */
  private prune(now: number, oldest: boolean): void {
    for (const [id, p] of this.proxies) {
      while (p.reports.length > 0 && (p.reports[0]?.at ?? 0) < now - this.retentionMs)
        p.reports.shift();
      if (p.reports.length === 0) this.proxies.delete(id);
    }
    if (oldest && this.proxies.size >= MAX_PROXIES) {
      const first = this.proxies.keys().next().value;
      if (first !== undefined) this.proxies.delete(first);
    }
  }
}

/** Sum the rows of `traffic` that `pick` accepts into one Traffic (rates add across proxies). */
export function sumTraffic(
  traffic: readonly ProxyTraffic[],
  pick: (row: LoadRow, reporter: Reporter) => boolean,
): Traffic {
  const t: Traffic = { requests: 0, errors: 0, fallbacks: 0, latency: [], rps: 0 };
  for (const p of traffic)
    for (const r of p.rows) {
      if (!pick(r, p.reporter)) continue;
      mergeRow(t, r);
      t.rps += r.rps;
    }
  return t;
}
