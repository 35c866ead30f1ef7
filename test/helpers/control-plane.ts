// Test harness for control-plane tests: a control plane on port 0, subscribed proxies (real startSync), raw sidecar streams; no assertions here.
import {
  type RunningControlPlane,
  startControlPlane,
} from "../../src/control-plane/control-plane.js";
import { LiveConfig } from "../../src/live/live-config.js";
import type { ControlMessage, MeshClient, MeshStream } from "../../src/protocol/wire.js";
import { type Subscription, startSync } from "../../src/sync/client.js";
import { ProxyMetrics } from "../../src/telemetry/metrics.js";
import { silentLog, when } from "./sync-fixtures.js";

export function docs(values: unknown[], file = "test.yaml") {
  return { documents: values.map((value, doc) => ({ file, doc, value })) };
}

export async function startCp(
  dataDir: string,
  graceSeconds = 5,
  restoreGraceSeconds = 35,
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
  });
}

export interface SubscribedProxy {
  live: LiveConfig;
  metrics: ProxyMetrics;
  sub: Subscription;
  /** Resolves once the config in force is `version`. */
  at(version: string): Promise<void>;
}

export function subscribe(target: string, stateFile: string, nodeId = "gw-1"): SubscribedProxy {
  const metrics = new ProxyMetrics();
  const live = new LiveConfig({ metrics });
  const sub = startSync({
    target,
    hello: { nodeId, role: "gateway", gateway: "default" },
    live,
    metrics,
    stateFile,
    log: silentLog,
    backoff: { initialMs: 50, maxMs: 200 },
  });
  const at = (version: string) =>
    when(
      (cb) => live.onChange(cb),
      () => live.current()?.version === version,
      `proxy at version ${version}`,
    );
  return { live, metrics, sub, at };
}

/** A raw sidecar stream: hello with an address, ACK everything. Returns the call to cancel. */
export function rawSidecar(client: MeshClient, nodeId: string, port: number): MeshStream {
  const call = client.Stream();
  call.on("error", () => {});
  call.on("data", (m: ControlMessage) => {
    if (m.snapshot) call.write({ ack: { version: m.snapshot.version, nonce: m.snapshot.nonce } });
  });
  call.write({
    hello: { nodeId, role: "sidecar", app: "sc-b", tag: "", address: `127.0.0.1:${port}` },
  });
  return call;
}

export async function gauge(g: {
  get(): Promise<{ values: { value: number }[] }>;
}): Promise<number> {
  return (await g.get()).values[0]?.value ?? Number.NaN;
}
