// Simulated proxies for the fan-out benchmark, run in their own process: N bidi streams on
// lanemesh.v1.Mesh/Stream (bare HTTP/2 by default, or grpc-js: fanout-wire.ts) that say hello and
// ACK every snapshot, and the applies whose propagation they time; they read only a snapshot's
// version and nonce off the wire and never decode, validate or compile the rest (the real proxies'
// cost is not what is measured here, and one process decoding 2,000 copies would time itself, not
// the control plane).
// Run: node dist/bench/macro/fanout-client.js --grpc-port N --http-port N --data-dir DIR
//        --proxies 1000 --applies 10 --cp-pid PID [--register] [--lanes 10000] [--whole]
//        [--client h2|grpc-js]      (prints one JSON line: a FanoutClientResult)
import { readFileSync } from "node:fs";
import http from "node:http";
import { join } from "node:path";
import { parseArgs } from "node:util";
import { signToken } from "../../src/control-plane/tokens.js";
import { FEATURE_DELTA } from "../../src/protocol/wire.js";
import { largeLane, largeSetBatches, smallSet } from "./fanout-resources.js";
import { openGrpcJs, openH2, type SimStream, type SnapshotHead } from "./fanout-wire.js";
import { cpuSeconds, watchOthers } from "./procs.js";

export interface FanoutClientResult {
  proxies: number;
  registered: boolean;
  /** Lanes in the store (0: the small set, whose lane condition each apply changes). */
  lanes: number;
  /** Seconds from the first hello to every stream holding its first snapshot. */
  connectS: number;
  /** Per apply: ms from the start of the apply call to the last stream's ACK of the change. */
  samplesMs: number[];
  /** Per apply: the same to the first stream's ACK. */
  firstMs: number[];
  /** Per apply: cores the rest of the machine used meanwhile (not the control plane, not this). */
  backgroundCores: number[];
  /** Per apply: ms the apply call itself took (POST /v1/resources, what `lanemesh apply` sends). */
  applyCallMs: number[];
  /** Control-plane CPU seconds over all the applies (not the connection phase). */
  cpuS: number;
  /** This process's CPU seconds over the same applies (the simulated proxies' share). */
  clientCpuS: number;
  /** Bytes of the last snapshot message as received (protobuf), as a size hint. */
  snapshotBytes: number;
}

const { values } = parseArgs({
  options: {
    "grpc-port": { type: "string" },
    "http-port": { type: "string" },
    "data-dir": { type: "string" },
    proxies: { type: "string", default: "1000" },
    applies: { type: "string", default: "10" },
    lanes: { type: "string", default: "0" },
    "cp-pid": { type: "string" },
    register: { type: "boolean", default: false },
    whole: { type: "boolean", default: false },
    client: { type: "string", default: "h2" },
    "quiet-cores": { type: "string", default: "0" },
  },
});

const N = Number(values.proxies);
const APPLIES = Number(values.applies);
const LANES = Number(values.lanes);
const httpPort = Number(values["http-port"]);
const target = `127.0.0.1:${values["grpc-port"]}`;
const now = () => Number(process.hrtime.bigint()) / 1e6;
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms));

/** The control plane's secrets, read from its data dir: the admin token, and the proxies' token. */
const dataDir = String(values["data-dir"]);
const secret = (file: string) => readFileSync(join(dataDir, file), "utf8").trim();
const adminToken = secret("admin.token");
const APPS = 100;
const proxyToken = signToken(Buffer.from(secret("token-signing.key"), "hex"), {
  role: "sidecar",
  services: Array.from({ length: APPS }, (_, i) => `sim-${i}`),
  ttlSeconds: 24 * 3600,
}).token;

/** POST /v1/resources with a JSON array, as `lanemesh apply` does; the version it made. */
function apply(docs: unknown[]): Promise<number> {
  const body = JSON.stringify(docs);
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
          authorization: `Bearer ${adminToken}`,
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
            ? resolve((JSON.parse(text) as { version: number }).version)
            : reject(new Error(`apply ${res.statusCode}: ${text.slice(0, 2000)}`)),
        );
      },
    );
    req.on("error", reject);
    req.end(body);
  });
}

/**
 * One apply's wait: until its version is known (the apply call answered), each stream's snapshots
 * are noted (a push may reach a stream before the call answers); then each stream counts at the
 * first snapshot that carries the version or a later one.
 */
interface Waiter {
  version: number;
  seen: Uint8Array;
  early: [number, number][][];
  count: number;
  firstAt: number;
  lastAt: number;
  done: () => void;
}

function hit(w: Waiter, i: number, version: number, t: number): void {
  if (w.seen[i] === 1 || version < w.version) return;
  w.seen[i] = 1;
  if (t > w.lastAt) w.lastAt = t;
  if (t < w.firstAt) w.firstAt = t;
  if (++w.count === N) w.done();
}

let waiter: Waiter | undefined;
let firstSnapshots = 0;
let onFirst: () => void = () => {};
let lastSnapshotAt = 0;
let snapshotBytes = 0;
const streams: SimStream[] = [];

