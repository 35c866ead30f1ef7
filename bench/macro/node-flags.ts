// V8 settings side by side: one-hop sidecars of one build that differ only in node's flags, started
// together, then interleaved saturation runs; per variant, throughput and CPU per request against the
// first variant in the same repetition, GC counts per 1,000 requests (the sidecars' own
// nodejs_gc_duration_seconds) and RSS. It measures, and kills every process it started.
// Run: npm run build && node dist/bench/macro/node-flags.js [--reps 9] [--seconds 5] [--build DIR]
//        [--label NAME] [--out FILE] NAME=FLAGS…   e.g. default= s2=--max-semi-space-size=2
import { mkdirSync, mkdtempSync, rmSync } from "node:fs";
import os from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { startOneHop } from "./lanemesh-peers.js";
import { REQUEST_HEADERS, type RunningPeer, startUpstream } from "./peers.js";
import {
  cpuSeconds,
  findBinary,
  installExitHandlers,
  killAllSync,
  memoryMB,
  onCleanup,
  stopProc,
  watchBackground,
} from "./procs.js";
import { resultPath, writeResult } from "./results.js";
import { median } from "./stats.js";
import { hostFacts } from "./tools.js";
import { runWrk } from "./wrk.js";

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const argv = process.argv.slice(2);
const { values: opt, positionals } = parseArgs({
  args: argv,
  allowPositionals: true,
  options: {
    reps: { type: "string", default: "9" },
    seconds: { type: "string", default: "5" },
    build: { type: "string" },
    label: { type: "string" },
    out: { type: "string" },
  },
});

/** The sidecar's GC counts and seconds so far, by kind (minor, major, incremental, weakcb). */
async function gcFigures(adminPort: number): Promise<Record<string, { n: number; s: number }>> {
  const text = await (await fetch(`http://127.0.0.1:${adminPort}/metrics`)).text();
  const out: Record<string, { n: number; s: number }> = {};
  for (const m of text.matchAll(
    /^nodejs_gc_duration_seconds_(sum|count)\{kind="(\w+)"\} (\S+)/gm,
  )) {
    const name = m[2] as string;
    out[name] ??= { n: 0, s: 0 };
    const kind = out[name];
    if (m[1] === "count") kind.n = Number(m[3]);
    else kind.s = Number(m[3]);
  }
  return out;
}

interface Row {
  rps: number;
  cpuUsPerReq: number;
  scavengesPer1k: number;
  majorPer1k: number;
  rssMB: number;
  backgroundCores: number;
}

interface Variant {
  name: string;
  flags: string[];
  peer: RunningPeer | null;
  rows: Row[];
}

