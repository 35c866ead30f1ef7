// Test helper: the seed's mesh in one process (gateway, one sidecar per app instance, recording chain apps) on 127.0.0.1 port 0; no assertions here.
import { request } from "node:http";
import {
  API_VERSION,
  type Endpoint,
  type Lane,
  type LaneGroup,
  type Route,
  type RuleSet,
} from "../../src/config/types.js";
import { LiveConfig } from "../../src/live/live-config.js";
import { type GatewayOptions, startGateway } from "../../src/proxy/gateway.js";
import type { ProxyHandle } from "../../src/proxy/handle.js";
import { type SidecarOptions, startSidecar } from "../../src/proxy/sidecar.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import { TestUpstream } from "./upstream.js";

export function route(name: string, prefix: string, service: string): Route {
  return {
    apiVersion: API_VERSION,
    kind: "Route",
    metadata: { name },
    spec: { gateway: "default", match: { prefix }, service },
  };
}

export function group(name: string, routes: string[], apps: string[]): LaneGroup {
  return {
    apiVersion: API_VERSION,
    kind: "LaneGroup",
    metadata: { name },
    spec: { entry: { gateway: "default", routes }, apps, mode: "content" },
  };
}

/** A content lane matching `header: value`. */
export function lane(
  name: string,
  tag: string,
  header: string,
  value: string,
  more: Partial<Lane["spec"]> = {},
): Lane {
  return {
    apiVersion: API_VERSION,
    kind: "Lane",
    metadata: { name },
    spec: {
      group: "mall",
      tag,
      enabled: true,
      match: { mode: "all", conditions: [{ type: "header", name: header, op: "==", value }] },
      ...more,
    },
  };
}

/** The seed: /a → sc-a; lane gray (header canary: gray) over the whole mall group. */
export function seedRules(laneSpec: Partial<Lane["spec"]> = {}): RuleSet {
  return {
    routes: [route("a-route", "/a", "sc-a")],
    groups: [group("mall", ["a-route"], ["sc-a", "sc-b", "sc-c"])],
    lanes: [lane("gray", "gray", "canary", "gray", laneSpec)],
  };
}

export function endpoint(service: string, port: number, tag: string | null = null): Endpoint {
  return { service, address: "127.0.0.1", port, tag, weight: 100, healthy: true, metadata: {} };
}

/** A sidecar on 127.0.0.1 with ephemeral ports and quiet test defaults; `opts` overrides any. */
export function loopbackSidecar(
  opts: Pick<SidecarOptions, "app" | "tag" | "appPort" | "live"> & Partial<SidecarOptions>,
): Promise<ProxyHandle> {
  return startSidecar({
    appHost: "127.0.0.1",
    bindHost: "127.0.0.1",
    inboundPort: 0,
    outboundPort: 0,
    adminPort: 0,
    tagHeader: "x-lane-tag",
    metrics: new ProxyMetrics(),
    accessLog: false,
    drainSeconds: 1,
    ...opts,
  });
}

/** A gateway `default` on 127.0.0.1 with ephemeral ports and quiet test defaults; `opts` overrides any. */
export function loopbackGateway(
  opts: Pick<GatewayOptions, "live"> & Partial<GatewayOptions>,
): Promise<ProxyHandle> {
  return startGateway({
    gateway: "default",
    bindHost: "127.0.0.1",
    port: 0,
    adminPort: 0,
    tagHeader: "x-lane-tag",
    trustTagHeader: false,
    metrics: new ProxyMetrics(),
    accessLog: false,
    drainSeconds: 1,
    ...opts,
  });
}

export interface InstanceSpec {
  key: string;
  service: string;
  tag: string | null;
  /** Service the app calls next through its sidecar, if any. */
  next?: string;
}

export interface MeshInstance extends InstanceSpec {
  app: TestUpstream;
  sidecar: ProxyHandle;
  metrics: ProxyMetrics;
}

