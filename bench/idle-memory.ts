// What each module a proxy process can load costs in memory at idle: every import set in a fresh
// `node --expose-gc` process, collected, then VmRSS (anonymous and file-backed) and the V8 heap
// read, medians over the runs, each against bare Node; it measures and changes nothing.
// Run: npm run build && node dist/bench/idle-memory.js [--reps 5] [--only TEXT]… [--node-flags '…']
//        [--root DIR]   (DIR: another built checkout to measure, e.g. the commit before a change)
import { execFileSync } from "node:child_process";
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join, resolve } from "node:path";
import { fileURLToPath, pathToFileURL } from "node:url";
import { parseArgs } from "node:util";
import { median } from "./macro/stats.js";

const { values } = parseArgs({
  options: {
    reps: { type: "string", default: "5" },
    only: { type: "string", multiple: true },
    "node-flags": { type: "string", default: "" },
    root: { type: "string" },
  },
});
/** The checkout measured: its dist/src modules are imported, its node_modules resolve packages. */
const root = resolve(values.root ?? fileURLToPath(new URL("../../", import.meta.url)));
const src = (p: string) => pathToFileURL(join(root, "dist/src", p)).href;

/** One row: code run as an ES module in a fresh process before the measurement. */
interface Case {
  name: string;
  code: string;
}

const CASES: Case[] = [
  { name: "node alone", code: "" },
  {
    name: "node:http, node:net, node:http2 (the listeners)",
    code: "await import('node:http'); await import('node:net'); await import('node:http2');",
  },
  {
    name: "pino (the logger, one line written)",
    code: `const { logger } = await import('${src("telemetry/logger.js")}'); logger('x').warn('one line');`,
  },
  { name: "prom-client (import)", code: "await import('prom-client');" },
  {
    name: "prom-client + collectDefaultMetrics",
    code: "const p = await import('prom-client'); p.collectDefaultMetrics({ register: new p.Registry(), eventLoopMonitoringPrecision: 100 });",
  },
  {
    name: "ProxyMetrics, no default metrics",
    code: `const { ProxyMetrics } = await import('${src("telemetry/metrics.js")}'); globalThis.m = new ProxyMetrics();`,
  },
  {
    name: "ProxyMetrics + default metrics (as a proxy runs)",
    code: `const { ProxyMetrics } = await import('${src("telemetry/metrics.js")}'); globalThis.m = new ProxyMetrics({ processMetrics: true });`,
  },
  { name: "yaml", code: "await import('yaml');" },
  { name: "commander", code: "await import('commander');" },
  { name: "re2js", code: "await import('re2js');" },
  { name: "@grpc/grpc-js", code: "await import('@grpc/grpc-js');" },
  { name: "@grpc/proto-loader (protobufjs)", code: "await import('@grpc/proto-loader');" },
  {
    name: "protocol/wire.js (grpc-js, proto-loader, lanemesh.proto loaded)",
    code: `await import('${src("protocol/wire.js")}');`,
  },
  { name: "undici", code: "await import('undici');" },
  { name: "nacos", code: "await import('nacos');" },
  { name: "@kubernetes/client-node", code: "await import('@kubernetes/client-node');" },
  {
    name: "cli/program.js (the command tree built)",
    code: `const { buildProgram } = await import('${src("cli/program.js")}'); globalThis.p = await buildProgram();`,
  },
  {
    name: "cli/program.js for `lanemesh sidecar …` (what the sidecar's command line loads)",
    code: `const { buildProgram } = await import('${src("cli/program.js")}'); globalThis.p = await buildProgram(['node', 'lanemesh', 'sidecar']);`,
  },
  {
    name: "proxy/sidecar.js (the data path's modules)",
    code: `await import('${src("proxy/sidecar.js")}');`,
  },
];

/** The measurement each child runs after its case's code: wait, collect, read. */
const MEASURE = `
await new Promise((r) => setTimeout(r, 1500));
globalThis.gc(); globalThis.gc();
await new Promise((r) => setTimeout(r, 300));
globalThis.gc();
const status = (await import('node:fs')).readFileSync('/proc/self/status', 'utf8');
const kb = (k) => Number(new RegExp('^' + k + ':\\\\s+(\\\\d+) kB', 'm').exec(status)?.[1] ?? NaN) / 1024;
const m = process.memoryUsage();
process.stdout.write(JSON.stringify({ rss: kb('VmRSS'), anon: kb('RssAnon'), file: kb('RssFile'),
  heapUsed: m.heapUsed / 2 ** 20, heapTotal: m.heapTotal / 2 ** 20, external: m.external / 2 ** 20 }) + '\\n');
process.exit(0);
`;

