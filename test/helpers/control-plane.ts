// Test harness for control-plane tests: a control plane on port 0, its admin API, proxy tokens, subscribed proxies (real startSync), raw sidecar streams; no assertions here.
import { writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import * as grpc from "@grpc/grpc-js";
import { callServer, type ServerReply } from "../../src/control-plane/api-client.js";
import type { ControlPlaneOptions } from "../../src/control-plane/control-plane.js";
import {
  type ListenOptions,
  type RunningControlPlane,
  startControlPlane,
} from "../../src/control-plane/start.js";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ControlMessage, MeshClient, MeshStream } from "../../src/protocol/wire.js";
import { type Subscription, type SyncOptions, startSync } from "../../src/sync/client.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import { silentLog, when } from "./sync-fixtures.js";

export function docs(values: unknown[], file = "test.yaml") {
  return { documents: values.map((value, doc) => ({ file, doc, value })) };
}

export async function startCp(
  dataDir: string,
  graceSeconds = 1,
  restoreGraceSeconds = 35,
  more: Partial<ControlPlaneOptions & ListenOptions> = {},
): Promise<RunningControlPlane> {
  return startControlPlane({
    dataDir,
    grpcPort: 0,
    httpPort: 0,
    graceSeconds,
    restoreGraceSeconds,
    debounceMs: 20,
    debounceMaxMs: 200,
    log: silentLog,
    ...more,
  });
}

/** A request to the control plane's API with its admin token (what `lanemesh apply` sends). */
export function admin(
  cp: RunningControlPlane,
  method: "GET" | "POST" | "PUT" | "DELETE",
  path: string,
  json?: unknown,
): Promise<ServerReply> {
  return callServer(cp.url, method, path, json, { token: cp.adminToken });
}

/** A bootstrap token of this control plane: a sidecar's for `name`, or a gateway's. */
export function proxyToken(
  cp: RunningControlPlane,
  role: "sidecar" | "gateway",
  name: string,
  ttlSeconds = 3600,
): string {
  return cp.controlPlane.issueToken({
    role,
    services: role === "sidecar" ? [name] : [],
    gateways: role === "gateway" ? [name] : [],
    ttlSeconds,
  }).token;
}

/** Write `token` to `dir/name.token` (what --token-file reads); returns the path. */
export function tokenFile(dir: string, name: string, token: string): string {
  const file = join(dir, `${name}.token`);
  writeFileSync(file, `${token}\n`, { mode: 0o600 });
  return file;
}

export interface SubscribedProxy {
  live: LiveConfig;
  metrics: ProxyMetrics;
  sub: Subscription;
  /** Resolves once the config in force is `version`. */
  at(version: string): Promise<void>;
}

/**
 * A gateway subscribed with startSync. `credential`: a token file; given a running control plane,
 * a gateway token of it is written beside `stateFile`.
 */
export function subscribe(
  target: string,
  stateFile: string,
  nodeId = "gw-1",
  credential?: RunningControlPlane | string,
  more: Partial<SyncOptions> = {},
): SubscribedProxy {
  const metrics = new ProxyMetrics();
  const live = new LiveConfig({ metrics });
  const tokenPath =
    typeof credential === "string"
      ? credential
      : credential
        ? tokenFile(
            dirname(stateFile),
            `${nodeId}-gw`,
            proxyToken(credential, "gateway", "default"),
          )
        : undefined;
  const sub = startSync({
    target,
    hello: { nodeId, role: "gateway", gateway: "default" },
    live,
    metrics,
    stateFile,
    log: silentLog,
    backoff: { initialMs: 50, maxMs: 200 },
    ...(tokenPath ? { tokenFile: tokenPath } : {}),
    ...more,
  });
  const at = (version: string) =>
    when(
      (cb) => live.onChange(cb),
      () => live.current()?.version === version,
      `proxy at version ${version}`,
    );
  return { live, metrics, sub, at };
}

/** Call metadata carrying `token` as the proxies send it. */
export function bearer(token: string): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set("authorization", `Bearer ${token}`);
  return m;
}

/**
 * A raw sidecar stream: hello with an address, ACK everything. Returns the call to cancel.
 * `token` undefined sends no credential.
 */
export function rawSidecar(
  client: MeshClient,
  nodeId: string,
  port: number,
  token: string | undefined,
  app = "sc-b",
): MeshStream {
  const call = client.Stream(token === undefined ? new grpc.Metadata() : bearer(token));
  call.on("error", () => {});
  call.on("data", (m: ControlMessage) => {
    if (m.snapshot) call.write({ ack: { version: m.snapshot.version, nonce: m.snapshot.nonce } });
  });
  call.write({
    hello: { nodeId, role: "sidecar", app, tag: "", address: `127.0.0.1:${port}` },
  });
  return call;
}

/** How a stream ended (resolves on its status). */
export function statusOf(call: MeshStream): Promise<grpc.StatusObject> {
  return new Promise((resolve) => call.on("status", resolve));
}

export async function gauge(g: {
  get(): Promise<{ values: { value: number }[] }>;
}): Promise<number> {
  return (await g.get()).values[0]?.value ?? Number.NaN;
}