function open(i: number): void {
  let first = true;
  const onSnapshot = (s: SnapshotHead, stream: SimStream): void => {
    stream.ack(s.version, s.nonce);
    const t = now();
    lastSnapshotAt = t;
    snapshotBytes = s.bytes;
    if (first) {
      first = false;
      if (++firstSnapshots === N) onFirst();
    }
    const w = waiter;
    if (w === undefined) return;
    if (w.version !== Number.POSITIVE_INFINITY) hit(w, i, Number(s.version), t);
    else {
      const got = w.early[i] ?? [];
      w.early[i] = got;
      got.push([Number(s.version), t]);
    }
  };
  const hello = {
    nodeId: `bench-sim-${i}`,
    role: "sidecar",
    app: `sim-${i % APPS}`,
    tag: i % 10 === 0 ? "gray" : "",
    address: values.register ? `127.0.0.1:${20000 + i}` : "",
    gateway: "default",
    lastVersion: "",
    proxyVersion: "bench",
    // As this build's proxies say: deltas welcome (a control plane that sends none ignores it).
    features: values.whole ? [] : [FEATURE_DELTA],
  };
  const onError = (err: Error) => process.stderr.write(`stream ${i}: ${err.message}\n`);
  const o = { target, token: proxyToken, hello, onSnapshot, onError };
  streams.push(values.client === "grpc-js" ? openGrpcJs(o) : openH2(o));
}

/** Wait (at most 30 s) until the rest of the machine used under `cores` over 300 ms. */
async function untilQuiet(pid: number, cores: number): Promise<void> {
  const t0 = now();
  while (now() - t0 < 30_000) {
    const others = watchOthers([pid]);
    await sleep(300);
    if (others() < cores) return;
  }
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

/** The documents of apply `k`: a new condition value on the small set, or lane-0 toggled. */
function change(k: number): unknown[] {
  if (LANES === 0) return smallSet(`fanout-${k}-${process.pid}`);
  return [largeLane(0, k % 2 === 1)]; // closed on even k (it starts open), open on odd
}

async function main(): Promise<FanoutClientResult> {
  // cpuSeconds runs `getconf CLK_TCK` once: a fork. Forked later, with 2,000 streams' memory,
  // every page this process then writes takes a copy-on-write fault, and the first apply measured
  // would pay for them (hundreds of ms); forked now, while the process is small, it costs nothing.
  cpuSeconds(process.pid);
  if (LANES === 0) await apply(smallSet("fanout-initial"));
  else for (const batch of largeSetBatches(LANES)) await apply(batch);
  const t0 = now();
  const allFirst = new Promise<void>((r) => {
    onFirst = r;
  });
  for (let i = 0; i < N; i++) {
    open(i);
    if (i % 100 !== 99) continue;
    // A ramp, not a thundering herd: 100 more every 20 ms, and at most 200 waiting for their
    // first snapshot (with 10,000 lanes each is 3 MB whole).
    await sleep(20);
    while (i + 1 - firstSnapshots > 200) await sleep(20);
  }
  await withTimeout(allFirst, 300_000, `first snapshot on ${N} streams`);
  const connectS = (now() - t0) / 1000;
  // Settle: registrations trigger pushes; wait for 1.5 s without any snapshot.
  while (now() - lastSnapshotAt < 1500) await sleep(250);

  const pid = Number(values["cp-pid"]);
  const cpu0 = cpuSeconds(pid) ?? Number.NaN;
  const own0 = process.cpuUsage();
  const samplesMs: number[] = [];
  const firstMs: number[] = [];
  const backgroundCores: number[] = [];
  const quiet = Number(values["quiet-cores"]);
  const applyCallMs: number[] = [];
  for (let k = 0; k < APPLIES; k++) {
    const seen = new Uint8Array(N);
    let resolveDone: () => void = () => {};
    const done = new Promise<void>((resolve) => {
      resolveDone = resolve;
    });
    const w: Waiter = {
      version: Number.POSITIVE_INFINITY,
      seen,
      early: [],
      count: 0,
      firstAt: Number.POSITIVE_INFINITY,
      lastAt: 0,
      done: resolveDone,
    };
    if (quiet > 0) await untilQuiet(pid, quiet);
    const others = watchOthers([pid]);
    waiter = w;
    const start = now();
    const version = await apply(change(k));
    applyCallMs.push(now() - start);
    w.version = version;
    w.early.forEach((got, i) => {
      for (const [v, t] of got) hit(w, i, v, t);
    });
    await withTimeout(done, 300_000, `apply ${k} reaching ${N} streams`);
    samplesMs.push(w.lastAt - start);
    firstMs.push(w.firstAt - start);
    backgroundCores.push(others());
    waiter = undefined;
    await sleep(LANES === 0 ? 200 : 1000);
  }
  const cpuS = (cpuSeconds(pid) ?? Number.NaN) - cpu0;
  const own = process.cpuUsage(own0);
  const clientCpuS = (own.user + own.system) / 1e6;
  return {
    proxies: N,
    registered: values.register === true,
    lanes: LANES,
    connectS,
    samplesMs,
    firstMs,
    backgroundCores,
    applyCallMs,
    cpuS,
    clientCpuS,
    snapshotBytes,
  };
}

const result = await main();
process.stdout.write(`${JSON.stringify(result)}\n`);
for (const s of streams) s.close();
process.exit(0);
