// The control-plane fan-out benchmark: many simulated proxies on real gRPC streams, time from an
// `apply` to the last ACK; it measures the control plane and never touches the data-plane peers.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { FanoutClientResult } from "./fanout-client.js";
import {
  freePort,
  logTail,
  memoryMB,
  spawnProc,
  stopProc,
  waitForHttp200,
  waitQuiet,
} from "./procs.js";
import { percentileSorted } from "./stats.js";

export interface FanoutRow {
  /** Which control plane: "" for this checkout's, else the --build name. */
  build: string;
  proxies: number;
  /** Lanes in the store: 0 for the small set (each apply changes a condition), else the large set (each apply toggles one lane). */
  lanes: number;
  p50Ms: number;
  p99Ms: number;
  /** Control-plane CPU seconds over all applies of this row. */
  cpuS: number;
  /** The simulated proxies' process's CPU seconds over the same applies. */
  clientCpuS?: number;
  /** Control-plane VmRSS with every stream connected, after the applies. */
  rssMB: number;
  /** Control-plane VmHWM after the row. */
  peakRssMB: number;
  /** Seconds until every simulated proxy held its first snapshot. */
  connectS: number;
  snapshotBytes: number;
  samplesMs: number[];
  /** Per apply: ms to the first proxy's ACK. */
  firstMs?: number[];
  /** Per apply: cores the rest of the machine used meanwhile. */
  backgroundCores?: number[];
  applyCallMs: number[];
}

export type FanoutResult =
  | {
      status: "ok";
      applies: number;
      /** Applies of the large-set rows (each toggles one lane). */
      laneApplies?: number;
      registered: boolean;
      /** How the simulated proxies spoke the stream, and whether they took deltas. */
      client?: "h2" | "grpc-js";
      whole?: boolean;
      rows: FanoutRow[];
    }
  | { status: "skipped" | "not available" | "failed"; reason: string };

export interface FanoutContext {
  repoRoot: string;
  tmpDir: string;
  logDir: string;
  /** Simulated proxies per row (1,000 and 2,000 by default). */
  sizes: number[];
  applies: number;
  /** Simulated proxies announce an address, so every snapshot lists all of them as instances. */
  register: boolean;
  /** Node flags for the control plane's process (e.g. --cpu-prof). */
  cpNodeArgs?: string[];
  /** Node flags for the simulated proxies' process. */
  clientNodeArgs?: string[];
  /** The simulated proxies do not say they take deltas (as proxies before them): whole snapshots only. */
  whole?: boolean;
  /** How the simulated proxies speak the stream (fanout-wire.ts): "h2" (default) or "grpc-js". */
  client?: "h2" | "grpc-js";
  /**
   * Before each row (up to 120 s) and each apply (up to 30 s), wait until other processes use
   * under this many cores; 0 = no wait.
   */
  quietCores?: number;
  /**
   * Other control planes measured in the same run (--build NAME=DIR: DIR's dist/), each row run
   * once per build, the builds' order alternating from row to row.
   */
  builds?: { name: string; root: string }[];
  /** The large-set case: this many lanes, toggled one at a time (0 = none). */
  lanes?: number;
  /** Simulated proxies of the large-set rows. */
  laneProxies?: number[];
  /** Applies of the large-set rows. */
  laneApplies?: number;
}

interface RowSpec {
  build: { name: string; root: string };
  proxies: number;
  lanes: number;
  applies: number;
}