async function main(): Promise<void> {
  const variants: Variant[] = positionals.map((p) => {
    const eq = p.indexOf("=");
    return {
      name: p.slice(0, eq),
      flags: p
        .slice(eq + 1)
        .split(" ")
        .filter(Boolean),
      peer: null,
      rows: [],
    };
  });
  if (variants.length < 2 || variants.some((v) => !/^[\w.-]+$/.test(v.name))) {
    process.stderr.write(
      "usage: node dist/bench/macro/node-flags.js [options] NAME=FLAGS NAME=FLAGS…\n",
    );
    process.exit(2);
  }
  const say = (line: string) => process.stderr.write(`node-flags: ${line}\n`);
  installExitHandlers((err) => say(`fatal: ${(err as Error)?.stack ?? String(err)}`));
  const wrkBinary = findBinary("wrk");
  if (wrkBinary === null) {
    say("needs wrk (apt-get install wrk)");
    process.exit(1);
  }
  const reps = Number(opt.reps);
  const seconds = Number(opt.seconds);
  const root = resolve(opt.build ?? repoRoot);
  const tmpDir = mkdtempSync(join(os.tmpdir(), "lanemesh-node-flags-"));
  onCleanup(() => rmSync(tmpDir, { recursive: true, force: true }));
  const logDir = join(tmpDir, "logs");
  mkdirSync(logDir);
  const machine = hostFacts();
  try {
    const upstream = await startUpstream(repoRoot, logDir);
    for (const v of variants)
      v.peer = await startOneHop(
        { tmpDir, logDir, upstream },
        { name: v.name, root, nodeFlags: v.flags },
      );
    const wrk = (v: Variant, s: number) =>
      runWrk({
        wrk: wrkBinary,
        port: (v.peer as RunningPeer).port,
        headers: { ...REQUEST_HEADERS },
        seconds: s,
        connections: 16,
        threads: 1,
        logDir,
      });
    for (const v of variants) await wrk(v, 2);
    for (let rep = 0; rep < reps; rep++) {
      const shift = rep % variants.length;
      for (const v of [...variants.slice(shift), ...variants.slice(0, shift)]) {
        const { pid, adminPort } = (v.peer as RunningPeer).measured[0] as {
          pid: number;
          adminPort: number;
        };
        const background = watchBackground();
        const g0 = await gcFigures(adminPort);
        const c0 = cpuSeconds(pid) ?? Number.NaN;
        const w = await wrk(v, seconds);
        const c1 = cpuSeconds(pid) ?? Number.NaN;
        const g1 = await gcFigures(adminPort);
        const per1k = (kinds: string[]) =>
          (kinds.reduce((n, k) => n + (g1[k]?.n ?? 0) - (g0[k]?.n ?? 0), 0) / w.requests) * 1000;
        v.rows.push({
          rps: w.rps,
          cpuUsPerReq: ((c1 - c0) / w.requests) * 1e6,
          scavengesPer1k: per1k(["minor"]),
          majorPer1k: per1k(["major", "incremental"]),
          rssMB: memoryMB(pid)?.rss ?? Number.NaN,
          backgroundCores: background().otherCores,
        });
      }
      say(
        `rep ${rep + 1}/${reps}: ${variants.map((v) => `${v.name} ${v.rows.at(-1)?.rps.toFixed(0)}`).join(", ")}`,
      );
    }
    const first = variants[0] as Variant;
    const summary = variants.map((v) => ({
      name: v.name,
      flags: v.flags,
      rps: median(v.rows.map((r) => r.rps)),
      rpsRatio: median(v.rows.map((r, i) => r.rps / (first.rows[i] as Row).rps)),
      cpuUsPerReq: median(v.rows.map((r) => r.cpuUsPerReq)),
      cpuRatio: median(v.rows.map((r, i) => r.cpuUsPerReq / (first.rows[i] as Row).cpuUsPerReq)),
      scavengesPer1k: median(v.rows.map((r) => r.scavengesPer1k)),
      majorPer1k: median(v.rows.map((r) => r.majorPer1k)),
      rssMB: median(v.rows.map((r) => r.rssMB)),
      peakRssMB: memoryMB((v.peer as RunningPeer).measured[0]?.pid ?? -1)?.hwm ?? Number.NaN,
    }));
    for (const v of variants) await v.peer?.stop();
    await stopProc(upstream.proc);
    const result = {
      schema: 1,
      kind: "node-flags",
      date: new Date().toISOString(),
      command: `node dist/bench/macro/node-flags.js ${argv.join(" ")}`,
      machine: { ...machine, loadAverageEnd: os.loadavg().map((x) => Math.round(x * 100) / 100) },
      settings: { reps, seconds, build: root, wrk: "-t1 -c16" },
      summary,
      rows: Object.fromEntries(variants.map((v) => [v.name, v.rows])),
    };
    const outFile = resultPath("node-flags", opt.label, opt.out);
    writeResult(outFile, result);
    const f = (x: number, d: number) => (Number.isFinite(x) ? x.toFixed(d) : "–");
    const lines = [
      `| variant | flags | req/s | × ${first.name} | CPU µs/req | × ${first.name} | scavenges / major GCs per 1k req | RSS MB after a run | peak RSS MB |`,
      "|---|---|--:|--:|--:|--:|--:|--:|--:|",
      ...summary.map(
        (s) =>
          `| ${s.name} | ${s.flags.length > 0 ? `\`${s.flags.join(" ")}\`` : "(none)"} | ${f(s.rps, 0)} | ${f(s.rpsRatio, 2)} | ${f(s.cpuUsPerReq, 1)} | ${f(s.cpuRatio, 2)} | ${f(s.scavengesPer1k, 2)} / ${f(s.majorPer1k, 3)} | ${f(s.rssMB, 1)} | ${f(s.peakRssMB, 1)} |`,
      ),
    ];
    process.stdout.write(
      `\n${reps} repetitions of wrk -t1 -c16 -d${seconds}s per variant, interleaved; medians, ratios per repetition\n\n${lines.join("\n")}\n\nResult: ${outFile}\n`,
    );
  } finally {
    for (const v of variants) await v.peer?.stop().catch(() => {});
    killAllSync();
  }
}

await main();
