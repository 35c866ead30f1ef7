// The Prometheus metrics of a proxy (the names are part of the contract) on a per-process registry; it records, it never decides.
import { Registry } from "prom-client";
import {
  collectProcessMetrics,
  counter,
  gauge,
  LabeledCounter,
  LabeledHistogram,
} from "./series.js";

export type { CounterChild, HistogramChild } from "./series.js";

export type Direction = "inbound" | "outbound" | "gateway";

/** Distinct `tag` values the lane-context counters keep (clients choose tags); later ones are `other`. */
export const MAX_LANE_LABELS = 64;

/** One set of the contract's metrics. Each proxy owns one, so tests can run several in a process. */
export class ProxyMetrics {
  readonly registry = new Registry();

  readonly requests = new LabeledCounter(
    "lanemesh_requests_total",
    "Requests handled, by direction, target service, tag of the instance served (base when none) and status code.",
    ["direction", "service", "tag", "code"],
    this.registry,
  );

  readonly duration = new LabeledHistogram(
    "lanemesh_request_duration_seconds",
    "Time from request received to response headers sent upstream's answer, by direction, service and tag.",
    ["direction", "service", "tag"],
    [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    this.registry,
  );

  readonly fallback = new LabeledCounter(
    "lanemesh_fallback_total",
    "Tagged requests that went to a base instance, by service and the tag that was wanted.",
    ["service", "tag"],
    this.registry,
  );

  readonly laneAmbiguous = counter(
    this.registry,
    "lanemesh_lane_ambiguous_total",
    "Tagged requests whose trace id this sidecar also saw in another lane (base included) within the trace-cache TTL: the trace's outbound calls from here go to base. By the sidecar's service and the lane dropped.",
    ["service", "tag"],
  );

  readonly traceRestarted = counter(
    this.registry,
    "lanemesh_trace_restarted_total",
    "Gateway requests given a fresh trace id because their trace id already carried another lane at this gateway, by target service and the request's lane (base when untagged).",
    ["service", "tag"],
  );

  readonly endpoints = gauge(
    this.registry,
    "lanemesh_endpoints",
    "Healthy instances known, by service and tag (base for untagged).",
    ["service", "tag"],
  );

  readonly ejections = counter(
    this.registry,
    "lanemesh_ejections_total",
    "Instances taken out of rotation by outlier detection, by service and tag (base for untagged).",
    ["service", "tag"],
  );

  readonly ejected = gauge(
    this.registry,
    "lanemesh_endpoints_ejected",
    "Instances out of rotation now (outlier detection), by service and tag (base for untagged).",
    ["service", "tag"],
  );

  readonly configVersion = gauge(
    this.registry,
    "lanemesh_config_version",
    "Version of the config snapshot in force (numeric part; 0 before the first).",
  );

  readonly controlPlaneConnected = gauge(
    this.registry,
    "lanemesh_control_plane_connected",
    "1 while the stream to the control plane is up, else 0.",
  );

  readonly configRejected = counter(
    this.registry,
    "lanemesh_config_rejected_total",
    "Config snapshots or file edits refused by validation; the last good config kept serving.",
  );

  readonly configAge = gauge(
    this.registry,
    "lanemesh_config_age_seconds",
    "Seconds since the config in force was received from its source (grows while disconnected).",
  );

  /** `processMetrics`: prom-client's default process metrics too (see collectProcessMetrics). */
  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics) collectProcessMetrics(this.registry);
  }

  private readonly laneLabels = new Set<string>();

  /** The `tag` label of the lane-context counters: base for null, bounded (MAX_LANE_LABELS). */
  laneLabel(tag: string | null): string {
    if (tag === null) return "base";
    if (this.laneLabels.has(tag)) return tag;
    if (this.laneLabels.size >= MAX_LANE_LABELS) return "other";
    this.laneLabels.add(tag);
    return tag;
  }

  /** Replace the endpoint gauge with a fresh count of healthy instances per service and tag. */
  setEndpointCounts(
    counts: Iterable<{ service: string; tag: string | null; count: number }>,
  ): void {
    this.endpoints.reset();
    for (const c of counts)
      this.endpoints.set({ service: c.service, tag: c.tag ?? "base" }, c.count);
  }
}
