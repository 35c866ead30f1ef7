// The control plane's Prometheus metrics on their own registry; it records, it never decides.
import { Registry } from "prom-client";
import { collectProcessMetrics, counter, gauge, histogram } from "../telemetry/series.js";

export class ControlPlaneMetrics {
  readonly registry = new Registry();

  readonly connectedProxies = gauge(
    this.registry,
    "lanemesh_cp_connected_proxies",
    "Proxy streams currently open (after their hello).",
  );

  readonly pushes = counter(
    this.registry,
    "lanemesh_cp_pushes_total",
    "Snapshots sent to proxies.",
  );

  readonly pushDuration = histogram(
    this.registry,
    "lanemesh_cp_push_duration_seconds",
    "Time from sending a snapshot to its ACK or NACK.",
    [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
  );

  readonly nacks = counter(
    this.registry,
    "lanemesh_cp_nacks_total",
    "Snapshots refused by a proxy (NACK).",
  );

  readonly version = gauge(
    this.registry,
    "lanemesh_cp_config_version",
    "Version of the newest snapshot the control plane serves.",
  );

  /** `processMetrics`: prom-client's default process metrics too (see collectProcessMetrics). */
  constructor(opts: { processMetrics?: boolean } = {}) {
    if (opts.processMetrics) collectProcessMetrics(this.registry);
  }
}