export interface Mesh {
  readonly live: LiveConfig;
  readonly gateway: ProxyHandle;
  readonly gatewayMetrics: ProxyMetrics;
  readonly instances: Record<string, MeshInstance>;
  /** One endpoint per instance: its sidecar's inbound address. */
  endpoints(): Endpoint[];
  close(): Promise<void>;
}

/** The seed's five instances: A, A gray, B, C, C gray. */
export const SEED_INSTANCES: InstanceSpec[] = [
  { key: "a", service: "sc-a", tag: null, next: "sc-b" },
  { key: "ag", service: "sc-a", tag: "gray", next: "sc-b" },
  { key: "b", service: "sc-b", tag: null, next: "sc-c" },
  { key: "c", service: "sc-c", tag: null },
  { key: "cg", service: "sc-c", tag: "gray" },
];

/** Call `service` through the sidecar's outbound port (Host header style). */
function callNext(
  outboundPort: number,
  service: string,
  headers: Record<string, string>,
): Promise<{ status: number; body: string }> {
  return new Promise((resolve, reject) => {
    const req = request(
      {
        host: "127.0.0.1",
        port: outboundPort,
        path: "/",
        headers: { host: service, ...headers },
        agent: false,
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on("data", (c: Buffer) => chunks.push(c));
        res.on("end", () =>
          resolve({ status: res.statusCode ?? 0, body: Buffer.concat(chunks).toString() }),
        );
      },
    );
    req.on("error", reject);
    req.end();
  });
}

/**
 * Start apps, sidecars and a gateway sharing one LiveConfig. Apps answer `Name[tag] -> next`
 * and copy only the `forward` headers (lower-case names) onto their call to the next service,
 * as lane-unaware apps do.
 */
export async function startMesh(opts: {
  rules: RuleSet;
  instances?: InstanceSpec[];
  forward?: string[];
  random?: () => number;
  accessLog?: boolean;
}): Promise<Mesh> {
  const forward = opts.forward ?? ["traceparent"];
  const live = new LiveConfig({ gateway: "default", random: opts.random ?? (() => 0) });
  const instances: Record<string, MeshInstance> = {};
  const outboundPorts: Record<string, number> = {};
  for (const spec of opts.instances ?? SEED_INSTANCES) {
    const label = `${spec.service.slice(3).toUpperCase()}${spec.tag ?? ""}`;
    const app = await TestUpstream.start(label, (req, _received, res) => {
      if (spec.next === undefined) {
        res.end(label);
        return;
      }
      const headers: Record<string, string> = {};
      for (const name of forward) {
        const v = req.headers[name];
        if (typeof v === "string") headers[name] = v;
      }
      callNext(outboundPorts[spec.key] as number, spec.next, headers).then(
        (next) => {
          res.writeHead(next.status);
          res.end(`${label} -> ${next.body}`);
        },
        (err: Error) => {
          res.writeHead(500);
          res.end(`${label} -> ${err.message}`);
        },
      );
    });
    const metrics = new ProxyMetrics();
    const sidecar = await loopbackSidecar({
      app: spec.service,
      tag: spec.tag,
      appPort: app.port,
      live,
      metrics,
      accessLog: opts.accessLog ?? false,
    });
    outboundPorts[spec.key] = sidecar.ports.outbound as number;
    instances[spec.key] = { ...spec, app, sidecar, metrics };
  }
  const gatewayMetrics = new ProxyMetrics();
  const gateway = await loopbackGateway({
    live,
    metrics: gatewayMetrics,
    accessLog: opts.accessLog ?? false,
  });
  const endpoints = () =>
    Object.values(instances).map((i) =>
      endpoint(i.service, i.sidecar.ports.inbound as number, i.tag),
    );
  live.setAll(opts.rules, endpoints(), "1");
  return {
    live,
    gateway,
    gatewayMetrics,
    instances,
    endpoints,
    async close() {
      await gateway.close();
      for (const i of Object.values(instances)) {
        await i.sidecar.close();
        await i.app.close();
      }
    },
  };
}
