// deploy/grafana/lanemesh-dashboard.json is a Grafana dashboard (schemaVersion, panels with PromQL targets, service and tag variables) whose every query names only metrics the proxies and the control plane export; deploy/prometheus/podmonitor.yaml scrapes the ports that serve them.
import assert from "node:assert/strict";
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { describe, it } from "node:test";
import type { Registry } from "prom-client";
import { parseAllDocuments } from "yaml";
import { ControlPlaneMetrics } from "../../src/control-plane/metrics.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import { REPO } from "../helpers/procs.js";

interface Target {
  refId?: unknown;
  expr?: unknown;
}
interface Panel {
  id?: unknown;
  type?: unknown;
  title?: unknown;
  gridPos?: { x?: unknown; y?: unknown; w?: unknown; h?: unknown };
  targets?: Target[];
}

const dashboard = JSON.parse(
  readFileSync(join(REPO, "deploy", "grafana", "lanemesh-dashboard.json"), "utf8"),
) as {
  title?: unknown;
  uid?: unknown;
  schemaVersion?: unknown;
  panels?: Panel[];
  templating?: { list?: { name?: unknown; type?: unknown; query?: unknown }[] };
};

/** Every series name a registry exports (a histogram's _bucket, _sum and _count). */
async function exported(registry: Registry): Promise<Set<string>> {
  const out = new Set<string>();
  for (const m of await registry.getMetricsAsJSON()) {
    const { name, type } = m as unknown as { name: string; type: string };
    out.add(name);
    if (type === "histogram") for (const s of ["_bucket", "_sum", "_count"]) out.add(name + s);
  }
  return out;
}

const EXPORTED = new Set([
  ...(await exported(new ProxyMetrics().registry)),
  ...(await exported(new ControlPlaneMetrics().registry)),
]);

/** Metric names in a PromQL expression: identifiers followed by `{`, `[`, `)` or a space, not functions or labels. */
function metricsIn(expr: string): string[] {
  const names = new Set<string>();
  for (const m of expr.matchAll(/\b(lanemesh_[a-z0-9_]+)\b/g)) names.add(m[1] as string);
  return [...names];
}

describe("the Grafana dashboard", () => {
  it("is a Grafana dashboard: title, uid, schemaVersion, panels on a grid with PromQL targets", () => {
    assert.equal(typeof dashboard.title, "string");
    assert.equal(typeof dashboard.uid, "string");
    assert.ok(
      Number.isInteger(dashboard.schemaVersion) && (dashboard.schemaVersion as number) >= 30,
    );
    const panels = dashboard.panels ?? [];
    assert.ok(panels.length >= 10);
    const ids = new Set<unknown>();
    for (const p of panels) {
      assert.ok(Number.isInteger(p.id) && !ids.has(p.id), `unique panel id: ${String(p.id)}`);
      ids.add(p.id);
      assert.ok(["row", "timeseries", "stat"].includes(p.type as string), `type ${String(p.type)}`);
      for (const k of ["x", "y", "w", "h"] as const)
        assert.ok(Number.isInteger(p.gridPos?.[k]), `${String(p.title)} gridPos.${k}`);
      assert.ok((p.gridPos?.x as number) + (p.gridPos?.w as number) <= 24);
      if (p.type === "row") continue;
      assert.ok((p.targets ?? []).length > 0, `${String(p.title)} has targets`);
      for (const t of p.targets ?? []) {
        assert.equal(typeof t.expr, "string");
        assert.equal(typeof t.refId, "string");
      }
    }
  });

  it("has service and tag variables, and the panels use them", () => {
    const vars = dashboard.templating?.list ?? [];
    for (const name of ["datasource", "service", "tag"])
      assert.ok(
        vars.some((v) => v.name === name),
        `variable ${name}`,
      );
    const exprs = (dashboard.panels ?? []).flatMap((p) =>
      (p.targets ?? []).map((t) => String(t.expr)),
    );
    assert.ok(exprs.some((e) => e.includes("$service")));
    assert.ok(exprs.some((e) => e.includes("$tag")));
    for (const v of vars.filter((x) => x.type === "query")) {
      const q = JSON.stringify(v.query);
      for (const m of metricsIn(q)) assert.ok(EXPORTED.has(m), `variable ${String(v.name)}: ${m}`);
    }
  });

  it("queries only metrics a proxy or the control plane exports, and the contract's ones", () => {
    const used = new Set<string>();
    for (const p of dashboard.panels ?? [])
      for (const t of p.targets ?? [])
        for (const m of metricsIn(String(t.expr))) {
          assert.ok(EXPORTED.has(m), `${String(p.title)}: ${m} is not exported by any registry`);
          used.add(m);
        }
    for (const m of [
      "lanemesh_requests_total",
      "lanemesh_request_duration_seconds_bucket",
      "lanemesh_fallback_total",
      "lanemesh_endpoints",
      "lanemesh_ejections_total",
      "lanemesh_config_version",
      "lanemesh_control_plane_connected",
      "lanemesh_cp_config_version",
    ])
      assert.ok(used.has(m), `the dashboard shows ${m}`);
    assert.ok(!EXPORTED.has("lanemesh_made_up_total"), "the check can fail");
  });

  it("is scraped by the PodMonitors: the sidecars' admin port and the control plane's http port", () => {
    const docs = parseAllDocuments(
      readFileSync(join(REPO, "deploy", "prometheus", "podmonitor.yaml"), "utf8"),
    ).map(
      (d) =>
        d.toJS() as {
          kind: string;
          spec: { podMetricsEndpoints: { port: string; path: string }[] };
        },
    );
    assert.deepEqual(
      docs.map((d) => d.kind),
      ["PodMonitor", "PodMonitor"],
    );
    const ports = docs.flatMap((d) => d.spec.podMetricsEndpoints.map((e) => `${e.port} ${e.path}`));
    assert.deepEqual(ports, ["lanemesh-admin /metrics", "http /metrics"]);
    const inject = readFileSync(join(REPO, "src", "kubernetes", "inject.ts"), "utf8");
    assert.match(inject, /name: "lanemesh-admin"/, "the injected sidecar names its admin port");
  });
});
