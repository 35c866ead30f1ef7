// A proxy's process metrics are prom-client's default metrics, series for series, without loading prom-client's index or OpenTelemetry; the CPU counters made here count the process's CPU.
import assert from "node:assert/strict";
import { createRequire } from "node:module";
import { describe, it } from "node:test";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";

const require = createRequire(import.meta.url);

/** The metric names a registry's text exposition holds (its `# TYPE` lines). */
const names = (text: string): string[] =>
  [...text.matchAll(/^# TYPE (\S+) /gm)].map((m) => m[1] as string);

/** Values of one unlabelled series in a text exposition. */
const value = (text: string, name: string): number =>
  Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? Number.NaN);

describe("process metrics", () => {
  it("load neither prom-client's index nor OpenTelemetry", async () => {
    const m = new ProxyMetrics({ processMetrics: true });
    await m.registry.metrics();
    const loaded = Object.keys(require.cache);
    assert.ok(
      loaded.some((f) => f.includes("/prom-client/lib/metrics/eventLoopLag.js")),
      "prom-client's own process metrics are in use",
    );
    assert.deepEqual(
      loaded.filter((f) => f.endsWith("/prom-client/index.js") || f.includes("@opentelemetry")),
      [],
    );
  });

  it("are the series prom-client's collectDefaultMetrics makes, in its order", async () => {
    const ours = new ProxyMetrics({ processMetrics: true });
    const bare = new ProxyMetrics();
    const prom = (await import("prom-client")) as typeof import("prom-client");
    const reference = new prom.Registry();
    prom.collectDefaultMetrics({ register: reference, eventLoopMonitoringPrecision: 100 });
    const lanemesh = new Set(names(await bare.registry.metrics()));
    const process = names(await ours.registry.metrics()).filter((n) => !lanemesh.has(n));
    assert.deepEqual(process, names(await reference.metrics()));
    assert.ok(process.includes("process_cpu_seconds_total") && process.length > 10);
  });

  it("count the CPU the process spends: user + system = total, and growing", async () => {
    const m = new ProxyMetrics({ processMetrics: true });
    const first = await m.registry.metrics();
    const end = process.cpuUsage().user + 20_000;
    while (process.cpuUsage().user < end) {
      // spend 20 ms of user CPU
    }
    const second = await m.registry.metrics();
    const user = value(second, "process_cpu_user_seconds_total");
    const system = value(second, "process_cpu_system_seconds_total");
    const total = value(second, "process_cpu_seconds_total");
    assert.ok(user - value(first, "process_cpu_user_seconds_total") >= 0.02, second);
    assert.ok(Math.abs(user + system - total) < 1e-9, `${user} + ${system} ≠ ${total}`);
  });
});
