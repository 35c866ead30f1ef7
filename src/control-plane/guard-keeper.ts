// Guarded lanes kept: judges every open guarded lane on each load report and every second, asks the control plane to close a broken one, and remembers why (persisted); it never reopens a lane.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { CoalescingWriter } from "../runtime/atomic-file.js";
import { type Clock, realClock, type TimerHandle } from "../runtime/clock.js";
import type { Logger } from "../telemetry/logger.js";
import { identity } from "./apply.js";
import { guardOf, judge, type LaneDoc, type Side } from "./guard.js";
import type { LoadStore } from "./load.js";
import type { ControlPlaneMetrics } from "./metrics.js";

/** Why the control plane closed a lane: shown as the Lane's `status.guard`. */
export interface GuardTrip {
  /** ISO time the lane was closed. */
  closedAt: string;
  /** Clock ms of closedAt (for tests and ordering). */
  closedAtMs: number;
  /** The config version that closed it. */
  version: number;
  app: string;
  reason: string;
  lane: Side;
  base: Side;
}

/** The file in the data dir that keeps the trips across restarts. */
export const TRIPS_FILE = "guard-trips.json";
/** How often open guarded lanes are judged besides on each report. */
const TICK_MS = 1000;
/** Judging on reports is paced to at most once per this many ms. */
const MIN_JUDGE_GAP_MS = 100;

export interface GuardKeeperOptions {
  dataDir: string;
  load: LoadStore;
  metrics: ControlPlaneMetrics;
  log: Logger;
  clock?: Clock;
  /** The stored resources now. */
  resources(): readonly unknown[];
  /**
   * Close lane `name` (a new config version with enabled: false) unless it changed since
   * `since`; resolves with the version, or null when nothing was closed.
   */
  close(name: string, reason: string): Promise<number | null>;
}

export class GuardKeeper {
  private readonly clock: Clock;
  private readonly trips = new Map<string, GuardTrip>();
  /** Clock ms each lane's spec was last seen changed: reports before it are not judged. */
  private readonly since = new Map<string, { spec: string; at: number; doc?: unknown }>();
  private readonly closing = new Set<string>();
  private readonly writer: CoalescingWriter;
  private timer: TimerHandle | undefined;
  private judgedAt = Number.NEGATIVE_INFINITY;
  private closed = false;

  constructor(private readonly opts: GuardKeeperOptions) {
    this.clock = opts.clock ?? realClock;
    const file = join(opts.dataDir, TRIPS_FILE);
    this.writer = new CoalescingWriter(file, (err: Error) =>
      opts.log.warn({ err: err.message, file }, "cannot persist guard trips"),
    );
    try {
      const saved = JSON.parse(readFileSync(file, "utf8")) as Record<string, GuardTrip>;
      for (const [name, trip] of Object.entries(saved)) this.trips.set(name, trip);
    } catch {
      // none yet
    }
    this.observe(opts.resources());
  }

  start(): void {
    const tick = (): void => {
      if (this.closed) return;
      this.judge();
      this.timer = this.clock.setTimeout(tick, TICK_MS);
    };
    this.timer = this.clock.setTimeout(tick, TICK_MS);
  }

  close(): void {
    this.closed = true;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
  }

  /** Why lane `name` was closed by its guard, while it stays closed. */
  trip(name: string): GuardTrip | undefined {
    return this.trips.get(name);
  }

  /** A load report arrived: judge soon (paced). */
  onReport(): void {
    if (this.clock.now() - this.judgedAt >= MIN_JUDGE_GAP_MS) this.judge();
  }

  /**
   * The stored resources changed: a lane whose spec changed starts a fresh window, and a trip
   * ends when its lane is open again (a user applied enabled: true) or gone.
   */
  observe(resources: readonly unknown[]): void {
    const now = this.clock.now();
    const seen = new Set<string>();
    for (const doc of resources) {
      const id = identity(doc);
      if (id?.kind !== "Lane") continue;
      seen.add(id.name);
      const before = this.since.get(id.name);
      // The same stored object is the same spec (stored documents are never mutated).
      if (before?.doc !== doc) {
        const spec = JSON.stringify((doc as LaneDoc).spec ?? {});
        if (before?.spec !== spec) this.since.set(id.name, { spec, at: now, doc });
        else before.doc = doc;
      }
      if ((doc as LaneDoc).spec?.enabled !== false && this.trips.delete(id.name)) this.persist();
    }
    for (const name of [...this.since.keys()]) if (!seen.has(name)) this.since.delete(name);
    for (const name of [...this.trips.keys()])
      if (!seen.has(name)) {
        this.trips.delete(name);
        this.persist();
      }
  }

  /** Judge every open guarded lane over its window; close the broken ones. */
  judge(): void {
    this.judgedAt = this.clock.now();
    for (const doc of this.opts.resources()) {
      const id = identity(doc);
      if (id?.kind !== "Lane" || this.closing.has(id.name)) continue;
      const lane = doc as LaneDoc;
      const guard = guardOf(lane);
      const tag = lane.spec?.tag;
      if (guard === null || lane.spec?.enabled === false || tag === undefined) continue;
      const apps = lane.spec?.apps ?? this.groupApps(lane.spec?.group);
      const since = this.since.get(id.name)?.at ?? this.judgedAt;
      const verdict = judge(guard, tag, apps, this.opts.load.window(guard.windowMs, since));
      if (verdict === null) continue;
      this.closing.add(id.name);
      const name = id.name;
      this.opts.close(name, verdict.reason).then(
        (version) => {
          this.closing.delete(name);
          if (version === null) return;
          const at = this.clock.now();
          this.trips.set(name, {
            closedAt: new Date(at).toISOString(),
            closedAtMs: at,
            version,
            app: verdict.app,
            reason: verdict.reason,
            lane: verdict.lane,
            base: verdict.base,
          });
          this.persist();
          this.opts.metrics.guardTrips.inc({ lane: name });
          this.opts.log.warn(
            { lane: name, tag, version, app: verdict.app, reason: verdict.reason },
            "guarded lane closed: its traffic broke the guard; it stays closed until applied with enabled: true",
          );
        },
        (err: unknown) => {
          this.closing.delete(name);
          this.opts.log.error(
            { lane: name, err: (err as Error).message },
            "cannot close a guarded lane",
          );
        },
      );
    }
  }

  private groupApps(group: string | undefined): string[] {
    for (const doc of this.opts.resources()) {
      const id = identity(doc);
      if (id?.kind === "LaneGroup" && id.name === group)
        return ((doc as { spec?: { apps?: string[] } }).spec?.apps ?? []).slice();
    }
    return [];
  }

  private persist(): void {
    this.writer.write(`${JSON.stringify(Object.fromEntries(this.trips), null, 2)}\n`);
  }
}
