// The soak: the full hop (outbound sidecar → inbound sidecar → upstream) under a constant rate for
// N minutes, both sidecars' VmRSS sampled every second; it reports RSS per minute, its slope after
// warm-up, latency per minute and failures, and kills every process it started.
// Run: npm run build && node dist/bench/macro/soak.js [--minutes 10] [--rate 1000]
//        [--warmup-minutes 2] [--build DIR] [--node-flags='…'] [--label NAME] [--out FILE] [--keep-tmp]
import { existsSync, mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startFullHop } from "./lanemesh-peers.js";
import { runLoad } from "./measure.js";
import { REQUEST_HEADERS, type RunningPeer, startUpstream } from "./peers.js";
import {
  cpuSeconds,
  httpGet,
  installExitHandlers,
  killAllSync,
  memoryMB,
  onCleanup,
  stopProc,
  watchBackground,
} from "./procs.js";
import { resultPath, writeResult } from "./results.js";
import { type LoadResult, median } from "./stats.js";
import { hostFacts } from "./tools.js";

const USAGE = `usage: node dist/bench/macro/soak.js [options]
  --minutes N          how long the load runs (default 10)
  --rate R             requests per second, open loop over 16 connections (default 1000)
  --warmup-minutes W   minutes left out of the slope (default 2; at most N - 1)
  --build DIR          the built checkout whose sidecars run (default: this one)
  --node-flags=FLAGS   node's flags for both sidecars, e.g. --node-flags=--max-semi-space-size=2
                       (with "=": a value that starts with -- is not taken otherwise)
  --label NAME         result file bench/results/<date>-soak-NAME.json
  --out FILE           result file path instead
  --keep-tmp           keep the scratch folder (configs and process logs)
`;

/** |slope| at or under this, in MB per minute after warm-up, is "flat" (2 MB over 8 minutes). */
const FLAT_MB_PER_MINUTE = 0.25;

const SAMPLE_MS = 1000;
const ROLES = ["outbound", "inbound"] as const;

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const argv = process.argv.slice(2);
const { values: opt } = parseArgs({
  args: argv,
  options: {
    minutes: { type: "string", default: "10" },
    rate: { type: "string", default: "1000" },
    "warmup-minutes": { type: "string", default: "2" },
    build: { type: "string" },
    "node-flags": { type: "string", default: "" },
    label: { type: "string" },
    out: { type: "string" },
    "keep-tmp": { type: "boolean", default: false },
    help: { type: "boolean", short: "h", default: false },
  },
});

/** One sample: seconds since the load started, VmRSS (MB) of the outbound and inbound sidecars. */
interface Sample {
  t: number;
  rssMB: [number, number];
}

/** Least-squares slope of y over x; NaN with fewer than two points. */
function slope(points: readonly { x: number; y: number }[]): number {
  const n = points.length;
  if (n < 2) return Number.NaN;
  const mx = points.reduce((a, p) => a + p.x, 0) / n;
  const my = points.reduce((a, p) => a + p.y, 0) / n;
  let num = 0;
  let den = 0;
  for (const p of points) {
    num += (p.x - mx) * (p.y - my);
    den += (p.x - mx) ** 2;
  }
  return den === 0 ? Number.NaN : num / den;
}

/** Per minute: each sidecar's median RSS, the latency and the failures of that minute's requests. */
function perMinute(samples: readonly Sample[], load: LoadResult, minutes: number) {
  return Array.from({ length: minutes }, (_, m) => {
    const inMinute = samples.filter((s) => s.t >= m * 60 && s.t < (m + 1) * 60);
    const w = load.windows?.[m];
    return {
      minute: m + 1,
      rssMB: ROLES.map((_, i) => median(inMinute.map((s) => s.rssMB[i]))),
      p50Us: w?.latencyUs.p50 ?? Number.NaN,
      p99Us: w?.latencyUs.p99 ?? Number.NaN,
      sent: w?.sent ?? 0,
      failed: (w?.errors ?? 0) + (w?.non2xx ?? 0),
    };
  });
}

const f1 = (v: number) => (Number.isFinite(v) ? v.toFixed(1) : "–");
const f0 = (v: number) => (Number.isFinite(v) ? v.toFixed(0) : "–");

