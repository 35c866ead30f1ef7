// The latency load generator, run in its own process: open loop (requests sent at fixed intervals,
// whatever the responses do, latency from the scheduled send time, so coordinated omission is
// counted) or closed loop (one request after another per connection); it only measures.
// Run: node dist/bench/macro/openloop.js --port N [--header 'k: v']... --mode open --rate 1000
//        --connections 16 --duration 10 [--window 60] [--engine c|node]   (prints one JSON line: a
//        LoadResult; with --window, open mode also reports each window of S seconds: the soak's minutes)
//
// Engines: "c" (default) sends with loadgen.c, built here with the system's C compiler on first
// use; "node" (undici, a ticker thread), used when no compiler is there. The Node engine's own
// pauses reached 10-47 ms at p99 against a direct upstream at 1,000 req/s, more than a proxy adds,
// so the C engine is the one whose tail can be read.

import { spawn, spawnSync } from "node:child_process";
import { existsSync, mkdtempSync, renameSync, rmSync, statSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { Worker } from "node:worker_threads";
import { Pool } from "undici";
import { type LoadResult, type LoadWindow, percentiles } from "./stats.js";
import type { TickerData } from "./ticker.js";

const { values } = parseArgs({
  options: {
    port: { type: "string" },
    path: { type: "string", default: "/" },
    header: { type: "string", multiple: true, default: [] },
    mode: { type: "string", default: "open" },
    rate: { type: "string", default: "1000" },
    connections: { type: "string", default: "16" },
    duration: { type: "string", default: "10" },
    warmup: { type: "string", default: "200" },
    window: { type: "string", default: "0" },
    engine: { type: "string", default: "c" },
  },
});

const mode = values.mode === "closed" ? "closed" : "open";
const connections = Number(values.connections);
const durationS = Number(values.duration);
const rate = Number(values.rate);
const path = values.path;
const windowS = Number(values.window);
const headers: Record<string, string> = {};
for (const h of values.header) {
  const colon = h.indexOf(":");
  headers[h.slice(0, colon).trim().toLowerCase()] = h.slice(colon + 1).trim();
}

let poolMade: Pool | undefined;
/** The Node engine's connections (made on first use: the C engine has its own). */
const pool = (): Pool => {
  poolMade ??= new Pool(`http://127.0.0.1:${values.port}`, {
    connections,
    pipelining: 1,
    keepAliveTimeout: 60_000,
    keepAliveMaxTimeout: 60_000,
  });
  return poolMade;
};

const base = process.hrtime.bigint();
/** Nanoseconds since `base`, as a Number (exact for 104 days). */
const now = () => Number(process.hrtime.bigint() - base);

let errors = 0;
let non2xx = 0;

/** One GET; resolves with the status code (0 on a network error) once the body has ended. */
async function one(): Promise<number> {
  try {
    const { statusCode, body } = await pool().request({ path, method: "GET", headers });
    await body.dump();
    return statusCode;
  } catch {
    return 0;
  }
}

/** Counts a failure; returns 1 for a network error, 2 for a non-2xx answer, 0 for a success. */
function count(status: number): 0 | 1 | 2 {
  if (status === 0) {
    errors++;
    return 1;
  }
  if (status < 200 || status > 299) {
    non2xx++;
    return 2;
  }
  return 0;
}

/** Per-window figures of an open-loop run (requests grouped by their scheduled send time). */
function windowsOf(lat: Float64Array, outcome: Uint8Array, perWindow: number): LoadWindow[] {
  const out: LoadWindow[] = [];
  for (let first = 0; first < lat.length; first += perWindow) {
    const last = Math.min(lat.length, first + perWindow);
    const slice = lat.subarray(first, last);
    let completed = 0;
    let errs = 0;
    let bad = 0;
    for (let k = first; k < last; k++) {
      if (!Number.isNaN(lat[k] as number)) completed++;
      if (outcome[k] === 1) errs++;
      else if (outcome[k] === 2) bad++;
    }
    out.push({
      startS: first / rate,
      sent: last - first,
      completed,
      errors: errs,
      non2xx: bad,
      latencyUs: percentiles(slice),
    });
  }
  return out;
}

/** Opens every connection and warms the JIT: `total` requests, `connections` at a time. */
async function warmUp(total: number): Promise<void> {
  let left = total;
  const lane = async () => {
    while (left-- > 0) await one();
  };
  await Promise.all(Array.from({ length: connections }, lane));
}

async function closedLoop(): Promise<LoadResult> {
  const lat: number[] = [];
  let sent = 0;
  const end = now() + durationS * 1e9;
  const lane = async () => {
    while (now() < end) {
      const t0 = now();
      sent++;
      const status = await one();
      if (status !== 0) lat.push((now() - t0) / 1e3);
      count(status);
    }
  };
  const t0 = now();
  await Promise.all(Array.from({ length: connections }, lane));
  const elapsed = (now() - t0) / 1e9;
  return {
    mode,
    connections,
    rate: null,
    durationS,
    sent,
    completed: lat.length,
    errors,
    non2xx,
    achievedRate: lat.length / elapsed,
    latencyUs: percentiles(lat),
    sendLagUs: null,
  };
}

async function openLoop(): Promise<LoadResult> {
  const total = Math.round(rate * durationS);
  const intervalNs = 1e9 / rate;
  const startNs = now() + 20e6;
  const lat = new Float64Array(total).fill(Number.NaN);
  const lag = new Float64Array(total).fill(Number.NaN);
  // 1: network error, 2: non-2xx; a request still in flight at the end counts as an error.
  const outcome = new Uint8Array(total).fill(1);
  let next = 0;
  let inFlight = 0;
  let lastEnd = startNs;
  let allDone: () => void = () => {};
  const done = new Promise<void>((r) => {
    allDone = r;
  });

  const fire = (k: number) => {
    const scheduled = startNs + k * intervalNs;
    lag[k] = (now() - scheduled) / 1e3;
    inFlight++;
    void one().then((status) => {
      const t = now();
      if (status !== 0) lat[k] = (t - scheduled) / 1e3;
      lastEnd = t;
      outcome[k] = count(status);
      if (--inFlight === 0 && next === total) allDone();
    });
  };

  const data: TickerData = {
    baseNs: String(base),
    startNs,
    intervalNs,
    count: total,
    spinNs: 100e3,
  };
  const ticker = new Worker(new URL("./ticker.js", import.meta.url), { workerData: data });
  ticker.on("message", (last: number) => {
    while (next <= last) fire(next++);
    if (next === total && inFlight === 0) allDone();
  });
  const tickerExit = new Promise<void>((r) => ticker.once("exit", () => r()));
  await tickerExit;
  let timer: NodeJS.Timeout | undefined;
  const drained = await Promise.race([
    done.then(() => true),
    new Promise<boolean>((r) => {
      timer = setTimeout(() => r(false), 10_000);
    }),
  ]);
  clearTimeout(timer);
  const completed = lat.reduce((n, v) => (Number.isNaN(v) ? n : n + 1), 0);
  if (!drained) errors += inFlight;
  return {
    mode,
    connections,
    rate,
    durationS,
    sent: next,
    completed,
    errors,
    non2xx,
    achievedRate: completed / ((lastEnd - startNs) / 1e9),
    latencyUs: percentiles(lat),
    sendLagUs: percentiles(lag),
    ...(windowS > 0 ? { windows: windowsOf(lat, outcome, Math.round(rate * windowS)) } : {}),
  };
}

/** loadgen built from its source beside this checkout (again when the source is newer), or null. */
function loadgen(): string | null {
  const bin = fileURLToPath(new URL("./loadgen", import.meta.url));
  const src = fileURLToPath(new URL("../../../bench/macro/loadgen.c", import.meta.url));
  if (!existsSync(src)) return existsSync(bin) ? bin : null;
  if (existsSync(bin) && statSync(bin).mtimeMs >= statSync(src).mtimeMs) return bin;
  const made = `${bin}.${process.pid}`;
  const cc = spawnSync("cc", ["-O2", "-Wall", "-o", made, src], { encoding: "utf8" });
  if (cc.status !== 0) {
    process.stderr.write(
      `openloop: loadgen.c not built (${cc.error?.message ?? cc.stderr.trim()}); the Node engine measures\n`,
    );
    return null;
  }
  renameSync(made, bin);
  return bin;
}

/** One run of the C engine, its lines made into the same figures as the Node engine's. */
async function runC(bin: string): Promise<LoadResult> {
  const host = Object.hasOwn(headers, "host") ? "" : `host: 127.0.0.1:${values.port}\r\n`;
  const lines = Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`);
  const dir = mkdtempSync(join(tmpdir(), "lanemesh-loadgen-"));
  const requestFile = join(dir, "request");
  writeFileSync(requestFile, `GET ${path} HTTP/1.1\r\n${host}${lines.join("")}\r\n`, "latin1");
  const args = [values.port ?? "", mode, String(rate), String(connections), String(durationS)];
  const child = spawn(bin, [...args, String(values.warmup), requestFile], {
    stdio: ["ignore", "pipe", "inherit"],
  });
  const chunks: Buffer[] = [];
  child.stdout.on("data", (b: Buffer) => chunks.push(b));
  const code = await new Promise<number | null>((r) => child.once("close", r));
  rmSync(dir, { recursive: true, force: true });
  if (code !== 0) throw new Error(`loadgen exited with ${code}`);
  const text = Buffer.concat(chunks).toString("latin1");
  const rows = text.slice(text.indexOf("S\n") + 2).split("\n");
  const endRow = rows.find((r) => r.startsWith("E "));
  const elapsedS = Number(endRow?.slice(2)) / 1e9;
  const reqRows = rows.filter((r) => r !== "" && !r.startsWith("E "));
  const lat = new Float64Array(reqRows.length).fill(Number.NaN);
  const lag = new Float64Array(reqRows.length);
  const outcome = new Uint8Array(reqRows.length);
  reqRows.forEach((row, i) => {
    const [, l, g, o] = row.split(" ").map(Number);
    if ((l as number) >= 0) lat[i] = (l as number) / 1e3;
    lag[i] = (g as number) / 1e3;
    outcome[i] = o as number;
    count(o === 1 ? 0 : o === 2 ? 500 : 200);
  });
  const completed = lat.reduce((n, v) => (Number.isNaN(v) ? n : n + 1), 0);
  return {
    mode,
    connections,
    rate: mode === "open" ? rate : null,
    durationS,
    sent: reqRows.length,
    completed,
    errors,
    non2xx,
    achievedRate: completed / elapsedS,
    latencyUs: percentiles(lat),
    sendLagUs: mode === "open" ? percentiles(lag) : null,
    engine: "c",
    ...(mode === "open" && windowS > 0
      ? { windows: windowsOf(lat, outcome, Math.round(rate * windowS)) }
      : {}),
  };
}

const bin = values.engine === "node" ? null : loadgen();
let result: LoadResult;
if (bin !== null) {
  result = await runC(bin);
} else {
  await warmUp(Number(values.warmup));
  errors = 0;
  non2xx = 0;
  result = { ...(mode === "open" ? await openLoop() : await closedLoop()), engine: "node" };
  await pool().destroy();
}
process.stdout.write(`${JSON.stringify(result)}\n`);
process.exit(0);
