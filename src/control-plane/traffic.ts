// The control plane's view of the mesh's traffic: load reports in, `/v1/status` out, guarded lanes kept, and a Lane's `status.guard` on reads; it owns no resources and changes them only through the close it is given.

import type { RawDocument } from "../config/document.js";
import type { Endpoint } from "../config/types.js";
import type { Hello, LoadReportMessage } from "../protocol/wire.js";
import type { Clock } from "../runtime/clock.js";
import type { Logger } from "../telemetry/logger.js";
import { type ApplyOutcome, identity } from "./apply.js";
import { GuardKeeper } from "./guard-keeper.js";
import { LoadStore } from "./load.js";
import type { ControlPlaneMetrics } from "./metrics.js";
import { buildStatus, type StatusView } from "./status.js";

/** Default of --load-window: status shows rates and percentiles over the last 30 s. */
export const DEFAULT_LOAD_WINDOW_SECONDS = 30;
/** Reports are kept this long: the longest guard window (10m). */
const RETENTION_MS = 10 * 60_000;

export interface TrafficOptions {
  dataDir: string;
  clock: Clock;
  metrics: ControlPlaneMetrics;
  log: Logger;
  /** Seconds `status` computes over. */
  windowSeconds: number;
  resources(): readonly unknown[];
  /** The control plane's apply: validated like any change, a new version. */
  apply(batch: RawDocument[]): Promise<ApplyOutcome>;
  /**
   * Where the rules live outside the store (`--store kubernetes`): closes the lane at its source
   * and resolves with the version in force when it did (the change arrives as a new version).
   */
  closeAtSource?: (name: string) => Promise<number>;
}

export class Traffic {
  readonly load: LoadStore;
  readonly guards: GuardKeeper;

  constructor(private readonly opts: TrafficOptions) {
    this.load = new LoadStore(opts.clock, Math.max(RETENTION_MS, opts.windowSeconds * 1000));
    this.guards = new GuardKeeper({
      dataDir: opts.dataDir,
      load: this.load,
      metrics: opts.metrics,
      log: opts.log,
      clock: opts.clock,
      resources: opts.resources,
      close: (lane, reason) => this.closeLane(lane, reason),
    });
    this.guards.start();
  }

  /** A proxy's report: kept, then the guarded lanes judged. */
  report(h: Hello, r: LoadReportMessage): void {
    const tag = h.tag || null;
    this.load.add({ nodeId: h.nodeId, role: h.role, app: h.app, tag, gateway: h.gateway }, r);
    this.guards.onReport();
  }

  status(group: string | null, endpoints: readonly Endpoint[]): StatusView {
    const windowMs = this.opts.windowSeconds * 1000;
    return buildStatus({
      now: this.opts.clock.now(),
      windowMs,
      resources: this.opts.resources(),
      endpoints,
      traffic: this.load.window(windowMs),
      trip: (lane) => this.guards.trip(lane),
      group,
    });
  }

  /** Lanes as reads show them: with `status.guard` when their guard closed them. */
  decorate(docs: unknown[]): unknown[] {
    return docs.map((d) => {
      const id = identity(d);
      const trip = id?.kind === "Lane" ? this.guards.trip(id.name) : undefined;
      return trip === undefined ? d : { ...(d as object), status: { guard: trip } };
    });
  }

  close(): void {
    this.guards.close();
  }

  /**
   * The guard's close: lane `name` as stored with enabled: false, applied like any change (a new
   * version); null when it is gone or closed already.
   */
  private async closeLane(name: string, reason: string): Promise<number | null> {
    const doc = this.opts
      .resources()
      .find((v) => identity(v)?.kind === "Lane" && identity(v)?.name === name) as
      | { spec?: Record<string, unknown> }
      | undefined;
    if (doc === undefined || doc.spec?.enabled === false) return null;
    if (this.opts.closeAtSource) {
      const version = await this.opts.closeAtSource(name);
      this.opts.log.info({ version, lane: name, reason }, "lane closed by its guard at its source");
      return version;
    }
    const closed = { ...doc, spec: { ...doc.spec, enabled: false } };
    const out = await this.opts.apply([
      { origin: { file: `guard of ${name}`, doc: 0 }, value: closed },
    ]);
    if (!out.ok)
      throw new Error("errors" in out ? out.errors.map((e) => e.message).join("; ") : out.message);
    this.opts.log.info({ version: out.version, lane: name, reason }, "lane closed by its guard");
    return out.version;
  }
}

/** A document as apply takes it: `status` is output only (what reads add), dropped. */
export function withoutStatus(value: unknown): unknown {
  if (value === null || typeof value !== "object" || Array.isArray(value) || !("status" in value))
    return value;
  const { status: _status, ...rest } = value as Record<string, unknown>;
  return rest;
}