async function main(): Promise<void> {
  if (opt.help) {
    process.stdout.write(USAGE);
    return;
  }
  const minutes = Math.max(1, Math.round(Number(opt.minutes)));
  const rate = Number(opt.rate);
  const warmupMinutes = Math.min(Math.max(0, Number(opt["warmup-minutes"])), minutes - 1);
  const buildRoot = resolve(opt.build ?? repoRoot);
  if (!existsSync(join(buildRoot, "dist/src/cli/main.js"))) {
    process.stderr.write(`soak: ${buildRoot}/dist/src/cli/main.js is missing: build it first\n`);
    process.exit(1);
  }
  const nodeFlags = (opt["node-flags"] ?? "").split(" ").filter(Boolean);
  const say = (line: string) => process.stderr.write(`soak: ${line}\n`);
  installExitHandlers((err) => say(`fatal: ${(err as Error)?.stack ?? String(err)}`));
  const machine = hostFacts();
  const tmpDir = mkdtempSync(join(os.tmpdir(), "lanemesh-soak-"));
  if (!opt["keep-tmp"]) onCleanup(() => rmSync(tmpDir, { recursive: true, force: true }));
  const logDir = join(tmpDir, "logs");
  mkdirSync(logDir);
  let running: RunningPeer | null = null;
  try {
    const upstream = await startUpstream(repoRoot, logDir);
    running = await startFullHop(
      { tmpDir, logDir, upstream },
      { name: "", root: buildRoot, nodeFlags },
    );
    const smoke = await httpGet(running.port, "/", { ...REQUEST_HEADERS });
    if (smoke.status !== 200 || smoke.headers["x-served-by"] !== "gray")
      throw new Error(`smoke request: ${smoke.status}, served by ${smoke.headers["x-served-by"]}`);
    const pids = running.measured.map((m) => m.pid);
    say(
      `full hop up (outbound ${pids[0]}, inbound ${pids[1]}); ${rate} req/s for ${minutes} min, RSS every ${SAMPLE_MS} ms`,
    );

    const samples: Sample[] = [];
    const cpu0 = pids.map((p) => cpuSeconds(p) ?? Number.NaN);
    const background = watchBackground();
    const t0 = Date.now();
    const sample = () => {
      const rss = pids.map((p) => memoryMB(p)?.rss ?? Number.NaN);
      samples.push({ t: (Date.now() - t0) / 1000, rssMB: [rss[0] as number, rss[1] as number] });
      const s = samples.length;
      if (s % 60 === 0) say(`minute ${s / 60}: RSS ${rss.map(f1).join(" / ")} MB`);
    };
    const timer = setInterval(sample, SAMPLE_MS);
    let load: LoadResult;
    try {
      load = await runLoad(logDir, running.port, {
        mode: "open",
        connections: 16,
        seconds: minutes * 60,
        rate,
        warmup: 200,
        windowS: 60,
      });
    } finally {
      clearInterval(timer);
    }
    const cpuS = pids.map((p, i) => (cpuSeconds(p) ?? Number.NaN) - (cpu0[i] as number));
    const peakRssMB = pids.map((p) => memoryMB(p)?.hwm ?? Number.NaN);
    const bg = background();
    const gone = pids.filter((p) => cpuSeconds(p) === null);
    await running.stop();
    running = null;
    await stopProc(upstream.proc);

    const rows = perMinute(samples, load, minutes);
    const after = samples.filter((s) => s.t >= warmupMinutes * 60);
    const slopes = ROLES.map(
      (_, i) => slope(after.map((s) => ({ x: s.t / 60, y: s.rssMB[i] as number }))) as number,
    );
    const failed = load.errors + load.non2xx;
    const result = {
      schema: 1,
      kind: "soak",
      date: new Date(t0).toISOString(),
      command: `node dist/bench/macro/soak.js${argv.length > 0 ? ` ${argv.join(" ")}` : ""}`,
      machine: { ...machine, loadAverageEnd: os.loadavg().map((x) => Math.round(x * 100) / 100) },
      settings: { minutes, rate, connections: 16, warmupMinutes, sampleMs: SAMPLE_MS, nodeFlags },
      build: buildRoot,
      roles: ROLES,
      minutes: rows,
      slopeMBPerMinute: slopes,
      flat: slopes.map((s) => Math.abs(s) <= FLAT_MB_PER_MINUTE),
      peakRssMB,
      cpuS,
      failed,
      sidecarsGone: gone.length,
      background: bg,
      load: { ...load, windows: undefined },
      samples,
    };
    const outFile = resultPath("soak", opt.label, opt.out);
    writeResult(outFile, result);

    const lines = [
      `Soak ${result.date}: full hop at ${rate} req/s for ${minutes} min (${load.completed} requests completed, ${failed} failed${gone.length > 0 ? `, ${gone.length} sidecar(s) died` : ""}); background ${bg.otherCores.toFixed(2)} cores; \`${result.command}\``,
      "",
      "| minute | outbound RSS MB | inbound RSS MB | p50 µs | p99 µs | failed |",
      "| --: | --: | --: | --: | --: | --: |",
      ...rows.map(
        (r) =>
          `| ${r.minute}${r.minute <= warmupMinutes ? " (warm-up)" : ""} | ${f1(r.rssMB[0] as number)} | ${f1(r.rssMB[1] as number)} | ${f0(r.p50Us)} | ${f0(r.p99Us)} | ${r.failed} |`,
      ),
      "",
      `Slope after warm-up (minutes ${warmupMinutes + 1}–${minutes}, least squares over ${after.length} samples): outbound ${slopes[0]?.toFixed(3)} MB/min, inbound ${slopes[1]?.toFixed(3)} MB/min (flat: |slope| ≤ ${FLAT_MB_PER_MINUTE}): ${result.flat.every(Boolean) ? "flat" : "NOT flat"}. Peak RSS (VmHWM) ${peakRssMB.map(f1).join(" / ")} MB; CPU ${cpuS.map((c) => f1(c)).join(" / ")} s.`,
    ];
    process.stdout.write(`\n${lines.join("\n")}\n\nResult: ${outFile}\n`);
    if (failed > 0 || gone.length > 0) process.exitCode = 1;
  } finally {
    if (running !== null) await running.stop().catch(() => {});
    killAllSync();
    if (opt["keep-tmp"]) say(`scratch folder kept: ${tmpDir}`);
  }
}

await main();
