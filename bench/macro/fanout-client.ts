// Simulated proxies for the fan-out benchmark, run in their own process: N grpc-js bidi streams that
// say hello and ACK every snapshot, and the applies whose propagation they time; they never
// validate a snapshot (the real proxies' cost is not what is measured here).
// Run: node dist/bench/macro/fanout-client.js --grpc-port N --http-port N --proxies 1000
//        --applies 10 --cp-pid PID [--register]      (prints one JSON line: a FanoutClientResult)
import { readFileSync } from "node:fs";
import http from "node:http";
import { dirname, join } from "node:path";
import { parseArgs } from "node:util";
import * as grpc from "@grpc/grpc-js";
import { signToken } from "../../src/control-plane/tokens.js";
import { type ControlMessage, type MeshStream, meshDefinition } from "../../src/protocol/wire.js";
import { cpuSeconds } from "./procs.js";

export interface FanoutClientResult {
  proxies: number;
  registered: boolean;
  /** Seconds from the first hello to every stream holding its first snapshot. */
  connectS: number;
  /** Per apply: ms from the start of the apply call to the last stream's ACK of the change. */
  samplesMs: number[];
  /** Per apply: ms the apply call itself took (POST /v1/resources, what `lanemesh apply` sends). */
  applyCallMs: number[];
  /** Control-plane CPU seconds over all the applies (not the connection phase). */
  cpuS: number;
  /** Bytes of the last snapshot's documents, as a size hint. */
  snapshotBytes: number;
}

const { values } = parseArgs({
  options: {
    "grpc-port": { type: "string" },
    "http-port": { type: "string" },
    proxies: { type: "string", default: "1000" },
    applies: { type: "string", default: "10" },
    "cp-pid": { type: "string" },
    register: { type: "boolean", default: false },
    "admin-token-file": { type: "string" },
  },
});

/** The control plane's admin token: every change through its API needs it. */
const adminToken =
  values["admin-token-file"] === undefined
    ? undefined
    : readFileSync(values["admin-token-file"], "utf8").trim();

/**
 * The simulated sidecars' credential: a bootstrap token for the 100 simulated apps, signed with the
 * control plane's key from the same data dir (what `lanemesh token create` does).
 */
const proxyMetadata = new grpc.Metadata();
if (values["admin-token-file"] !== undefined) {
  const key = readFileSync(join(dirname(values["admin-token-file"]), "token-signing.key"), "utf8");
  const { token } = signToken(Buffer.from(key.trim(), "hex"), {
    role: "sidecar",
    services: Array.from({ length: 100 }, (_, i) => `sim-${i}`),
    ttlSeconds: 24 * 3600,
  });
  proxyMetadata.set("authorization", `Bearer ${token}`);
}

const N = Number(values.proxies);
const APPLIES = Number(values.applies);
const httpPort = Number(values["http-port"]);
const target = `127.0.0.1:${values["grpc-port"]}`;
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The resources of one apply: the benchmark's lane, its condition value carrying `marker`. */
function resources(marker: string): unknown[] {
  const meta = (name: string) => ({ apiVersion: "lanemesh.io/v1alpha1", metadata: { name } });
  return [
    {
      ...meta("up-route"),
      kind: "Route",
      spec: { gateway: "default", match: { prefix: "/" }, service: "sc-up" },
    },
    {
      ...meta("bench"),
      kind: "LaneGroup",
      spec: {
        entry: { gateway: "default", routes: ["up-route"] },
        apps: ["sc-up"],
        mode: "content",
      },
    },
    {
      ...meta("gray"),
      kind: "Lane",
      spec: {
        group: "bench",
        tag: "gray",
        enabled: true,
        match: {
          mode: "all",
          conditions: [{ type: "header", name: "canary", op: "==", value: marker }],
        },
      },
    },
    {
      ...meta("up-base"),
      kind: "Instance",
      spec: { service: "sc-up", address: "127.0.0.1", port: 18080 },
    },
    {
      ...meta("up-gray"),
      kind: "Instance",
      spec: { service: "sc-up", address: "127.0.0.1", port: 18081, tag: "gray" },
    },
  ];
}