/** A real `lanemesh sidecar` (file rules, static endpoints) started inside the measuring process. */
function sidecarCase(dir: string): Case {
  const rules = join(dir, "rules.yaml");
  const endpoints = join(dir, "endpoints.yaml");
  writeFileSync(
    rules,
    `apiVersion: lanemesh.io/v1alpha1
kind: LaneGroup
metadata: { name: g }
spec: { apps: [a, b], mode: content }
---
apiVersion: lanemesh.io/v1alpha1
kind: Lane
metadata: { name: gray }
spec: { group: g, tag: gray, enabled: true, match: { mode: all, conditions: [{ type: header, name: canary, op: "==", value: gray }] } }
`,
  );
  writeFileSync(
    endpoints,
    `apiVersion: lanemesh.io/v1alpha1
kind: Instance
metadata: { name: b1 }
spec: { service: b, address: 127.0.0.1, port: 9 }
`,
  );
  const argv = [
    "sidecar",
    "--app",
    "a",
    "--app-port",
    "9",
    "--inbound-port",
    "0",
    "--outbound-port",
    "0",
    "--admin-port",
    "0",
    "--bind",
    "127.0.0.1",
    "--rules",
    rules,
    "--discovery",
    `static:${endpoints}`,
  ];
  return {
    name: "lanemesh sidecar, started (file rules, static endpoints)",
    code: `process.env.LANEMESH_LOG_LEVEL = 'warn'; process.argv = [process.argv[0], 'main.js', ...${JSON.stringify(argv)}];
await import('${src("cli/main.js")}');`,
  };
}

interface Sample {
  rss: number;
  anon: number;
  file: number;
  heapUsed: number;
  heapTotal: number;
  external: number;
}

function runOnce(c: Case, nodeFlags: string[]): Sample {
  const out = execFileSync(
    process.execPath,
    [...nodeFlags, "--expose-gc", "--input-type=module", "-e", `${c.code}\n${MEASURE}`],
    { cwd: root, encoding: "utf8", stdio: ["ignore", "pipe", "ignore"] },
  );
  return JSON.parse(out.trim().split("\n").pop() as string) as Sample;
}

const reps = Number(values.reps);
const nodeFlags = (values["node-flags"] ?? "").split(" ").filter(Boolean);
const only = values.only;
const scratch = mkdtempSync(join(tmpdir(), "lanemesh-idle-memory-"));
process.on("exit", () => rmSync(scratch, { recursive: true, force: true }));
const cases = [...CASES, sidecarCase(scratch)].filter(
  (c, i) => i === 0 || only === undefined || only.some((o) => c.name.includes(o)),
);

const fmt = (v: number) => v.toFixed(1);
const keys = ["rss", "anon", "file", "heapUsed", "heapTotal", "external"] as const;
let bare: Sample | undefined;
process.stdout.write(
  `${root}: ${reps} runs each, medians, MB; Δ = over "node alone"${nodeFlags.length > 0 ? `; node ${nodeFlags.join(" ")}` : ""}\n\n`,
);
process.stdout.write(
  "| import | VmRSS | Δ RSS | Δ anon | Δ file | heap used | Δ heap used | heap total | external |\n",
);
process.stdout.write("|---|--:|--:|--:|--:|--:|--:|--:|--:|\n");
for (const c of cases) {
  // Interleaved with nothing else: each run is its own process, so order does not carry over.
  const runs = Array.from({ length: reps }, () => runOnce(c, nodeFlags));
  const m = Object.fromEntries(
    keys.map((k) => [k, median(runs.map((r) => r[k]))]),
  ) as unknown as Sample;
  bare ??= m;
  const d = (k: keyof Sample) => (c === cases[0] ? "–" : fmt(m[k] - (bare as Sample)[k]));
  process.stdout.write(
    `| ${c.name} | ${fmt(m.rss)} | ${d("rss")} | ${d("anon")} | ${d("file")} | ${fmt(m.heapUsed)} | ${d("heapUsed")} | ${fmt(m.heapTotal)} | ${fmt(m.external)} |\n`,
  );
}
