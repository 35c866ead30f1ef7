// The control-plane client's own series on a proxy's registry (declared once per registry); it records, it never decides.
import type { Counter, Registry } from "prom-client";
import type { ProxyMetrics } from "../telemetry/metrics.js";
import { counter } from "../telemetry/series.js";

const declared = new WeakMap<Registry, Counter<"reason">>();

/** `lanemesh_config_out_of_order_total{reason}`: snapshots refused because they go backwards. */
export function outOfOrder(metrics: ProxyMetrics): Counter<"reason"> {
  let c = declared.get(metrics.registry);
  if (!c) {
    c = counter(
      metrics.registry,
      "lanemesh_config_out_of_order_total",
      "Snapshots refused because they would take the config back: reason downgrade (a lower version of the store epoch in force) or diverged (another store's config, not adopting ours).",
      ["reason"],
    );
    declared.set(metrics.registry, c);
  }
  return c;
}
