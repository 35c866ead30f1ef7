// The Prometheus metrics of DESIGN.md §7 on a per-process registry; it records, it never decides.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export type Direction = "inbound" | "outbound" | "gateway";

/** One set of the contract's metrics. Each proxy owns one, so tests can run several in a process. */
export class ProxyMetrics {
  readonly registry = new Registry();

  readonly requests = new Counter({
    name: "lanemesh_requests_total",
    help: "Requests handled, by direction, target service, tag of the instance served (base when none) and status code.",
    labelNames: ["direction", "service", "tag", "code"] as const,
    registers: [this.registry],
  });

  readonly duration = new Histogram({
    name: "lanemesh_request_duration_seconds",
    help: "Time from request received to response headers sent upstream's answer, by direction, service and tag.",
    labelNames: ["direction", "service", "tag"] as const,
    buckets: [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly fallback = new Counter({
    name: "lanemesh_fallback_total",
    help: "Tagged requests that went to a base instance, by service and the tag that was wanted.",
    labelNames: ["service", "tag"] as const,
    registers: [this.registry],
  });

  readonly endpoints = new Gauge({
    name: "lanemesh_endpoints",
    help: "Healthy instances known, by service and tag (base for untagged).",
    labelNames: ["service", "tag"] as const,
    registers: [this.registry],
  });

  readonly configVersion = new Gauge({
    name: "lanemesh_config_version",
    help: "Version of the config snapshot in force (numeric part; 0 before the first).",
    registers: [this.registry],
  });

  readonly controlPlaneConnected = new Gauge({
    name: "lanemesh_control_plane_connected",
    help: "1 while the stream to the control plane is up, else 0.",
    registers: [this.registry],
  });

  readonly configRejected = new Counter({
    name: "lanemesh_config_rejected_total",
    help: "Config snapshots or file edits refused by validation; the last good config kept serving.",
    registers: [this.registry],
  });

  readonly configAge = new Gauge({
    name: "lanemesh_config_age_seconds",
    help: "Seconds since the config in force was received from its source (grows while disconnected).",
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics) collectDefaultMetrics({ register: this.registry });
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
