// The saturation workbench of the optimization log: peers started once, then interleaved wrk runs
// (throughput, CPU per request split user/system, c=1 p50) with each repetition printed, so a
// drift over the run shows; it measures only 127.0.0.1 peers and kills what it started.
import { mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import type { Build } from "./lanemesh-peers.js";
import {
  type PeerContext,
  peerList,
  REQUEST_HEADERS,
  type RunningPeer,
  startUpstream,
} from "./peers.js";
import {
  installExitHandlers,
  killAllSync,
  memoryMB,
  spawnProc,
  stopProc,
  ticksPerSecond,
  waitQuiet,
} from "./procs.js";
import { median } from "./stats.js";
import { ensureTools } from "./tools.js";

const USAGE = `usage: node dist/bench/macro/workbench.js [options]
  --peers a,b       peers (default nginx,floor,lanemesh-1hop); direct is always measured
  --build NAME=DIR  also the lanemesh built in checkout DIR (lanemesh-1hop@NAME, …); repeatable
  --reps N          repetitions (default 7)
  --seconds S       each wrk run (default 5)
  --connections C   wrk -c (default 16)
  --quiet-cores X   before each run wait until other processes use under X cores (default 0.25)
`;

interface Sample {
  rps: number;
  userUs: number;
  sysUs: number;
  c1p50Us: number;
  rssMB: number;
}

function cpuTicks(pid: number): [number, number] {
  const stat = readFileSync(`/proc/${pid}/stat`, "utf8");
  const f = stat.slice(stat.lastIndexOf(")") + 2).split(" ");
  return [Number(f[11]), Number(f[12])];
}

function wrkArgs(port: number, seconds: number, connections: number, latency: boolean): string[] {
  const args = [`-t1`, `-c${connections}`, `-d${seconds}s`];
  if (latency) args.push("--latency");
  for (const [k, v] of Object.entries(REQUEST_HEADERS)) args.push("-H", `${k}: ${v}`);
  args.push(`http://127.0.0.1:${port}/`);
  return args;
}

async function wrk(wrkBin: string, logDir: string, args: string[]): Promise<string> {
  const proc = spawnProc("wrk", wrkBin, args, { logDir, truncate: true });
  await proc.exited;
  return readFileSync(proc.logFile, "utf8");
}

function micros(text: string): number {
  const m = /50%\s+([\d.]+)(us|ms|s)/.exec(text);
  if (m === null) return Number.NaN;
  return Number(m[1]) * { us: 1, ms: 1e3, s: 1e6 }[m[2] as "us" | "ms" | "s"];
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      peers: { type: "string", default: "nginx,floor,lanemesh-1hop" },
      build: { type: "string", multiple: true, default: [] },
      reps: { type: "string", default: "7" },
      seconds: { type: "string", default: "5" },
      connections: { type: "string", default: "16" },
      "quiet-cores": { type: "string", default: "0.25" },
      help: { type: "boolean", default: false },
    },
  });
  if (values.help) {
    process.stdout.write(USAGE);
    return;
  }
  const repoRoot = fileURLToPath(new URL("../../..", import.meta.url));
  const builds: Build[] = (values.build ?? []).map((b) => {
    const [name, root] = b.split("=");
    if (!name || !root) throw new Error(`--build NAME=DIR, got ${b}`);
    return { name, root, nodeFlags: [] };
  });
  const wanted = ["direct", ...(values.peers ?? "").split(",").filter((p) => p !== "direct")];
  const defs = peerList(repoRoot, builds).filter((p) => wanted.includes(p.name));
  const missing = wanted.filter((w) => !defs.some((d) => d.name === w));
  if (missing.length > 0) throw new Error(`unknown peers: ${missing.join(", ")}`);
  const reps = Number(values.reps);
  const seconds = Number(values.seconds);
  const connections = Number(values.connections);
  const quiet = Number(values["quiet-cores"]);

  installExitHandlers((err) => {
    process.stderr.write(`workbench failed: ${String(err)}\n`);
  });
  const tools = ensureTools(false);
  const tmpDir = mkdtempSync(join(os.tmpdir(), "lanemesh-workbench-"));
  const logDir = join(tmpDir, "logs");
  mkdirSync(logDir, { recursive: true });
  const up = await startUpstream(repoRoot, logDir);
  const upstream = up.proc;
  const running: { name: string; peer: RunningPeer; samples: Sample[] }[] = [];
  try {
    const ctx: PeerContext = {
      tools,
      tmpDir,
      logDir,
      repoRoot,
      upstream: { basePort: up.basePort, grayPort: up.grayPort },
    };
    for (const def of defs)
      running.push({ name: def.name, peer: await def.start(ctx), samples: [] });
    // Warm-up: one short run each.
    for (const r of running)
      await wrk(tools.wrk, logDir, wrkArgs(r.peer.port, 1, connections, false));
    for (let rep = 0; rep < reps; rep++) {
      const line: string[] = [];
      for (let i = 0; i < running.length; i++) {
        const r = running[(i + rep) % running.length] as (typeof running)[number];
        if (quiet > 0) await waitQuiet(quiet, 60_000);
        const pids = r.peer.measured.map((m) => m.pid);
        const before = pids.map(cpuTicks);
        const text = await wrk(
          tools.wrk,
          logDir,
          wrkArgs(r.peer.port, seconds, connections, false),
        );
        const after = pids.map(cpuTicks);
        const rps = Number(/Requests\/sec:\s+([\d.]+)/.exec(text)?.[1] ?? Number.NaN);
        const total = Number(/(\d+) requests in/.exec(text)?.[1] ?? Number.NaN);
        const tick = 1e6 / ticksPerSecond();
        let user = 0;
        let sys = 0;
        for (let p = 0; p < pids.length; p++) {
          user += ((after[p]?.[0] ?? 0) - (before[p]?.[0] ?? 0)) * tick;
          sys += ((after[p]?.[1] ?? 0) - (before[p]?.[1] ?? 0)) * tick;
        }
        const c1 = micros(await wrk(tools.wrk, logDir, wrkArgs(r.peer.port, 2, 1, true)));
        const rss = pids.reduce((n, pid) => n + (memoryMB(pid)?.rss ?? 0), 0);
        r.samples.push({ rps, userUs: user / total, sysUs: sys / total, c1p50Us: c1, rssMB: rss });
        line.push(`${r.name} ${Math.round(rps)}`);
      }
      process.stdout.write(`rep ${rep + 1}: ${line.join(", ")}\n`);
    }
    const direct = running.find((r) => r.name === "direct");
    const nginx = running.find((r) => r.name === "nginx");
    process.stdout.write(
      "\n| peer | req/s (median) | min–max | × nginx | CPU µs/req (user + sys) | c=1 p50 added, µs | RSS MB |\n|---|---:|---:|---:|---:|---:|---:|\n",
    );
    for (const r of running) {
      const ratio =
        nginx === undefined
          ? Number.NaN
          : median(r.samples.map((s, i) => s.rps / (nginx.samples[i]?.rps ?? Number.NaN)));
      const added = median(
        r.samples.map((s, i) => s.c1p50Us - (direct?.samples[i]?.c1p50Us ?? Number.NaN)),
      );
      const rpsList = r.samples.map((s) => s.rps);
      const u = median(r.samples.map((s) => s.userUs));
      const sy = median(r.samples.map((s) => s.sysUs));
      process.stdout.write(
        `| ${r.name} | ${Math.round(median(rpsList))} | ${Math.round(Math.min(...rpsList))}–${Math.round(Math.max(...rpsList))} | ${ratio.toFixed(2)} | ${r.peer.measured.length === 0 ? "–" : `${u.toFixed(1)} + ${sy.toFixed(1)} = ${(u + sy).toFixed(1)}`} | ${r.name === "direct" ? `${Math.round(median(r.samples.map((s) => s.c1p50Us)))} (absolute)` : `+${Math.round(added)}`} | ${r.peer.measured.length === 0 ? "–" : median(r.samples.map((s) => s.rssMB)).toFixed(1)} |\n`,
      );
    }
  } finally {
    for (const r of running) await r.peer.stop();
    await stopProc(upstream);
    killAllSync();
    rmSync(tmpDir, { recursive: true, force: true });
  }
}

main().catch((err: unknown) => {
  process.stderr.write(`${err instanceof Error ? (err.stack ?? err.message) : String(err)}\n`);
  process.exitCode = 1;
});
