// The control-plane fan-out benchmark: many simulated proxies on real gRPC streams, time from an
// `apply` to the last ACK; it measures the control plane and never touches the data-plane peers.
import { existsSync, mkdirSync, readFileSync } from "node:fs";
import { join } from "node:path";
import type { FanoutClientResult } from "./fanout-client.js";
import { freePort, logTail, memoryMB, spawnProc, stopProc, waitForHttp200 } from "./procs.js";
import { percentileSorted } from "./stats.js";

export interface FanoutRow {
  proxies: number;
  p50Ms: number;
  p99Ms: number;
  /** Control-plane CPU seconds over all applies of this row. */
  cpuS: number;
  /** Control-plane VmRSS with every stream connected, after the applies. */
  rssMB: number;
  /** Control-plane VmHWM after the row. */
  peakRssMB: number;
  /** Seconds until every simulated proxy held its first snapshot. */
  connectS: number;
  snapshotBytes: number;
  samplesMs: number[];
  applyCallMs: number[];
}

export type FanoutResult =
  | { status: "ok"; applies: number; registered: boolean; rows: FanoutRow[] }
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
}

/** Starts a fresh control plane for one row, runs the simulated proxies, stops it. */
async function row(ctx: FanoutContext, proxies: number): Promise<FanoutRow> {
  const grpcPort = await freePort();
  const httpPort = await freePort();
  const dataDir = join(ctx.tmpDir, `control-plane-${proxies}`);
  mkdirSync(dataDir, { recursive: true });
  const env = { ...process.env, LANEMESH_LOG_LEVEL: "warn", NODE_ENV: "production" };
  const cp = spawnProc(
    `control-plane-${proxies}`,
    process.execPath,
    [
      join(ctx.repoRoot, "dist/src/cli/main.js"),
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
      join(ctx.repoRoot, "dist/bench/macro/fanout-client.js"),
      "--grpc-port",
      String(grpcPort),
      "--http-port",
      String(httpPort),
      "--proxies",
      String(proxies),
      "--applies",
      String(ctx.applies),
      "--cp-pid",
      String(cp.pid),
      "--admin-token-file",
      join(dataDir, "admin.token"),
    ];
    if (ctx.register) args.push("--register");
    const client = spawnProc(`fanout-client-${proxies}`, process.execPath, args, {
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
      proxies,
      p50Ms: percentileSorted(sorted, 50),
      p99Ms: percentileSorted(sorted, 99),
      cpuS: r.cpuS,
      rssMB: mem.rss,
      peakRssMB: mem.hwm,
      connectS: r.connectS,
      snapshotBytes: r.snapshotBytes,
      samplesMs: r.samplesMs,
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
  const cli = join(ctx.repoRoot, "dist/src/control-plane/control-plane.js");
  if (!existsSync(cli)) {
    return {
      status: "not available",
      reason: `no control plane built (${cli} missing)`,
    };
  }
  const rows: FanoutRow[] = [];
  for (const size of ctx.sizes) {
    try {
      rows.push(await row(ctx, size));
      const r = rows[rows.length - 1] as FanoutRow;
      process.stderr.write(
        `bench: fan-out ${size} proxies: p50 ${r.p50Ms.toFixed(1)} ms, p99 ${r.p99Ms.toFixed(1)} ms (connect ${r.connectS.toFixed(1)} s)\n`,
      );
    } catch (err) {
      return { status: "failed", reason: `${size} proxies: ${(err as Error).message}` };
    }
  }
  return { status: "ok", applies: ctx.applies, registered: ctx.register, rows };
}
