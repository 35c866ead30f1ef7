// One visit of one peer: latency at c=1, latency and cost at a fixed rate, then saturation
// throughput and its cost; it reports values and decides nothing about the peer.
import { readFileSync } from "node:fs";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { type PeerContext, REQUEST_HEADERS, type RunningPeer } from "./peers.js";
import { cpuSeconds, RssSampler, spawnProc, watchBackground } from "./procs.js";
import type { RepResult, Settings } from "./report.js";
import type { LoadResult } from "./stats.js";
import { runWrk } from "./wrk.js";

/** Requests each measured open-loop run sends first, to open its 16 connections. */
const OPEN_WARMUP_REQUESTS = 32;

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));

export interface LoadOptions {
  mode: "open" | "closed";
  connections: number;
  seconds: number;
  rate?: number;
  warmup: number;
  /** Open mode: also report each window of this many seconds (LoadResult.windows). */
  windowS?: number;
}

/** Runs openloop.js in its own process against `port` and returns its JSON line. */
export async function runLoad(logDir: string, port: number, o: LoadOptions): Promise<LoadResult> {
  const args = [
    join(repoRoot, "dist/bench/macro/openloop.js"),
    "--port",
    String(port),
    "--mode",
    o.mode,
    "--connections",
    String(o.connections),
    "--duration",
    String(o.seconds),
    "--warmup",
    String(o.warmup),
  ];
  if (o.rate !== undefined) args.push("--rate", String(o.rate));
  if (o.windowS !== undefined) args.push("--window", String(o.windowS));
  for (const [k, v] of Object.entries(REQUEST_HEADERS)) args.push("--header", `${k}: ${v}`);
  const proc = spawnProc("openloop", process.execPath, args, { logDir, truncate: true });
  const status = await proc.exited;
  const text = readFileSync(proc.logFile, "utf8");
  const line = text.split("\n").find((l) => l.startsWith('{"mode"'));
  if (line === undefined) throw new Error(`openloop ${status}: ${text.trim().slice(-500)}`);
  return JSON.parse(line) as LoadResult;
}

function cpuOf(pids: number[]): number[] {
  return pids.map((pid) => cpuSeconds(pid) ?? Number.NaN);
}

/** One visit: c=1 latency, open loop at the fixed rate (CPU, RSS), then wrk saturation (CPU). */
export async function visit(
  running: RunningPeer,
  rep: number,
  position: number,
  settings: Settings,
  ctx: PeerContext,
  tools: { wrk: string },
): Promise<RepResult> {
  const pids = running.measured.map((m) => m.pid);
  const rec: RepResult = {
    rep,
    position,
    c1: null,
    open: null,
    openCpuS: [],
    openWallS: 0,
    openServed: 0,
    openRssMB: [],
    wrk: null,
    wrkCpuS: [],
    background: null,
    errors: [],
  };
  const background = watchBackground();
  const attempt = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
    } catch (err) {
      rec.errors.push(`${what}: ${(err as Error).message}`);
    }
  };
  await attempt("c=1", async () => {
    rec.c1 = await runLoad(ctx.logDir, running.port, {
      mode: "closed",
      connections: settings.c1.connections,
      seconds: settings.c1.seconds,
      warmup: 50,
    });
  });
  await attempt("open loop", async () => {
    const cpu0 = cpuOf(pids);
    const sampler = new RssSampler(pids);
    try {
      rec.open = await runLoad(ctx.logDir, running.port, {
        mode: "open",
        connections: settings.open.connections,
        seconds: settings.open.seconds,
        rate: settings.open.rate,
        warmup: OPEN_WARMUP_REQUESTS,
      });
    } finally {
      rec.openRssMB = sampler.stop();
      const cpu1 = cpuOf(pids);
      rec.openCpuS = cpu1.map((c, i) => c - (cpu0[i] as number));
      rec.openWallS = settings.open.seconds;
    }
    // The requests that opened the connections cost CPU too: count them as served.
    rec.openServed = rec.open.completed + OPEN_WARMUP_REQUESTS;
  });
  await attempt("wrk", async () => {
    const cpu0 = cpuOf(pids);
    rec.wrk = await runWrk({
      wrk: tools.wrk,
      port: running.port,
      headers: { ...REQUEST_HEADERS },
      seconds: settings.wrk.seconds,
      connections: settings.wrk.connections,
      threads: settings.wrk.threads,
      logDir: ctx.logDir,
    });
    const cpu1 = cpuOf(pids);
    rec.wrkCpuS = cpu1.map((c, i) => c - (cpu0[i] as number));
  });
  for (const pid of pids) {
    if (cpuSeconds(pid) === null) rec.errors.push(`process ${pid} is gone`);
  }
  rec.background = background();
  return rec;
}