/** POST /v1/resources with a JSON array, as `lanemesh apply` does; rejects unless 200. */
function apply(marker: string): Promise<void> {
  const body = JSON.stringify(resources(marker));
  return new Promise((resolve, reject) => {
    const req = http.request(
      {
        host: "127.0.0.1",
        port: httpPort,
        method: "POST",
        path: "/v1/resources",
        headers: {
          "content-type": "application/json",
          "content-length": Buffer.byteLength(body),
          ...(adminToken === undefined ? {} : { authorization: `Bearer ${adminToken}` }),
        },
        agent: false,
      },
      (res) => {
        let text = "";
        res.setEncoding("utf8");
        res.on("data", (c: string) => {
          text += c;
        });
        res.on("end", () =>
          res.statusCode === 200
            ? resolve()
            : reject(new Error(`apply ${res.statusCode}: ${text}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

interface Waiter {
  marker: string;
  seen: Uint8Array;
  count: number;
  lastAt: number;
  done: () => void;
}

let waiter: Waiter | undefined;
let firstSnapshots = 0;
let onFirst: () => void = () => {};
let lastSnapshotAt = 0;
let snapshotBytes = 0;
const streams: MeshStream[] = [];
const clients: grpc.Client[] = [];

function open(i: number): void {
  const { Client } = meshDefinition();
  // A local subchannel pool: one TCP connection per simulated proxy, as real proxies have.
  const client = new Client(target, grpc.credentials.createInsecure(), {
    "grpc.use_local_subchannel_pool": 1,
  });
  clients.push(client);
  const stream = client.Stream(proxyMetadata);
  streams.push(stream);
  let first = true;
  stream.on("data", (m: ControlMessage) => {
    const s = m.snapshot;
    if (s === undefined) return;
    stream.write({ ack: { version: s.version, nonce: s.nonce } });
    const t = now();
    lastSnapshotAt = t;
    if (first) {
      first = false;
      if (++firstSnapshots === N) onFirst();
    }
    const w = waiter;
    if (w !== undefined && w.seen[i] === 0 && s.lanes.some((l) => l.includes(w.marker))) {
      w.seen[i] = 1;
      w.lastAt = t;
      if (++w.count === N) w.done();
    }
    if (i === 0) {
      snapshotBytes = [...s.routes, ...s.groups, ...s.lanes, ...s.endpoints].reduce(
        (n, d) => n + d.length,
        0,
      );
    }
  });
  stream.on("error", (err: Error) => {
    process.stderr.write(`stream ${i}: ${err.message}\n`);
  });
  const port = 20000 + i;
  stream.write({
    hello: {
      nodeId: `bench-sim-${i}`,
      role: "sidecar",
      app: `sim-${i % 100}`,
      tag: i % 10 === 0 ? "gray" : "",
      address: values.register ? `127.0.0.1:${port}` : "",
      gateway: "default",
      lastVersion: "",
      proxyVersion: "bench",
    },
  });
}

function withTimeout<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([
    p.finally(() => clearTimeout(timer)),
    new Promise<T>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`${what}: timed out after ${ms} ms`)), ms);
    }),
  ]);
}

async function main(): Promise<FanoutClientResult> {
  await apply("fanout-initial");
  const t0 = now();
  const allFirst = new Promise<void>((r) => {
    onFirst = r;
  });
  for (let i = 0; i < N; i++) {
    open(i);
    if (i % 100 === 99) await sleep(20); // a ramp, not a thundering herd
  }
  await withTimeout(allFirst, 120_000, `first snapshot on ${N} streams`);
  const connectS = (now() - t0) / 1000;
  // Settle: registrations trigger pushes; wait for 1.5 s without any snapshot.
  while (now() - lastSnapshotAt < 1500) await sleep(250);

  const pid = Number(values["cp-pid"]);
  const cpu0 = cpuSeconds(pid) ?? Number.NaN;
  const samplesMs: number[] = [];
  const applyCallMs: number[] = [];
  for (let k = 0; k < APPLIES; k++) {
    const marker = `fanout-${k}-${process.pid}`;
    const done = new Promise<void>((resolve) => {
      waiter = { marker, seen: new Uint8Array(N), count: 0, lastAt: 0, done: resolve };
    });
    const start = now();
    await apply(marker);
    applyCallMs.push(now() - start);
    await withTimeout(done, 120_000, `apply ${k} reaching ${N} streams`);
    samplesMs.push((waiter as Waiter).lastAt - start);
    waiter = undefined;
    await sleep(200);
  }
  const cpuS = (cpuSeconds(pid) ?? Number.NaN) - cpu0;
  return {
    proxies: N,
    registered: values.register === true,
    connectS,
    samplesMs,
    applyCallMs,
    cpuS,
    snapshotBytes,
  };
}

const result = await main();
process.stdout.write(`${JSON.stringify(result)}\n`);
for (const s of streams) s.cancel();
for (const c of clients) c.close();
process.exit(0);
