// The Prometheus metrics of a proxy (the names are part of the contract) on a per-process registry; it records, it never decides.
import { LoadBook } from "./load.js";
import { Registry } from "./prom.js";
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

  /** The same requests and fallbacks, counted for the control plane's load reports. */
  readonly load = new LoadBook();

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

  readonly overloaded = counter(
    this.registry,
    "lanemesh_overloaded_total",
    "Requests answered 503 LANEMESH_OVERLOADED (the instance's connections all busy past the pending bound or timeout, or the listener's tunnels at their bound), by direction and service.",
    ["direction", "service"],
  );

  readonly clientTimeouts = counter(
    this.registry,
    "lanemesh_client_timeouts_total",
    "Exchanges ended because the client stalled, by direction and kind: body (no request body progress for --client-body-timeout), send (the response not read for --send-timeout), tunnel-idle (no byte either way for --tunnel-idle-timeout).",
    ["direction", "kind"],
  );

  readonly h2Refused = counter(
    this.registry,
    "lanemesh_http2_refused_total",
    "HTTP/2 client connections closed by the proxy's abuse bounds, by direction and reason: rapid-reset (streams reset faster than the bound), protocol (the session failed: CONTINUATION flood, header list over the bound, too many refused streams or invalid frames), idle (no stream for the idle timeout).",
    ["direction", "reason"],
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

  readonly interceptedConnections = counter(
    this.registry,
    "lanemesh_intercepted_connections_total",
    "Connections accepted under interception, by direction and path: http (redirected, lane-aware HTTP), direct (not redirected: the sidecar used as an HTTP proxy), tcp (piped to the original destination unchanged).",
    ["direction", "path"],
  );

  readonly configOutOfOrder = counter(
    this.registry,
    "lanemesh_config_out_of_order_total",
    "Snapshots refused because they would take the config back: reason downgrade (a lower version of the store epoch in force) or diverged (another store's config, not adopting ours).",
    ["reason"],
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
