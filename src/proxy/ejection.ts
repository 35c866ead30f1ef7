// Connects passive outlier detection to a proxy: classifies attempt outcomes, applies ejections to the LiveConfig's pickers and returns instances on time; it never picks or forwards.
import {
  DEFAULT_OUTLIER_POLICY,
  type Ejection,
  OutlierDetector,
  type OutlierPolicy,
  type OutlierTarget,
} from "../balancer/outlier.js";
import type { LiveConfig } from "../live/live-config.js";
import { type Clock, realClock, type TimerHandle } from "../runtime/clock.js";
import type { Logger } from "../telemetry/logger.js";
import type { ProxyMetrics } from "../telemetry/metrics.js";
import type { ForwardOutcome } from "./forward/contract.js";

/*
 * What counts as a failed attempt: the instance itself could not serve.
 * - the connection could not be made, was reset before an answer, or the answer head did not come
 *   within the timeout, or was not HTTP;
 * - a peer sidecar said its app is down (503 LANEMESH_APP_UNAVAILABLE, intercepted on the first
 *   attempt).
 * An answer, whatever its status, is never counted: in a chain A → B → C, B's app passes on C's
 * 503, and counting it would eject a healthy B (and with it B's canary lane) whenever C fails.
 * (Envoy's consecutive-5xx mode has that cascade; its gateway-failure mode counts 502/503/504.)
 * Requests the client abandoned or let stall, requests that could not be sent as given, and waits
 * for a busy instance's connections (the instance is slow, not failing; ejecting it would move its
 * load onto the others) count neither way.
 */

/** The part of a ServiceHop's outcome handling that feeds outlier detection. */
export interface OutcomeSink {
  observe(target: OutlierTarget, outcome: ForwardOutcome): void;
}

export class Ejector implements OutcomeSink {
  private readonly detector: OutlierDetector;
  private timer: TimerHandle | undefined;
  private timerAt = 0;
  private readonly unsubscribe: () => void;
  private closed = false;

  constructor(
    private readonly live: LiveConfig,
    policy: Readonly<OutlierPolicy>,
    private readonly metrics: ProxyMetrics,
    private readonly log: Logger,
    private readonly clock: Clock = realClock,
  ) {
    this.detector = new OutlierDetector(policy, () => clock.now());
    const c = live.current();
    if (c !== undefined) this.detector.retain(c.endpoints);
    this.unsubscribe = live.onChange((next) => {
      // Only a new endpoint set matters; setEjected's own swap keeps the same endpoints array.
      if (this.detector.retain(next.endpoints)) this.apply();
    });
  }

  get enabled(): boolean {
    return this.detector.enabled;
  }

  observe(target: OutlierTarget, outcome: ForwardOutcome): void {
    if (outcome.ok) {
      if (this.detector.tracking) this.detector.success(target);
      return;
    }
    const kind = outcome.kind;
    if (
      kind === "aborted" ||
      kind === "bad-request" ||
      kind === "overloaded" ||
      kind === "client-timeout"
    ) {
      return;
    }
    if (this.closed) return;
    const ejected = this.detector.failure(target);
    if (ejected === null) return;
    const tag = ejected.tag ?? "base";
    this.metrics.ejections.inc({ service: ejected.service, tag });
    this.log.warn(
      {
        service: ejected.service,
        tag,
        instance: `${ejected.address}:${ejected.port}`,
        ejections: ejected.count,
        seconds: Math.round((ejected.until - this.clock.now()) / 100) / 10,
        cause: outcome.detail,
      },
      "instance ejected: consecutive failures",
    );
    this.apply();
  }

  /** The instances out of rotation now, for /config. */
  ejections(): Ejection[] {
    return this.detector.ejections();
  }

  close(): void {
    this.closed = true;
    this.unsubscribe();
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timer = undefined;
  }

  /** Push the ejected set to the pickers and the gauge, and time the next return. */
  private apply(): void {
    this.live.setEjected(this.detector.ejectedKeys());
    const list = this.detector.ejections();
    this.metrics.ejected.reset();
    for (const e of list) this.metrics.ejected.inc({ service: e.service, tag: e.tag ?? "base" });
    this.schedule();
  }

  private schedule(): void {
    const next = this.detector.nextReturn();
    if (next === null || this.closed) {
      if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
      this.timer = undefined;
      return;
    }
    if (this.timer !== undefined && this.timerAt <= next) return;
    if (this.timer !== undefined) this.clock.clearTimeout(this.timer);
    this.timerAt = next;
    this.timer = this.clock.setTimeout(
      () => this.returnDue(),
      Math.max(0, next - this.clock.now()),
    );
    // A return due later must not keep a stopping process alive (real timers only).
    (this.timer as { unref?: () => void }).unref?.();
  }

  private returnDue(): void {
    this.timer = undefined;
    if (this.closed) return;
    const back = this.detector.expire();
    for (const e of back) {
      this.log.info(
        { service: e.service, tag: e.tag ?? "base", instance: `${e.address}:${e.port}` },
        "instance returned to rotation",
      );
    }
    if (back.length > 0) this.apply();
    else this.schedule();
  }
}

/** The outlier detection of a proxy's picks, or null when turned off (consecutiveErrors 0). */
export function outlierFor(
  opts: {
    live: LiveConfig;
    metrics: ProxyMetrics;
    outlier?: Readonly<OutlierPolicy>;
    /** Time for ejections and returns (tests: a virtual clock). */
    clock?: Clock;
  },
  log: Logger,
): Ejector | null {
  const policy = opts.outlier ?? DEFAULT_OUTLIER_POLICY;
  if (policy.consecutiveErrors <= 0) return null;
  return new Ejector(opts.live, policy, opts.metrics, log, opts.clock);
}
