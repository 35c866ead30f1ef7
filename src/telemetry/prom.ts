// The parts of prom-client a proxy uses, each required from its own file, and prom-client's process metrics with their CPU counters made here: the package's index also loads its push-gateway client, cluster aggregator and summaries, and its CPU metric OpenTelemetry's API (for exemplars no proxy makes), about 1 MB of a sidecar's RSS; it declares no lanemesh metric.
import { createRequire } from "node:module";
import type * as Prom from "prom-client";

const require = createRequire(import.meta.url);

/*
 * Files of prom-client 15, which has no "exports" map (its files are there to require): a version
 * that moves them fails here, at the first start, and in test/telemetry/prom.test.ts.
 */
export const Registry = require("prom-client/lib/registry") as typeof Prom.Registry;
export type Registry = Prom.Registry;
export const Counter = require("prom-client/lib/counter") as typeof Prom.Counter;
export type Counter<L extends string = string> = Prom.Counter<L>;
export const Gauge = require("prom-client/lib/gauge") as typeof Prom.Gauge;
export type Gauge<L extends string = string> = Prom.Gauge<L>;
export const Histogram = require("prom-client/lib/histogram") as typeof Prom.Histogram;
export type Histogram<L extends string = string> = Prom.Histogram<L>;

type MetricModule = (registry: Registry, config: { eventLoopMonitoringPrecision: number }) => void;

/** prom-client's default metrics (lib/defaultMetrics.js), in its order, but its CPU counters. */
const PROCESS_METRICS = [
  "processStartTime",
  "osMemoryHeap",
  "processOpenFileDescriptors",
  "processMaxFileDescriptors",
  "eventLoopLag",
  ...(typeof process.getActiveResourcesInfo === "function" ? ["processResources"] : []),
  "processHandles",
  "processRequests",
  "heapSizeAndUsed",
  "heapSpacesSizeAndUsed",
  "version",
  "gc",
];

/**
 * prom-client's default metrics on `registry`, the same series: its CPU counters
 * (`process_cpu_user_seconds_total`, `…_system_…`, `process_cpu_seconds_total`) are made here
 * as it makes them, without the OpenTelemetry import; the others are its own modules.
 */
export function collectDefaultMetrics(
  registry: Registry,
  config: { eventLoopMonitoringPrecision: number },
): void {
  let last = process.cpuUsage();
  const user = new Counter({
    name: "process_cpu_user_seconds_total",
    help: "Total user CPU time spent in seconds.",
    registers: [registry],
    // One collect sets all three, as prom-client's does.
    collect() {
      const now = process.cpuUsage();
      const u = (now.user - last.user) / 1e6;
      const s = (now.system - last.system) / 1e6;
      last = now;
      user.inc(u);
      system.inc(s);
      total.inc(u + s);
    },
  });
  const system = new Counter({
    name: "process_cpu_system_seconds_total",
    help: "Total system CPU time spent in seconds.",
    registers: [registry],
  });
  const total = new Counter({
    name: "process_cpu_seconds_total",
    help: "Total user and system CPU time spent in seconds.",
    registers: [registry],
  });
  for (const name of PROCESS_METRICS)
    (require(`prom-client/lib/metrics/${name}`) as MetricModule)(registry, config);
}
