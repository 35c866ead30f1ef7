// 200 simulated proxies (raw gRPC clients of lanemesh.proto) subscribed to a real control plane all ACK one apply; prints how long it took.
import assert from "node:assert/strict";
import { performance } from "node:perf_hooks";
import { test } from "node:test";
import * as grpc from "@grpc/grpc-js";
import { startControlPlane } from "../../src/control-plane/start.js";
import { type ControlMessage, type MeshClient, meshDefinition } from "../../src/protocol/wire.js";
import { admin, bearer, proxyToken } from "../helpers/control-plane.js";
import { headerLane, mallRules, silentLog, tempDir, when } from "../helpers/sync-fixtures.js";

const PROXIES = 200;

/** A light proxy: says hello as a sidecar and ACKs every snapshot without validating it. */
class SimulatedProxy {
  readonly client: MeshClient;
  acked = 0;
  ackedAt = 0;
  lanes: string[] = [];

  constructor(target: string, i: number, tokens: Record<string, string>, onAck: () => void) {
    const { Client } = meshDefinition();
    this.client = new Client(target, grpc.credentials.createInsecure());
    const app = ["sc-a", "sc-b", "sc-c"][i % 3] as string;
    const call = this.client.Stream(bearer(tokens[app] as string));
    call.on("error", () => {});
    call.on("data", (m: ControlMessage) => {
      const s = m.snapshot;
      if (!s) return;
      call.write({ ack: { version: s.version, nonce: s.nonce } });
      this.acked = Number(s.version);
      this.ackedAt = performance.now();
      this.lanes = s.lanes;
      onAck();
    });
    call.write({
      hello: {
        nodeId: `sim-${i}`,
        role: "sidecar",
        app,
        tag: i % 2 === 0 ? "" : "gray",
        address: `127.0.0.1:${20_000 + i}`,
      },
    });
  }
}

test(`${PROXIES} subscribed proxies all ACK a change`, async (t) => {
  const dir = tempDir("cp-scale");
  const cp = await startControlPlane({
    dataDir: dir.path,
    grpcPort: 0,
    httpPort: 0,
    log: silentLog,
  });
  const proxies: SimulatedProxy[] = [];
  t.after(async () => {
    for (const p of proxies) p.client.close();
    await cp.close();
    dir.remove();
  });
  const apply = async (values: unknown[]) => {
    const r = await admin(cp, "POST", "v1/resources", {
      documents: values.map((value, doc) => ({ file: "scale.yaml", doc, value })),
    });
    assert.ok(r.ok, r.ok ? "" : r.message);
    return (r.body as { version: number }).version;
  };
  await apply(mallRules());

  const listeners = new Set<() => void>();
  const notify = () => {
    for (const cb of listeners) cb();
  };
  const onAck = (cb: () => void) => {
    listeners.add(cb);
    return () => listeners.delete(cb);
  };
  // One bootstrap token per service, shared by its instances as a deployment shares a secret.
  const tokens = Object.fromEntries(
    ["sc-a", "sc-b", "sc-c"].map((app) => [app, proxyToken(cp, "sidecar", app)]),
  );
  const joinStart = performance.now();
  for (let i = 0; i < PROXIES; i++)
    proxies.push(new SimulatedProxy(cp.grpcTarget, i, tokens, notify));

  // Every proxy joined and settled on the version that includes all 200 registrations.
  const cpi = cp.controlPlane;
  await when(
    (cb) => cpi.onProxyChange(cb),
    () => {
      const v = String(cpi.version());
      const list = cpi.proxies();
      return (
        list.length === PROXIES &&
        list.every((p) => p.ackedVersion === v && p.pendingVersion === null) &&
        cpi.list("instances").length === PROXIES
      );
    },
    "all proxies to join and settle",
    25_000,
  );
  const joinMs = performance.now() - joinStart;

  const t0 = performance.now();
  const version = await apply([headerLane("blue", "mall", "blue")]);
  await when(
    onAck,
    () => proxies.every((p) => p.acked >= version),
    `every proxy to ACK version ${version}`,
    25_000,
  );
  const lastAck = Math.max(...proxies.map((p) => p.ackedAt));
  const ms = lastAck - t0;
  for (const p of proxies)
    assert.ok(
      p.lanes.some((l) => l.includes('"blue"')),
      "the new lane reached every proxy",
    );

  // The control plane sees every ACK too.
  await when(
    (cb) => cpi.onProxyChange(cb),
    () => cpi.proxies().every((p) => Number(p.ackedVersion) >= version),
    "the control plane to record every ACK",
  );
  const metrics = await fetch(`${cp.url}/metrics`).then((r) => r.text());
  assert.match(metrics, new RegExp(`^lanemesh_cp_connected_proxies ${PROXIES}$`, "m"));
  const figure = `${PROXIES} proxies: apply → last ACK ${ms.toFixed(0)} ms (debounce 100 ms included); all joined and settled in ${joinMs.toFixed(0)} ms`;
  t.diagnostic(figure);
  assert.ok(ms < 10_000, figure);
});