/** Starts a fresh control plane for one row, runs the simulated proxies, stops it. */
async function row(ctx: FanoutContext, spec: RowSpec): Promise<FanoutRow> {
  const { proxies, lanes } = spec;
  const name = `${proxies}${lanes > 0 ? `-lanes${lanes}` : ""}${spec.build.name ? `-${spec.build.name}` : ""}`;
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const dataDir = join(ctx.tmpDir, `control-plane-${name}`);
  mkdirSync(dataDir, { recursive: true });
  const env = { ...process.env, LANEMESH_LOG_LEVEL: "warn", NODE_ENV: "production" };
  const cp = spawnProc(
    `control-plane-${name}`,
    process.execPath,
    [
      ...(ctx.cpNodeArgs ?? []),
      join(spec.build.root, "dist/src/cli/main.js"),
      "control-plane",
      "--grpc-port",
      String(grpcPort),
      "--http-port",
      String(httpPort),
      "--data-dir",
      dataDir,
      "--bind",
      "127.0.0.1",
    ],
    { logDir: ctx.logDir, env },
  );
  try {
    await waitForHttp200(httpPort, "/healthz", cp);
    const args = [
      ...(ctx.clientNodeArgs ?? []),
      join(ctx.repoRoot, "dist/bench/macro/fanout-client.js"),
      "--grpc-port",
      String(grpcPort),
      "--http-port",
      String(httpPort),
      "--proxies",
      String(proxies),
      "--applies",
      String(spec.applies),
      "--lanes",
      String(lanes),
      "--cp-pid",
      String(cp.pid),
      "--data-dir",
      dataDir,
    ];
    if (ctx.register) args.push("--register");
    if (ctx.whole) args.push("--whole");
    if ((ctx.quietCores ?? 0) > 0) args.push("--quiet-cores", String(ctx.quietCores));
    args.push("--client", ctx.client ?? "h2");
    const client = spawnProc(`fanout-client-${name}`, process.execPath, args, {
      logDir: ctx.logDir,
      truncate: true,
    });
    const status = await client.exited;
    const text = readFileSync(client.logFile, "utf8");
    const line = text.split("\n").find((l) => l.startsWith('{"proxies"'));
    if (line === undefined) throw new Error(`fan-out client ${status}: ${text.trim().slice(-600)}`);
    const r = JSON.parse(line) as FanoutClientResult;
    const mem = memoryMB(cp.pid);
    if (mem === null) throw new Error(`control plane exited (${cp.exitStatus}):\n${logTail(cp)}`);
    const sorted = Float64Array.from(r.samplesMs).sort();
    return {
      build: spec.build.name,
      proxies,
      lanes,
      p50Ms: percentileSorted(sorted, 50),
      p99Ms: percentileSorted(sorted, 99),
      cpuS: r.cpuS,
      clientCpuS: r.clientCpuS,
      rssMB: mem.rss,
      peakRssMB: mem.hwm,
      connectS: r.connectS,
      snapshotBytes: r.snapshotBytes,
      samplesMs: r.samplesMs,
      firstMs: r.firstMs,
      backgroundCores: r.backgroundCores,
      applyCallMs: r.applyCallMs,
    };
  } finally {
    await stopProc(cp);
  }
}

/**
 * For each size: a fresh `lanemesh control-plane` (default debounce 100 ms, max 1 s) in its own
 * process group; the simulated proxies (fanout-client.ts, one process, one TCP connection per
 * proxy) connect, then `applies` applies each change the lane's condition value; the time from the
 * apply call to the last stream's ACK of the new lane is one sample.
 */
export async function runFanout(ctx: FanoutContext): Promise<FanoutResult> {
  const builds = [{ name: "", root: ctx.repoRoot }, ...(ctx.builds ?? [])];
  for (const b of builds) {
    const cli = join(b.root, "dist/src/control-plane/control-plane.js");
    if (!existsSync(cli))
      return { status: "not available", reason: `no control plane built (${cli} missing)` };
  }
  const specs: RowSpec[] = [];
  let group = 0;
  const each = (proxies: number, lanes: number, applies: number) => {
    // Alternate which build goes first, so none always runs on a cooler or warmer machine.
    const order = group++ % 2 === 0 ? builds : [...builds].reverse();
    for (const build of order) specs.push({ build, proxies, lanes, applies });
  };
  for (const size of ctx.sizes) each(size, 0, ctx.applies);
  const lanes = ctx.lanes ?? 0;
  if (lanes > 0)
    for (const p of ctx.laneProxies ?? [100]) each(p, lanes, ctx.laneApplies ?? ctx.applies);
  const rows: FanoutRow[] = [];
  for (const spec of specs) {
    const label = `${spec.proxies} proxies${spec.lanes > 0 ? `, ${spec.lanes} lanes` : ""}${spec.build.name ? ` @${spec.build.name}` : ""}`;
    try {
      if ((ctx.quietCores ?? 0) > 0) await waitQuiet(ctx.quietCores as number, 120_000);
      const r = await row(ctx, spec);
      rows.push(r);
      process.stderr.write(
        `bench: fan-out ${label}: p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms, CP CPU ${r.cpuS.toFixed(2)} s (connect ${r.connectS.toFixed(1)} s)\n`,
      );
    } catch (err) {
      return { status: "failed", reason: `${label}: ${(err as Error).message}` };
    }
  }
  return {
    status: "ok",
    applies: ctx.applies,
    ...(lanes > 0 ? { laneApplies: ctx.laneApplies ?? ctx.applies } : {}),
    registered: ctx.register,
    client: ctx.client ?? "h2",
    whole: ctx.whole === true,
    rows,
  };
}
