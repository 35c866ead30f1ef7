// The admin listener's endpoints (/healthz, /ready, /metrics, /config); it reports state, it never changes it.
import type { IncomingMessage, ServerResponse } from "node:http";
import type { Ejection } from "../balancer/outlier.js";
import type { LiveConfig } from "../live/live-config.js";
import type { ProxyMetrics } from "../telemetry/metrics.js";
import type { ProxyState } from "./handle.js";
import type { RequestHandler } from "./listen/listener.js";

/*
 * GET (or HEAD):
 * - /healthz  200 `ok` while the process runs.
 * - /ready    200 when a config is in force, the proxy is not draining and `status().ready` (if
 *             given) is true; else 503. JSON body: {ready, draining, version, detail}.
 * - /metrics  Prometheus text from the proxy's registry (docs/metrics.md);
 *             `lanemesh_config_age_seconds` is refreshed at each scrape.
 * - /config   JSON: {version, receivedAt, routes, groups, lanes, endpoints, ejected} of the config
 *             in force (503 with {version: null} before the first one); `ejected` lists the
 *             instances outlier detection took out of rotation, with when each returns.
 * Anything else: 404; other methods: 405.
 */

export interface ProxyStatus {
  ready: boolean;
  detail: Record<string, unknown>;
}

export interface AdminDeps {
  readonly role: "sidecar" | "gateway";
  readonly live: LiveConfig;
  readonly metrics: ProxyMetrics;
  readonly state: ProxyState;
  readonly status?: (() => ProxyStatus) | undefined;
  /** Instances out of rotation (outlier detection), when it runs. */
  readonly ejections?: (() => Ejection[]) | undefined;
}

function json(res: ServerResponse, status: number, body: unknown): void {
  const text = `${JSON.stringify(body, null, 2)}\n`;
  res.writeHead(status, {
    "content-type": "application/json; charset=utf-8",
    "content-length": Buffer.byteLength(text),
    "cache-control": "no-store",
  });
  res.end(text);
}

function text(res: ServerResponse, status: number, body: string): void {
  res.writeHead(status, {
    "content-type": "text/plain; charset=utf-8",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

export function adminHandler(deps: AdminDeps): RequestHandler {
  return async (req: IncomingMessage, res: ServerResponse) => {
    if (req.method !== "GET" && req.method !== "HEAD") {
      res.setHeader("allow", "GET, HEAD");
      return text(res, 405, "method not allowed\n");
    }
    const url = req.url ?? "/";
    const q = url.indexOf("?");
    const path = q === -1 ? url : url.slice(0, q);
    const c = deps.live.current();
    switch (path) {
      case "/healthz":
        return text(res, 200, "ok\n");
      case "/ready": {
        const status = deps.status?.();
        const ready = c !== undefined && !deps.state.draining && (status?.ready ?? true);
        return json(res, ready ? 200 : 503, {
          ready,
          role: deps.role,
          draining: deps.state.draining,
          version: c?.version ?? null,
          detail: status?.detail ?? {},
        });
      }
      case "/metrics": {
        if (c !== undefined) deps.metrics.configAge.set((Date.now() - c.receivedAt) / 1000);
        const body = await deps.metrics.registry.metrics();
        res.writeHead(200, {
          "content-type": deps.metrics.registry.contentType,
          "content-length": Buffer.byteLength(body),
        });
        res.end(body);
        return;
      }
      case "/config":
        if (c === undefined) return json(res, 503, { version: null });
        return json(res, 200, {
          version: c.version,
          receivedAt: new Date(c.receivedAt).toISOString(),
          routes: c.rules.routes,
          groups: c.rules.groups,
          lanes: c.rules.lanes,
          endpoints: c.endpoints,
          ejected: (deps.ejections?.() ?? []).map((e) => ({
            service: e.service,
            tag: e.tag,
            address: e.address,
            port: e.port,
            ejections: e.count,
            returnsAt: new Date(e.until).toISOString(),
          })),
        });
      default:
        return text(res, 404, "not found\n");
    }
  };
}
