// The control plane's Prometheus metrics on their own registry; it records, it never decides.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from "prom-client";

export class ControlPlaneMetrics {
  readonly registry = new Registry();

  readonly connectedProxies = new Gauge({
    name: "lanemesh_cp_connected_proxies",
    help: "Proxy streams currently open (after their hello).",
    registers: [this.registry],
  });

  readonly pushes = new Counter({
    name: "lanemesh_cp_pushes_total",
    help: "Snapshots sent to proxies.",
    registers: [this.registry],
  });

  readonly pushDuration = new Histogram({
    name: "lanemesh_cp_push_duration_seconds",
    help: "Time from sending a snapshot to its ACK or NACK.",
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly nacks = new Counter({
    name: "lanemesh_cp_nacks_total",
    help: "Snapshots refused by a proxy (NACK).",
    registers: [this.registry],
  });

  readonly version = new Gauge({
    name: "lanemesh_cp_config_version",
    help: "Version of the newest snapshot the control plane serves.",
    registers: [this.registry],
  });

  constructor(opts: { processMetrics?: boolean } = {}) {
    // The event-loop monitor samples every 100 ms, as in the proxies: prom-client's 10 ms default
    // costs an idle process about 7 ms of CPU per second.
    if (opts.processMetrics) {
      collectDefaultMetrics({ register: this.registry, eventLoopMonitoringPrecision: 100 });
    }
  }
}
