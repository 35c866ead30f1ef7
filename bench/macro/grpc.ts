// The gRPC unary benchmark: the same grpc-js load against a direct call, nginx's grpc_pass and lanemesh's one hop and full hop, side by side in one run, printed as a Markdown table; `node dist/bench/macro/grpc.js [--seconds N] [--concurrency N] [--rounds N]`.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import * as grpc from "@grpc/grpc-js";
import { type EchoClient, echoClient } from "../../src/demo/grpc-echo.js";
import {
  childPids,
  cpuSeconds,
  findBinary,
  freePort,
  installExitHandlers,
  type Proc,
  spawnProc,
  stopProc,
  waitForHttp200,
  waitForPort,
} from "./procs.js";
import { percentiles } from "./stats.js";

/*
 * Every peer serves the same grpc-js app (`lanemesh demo-app --protocol grpc`, its own process);
 * the client is grpc-js in this process, one channel, `concurrency` unary calls outstanding for
 * `seconds` after a 1 s warm-up, peers one after the other. nginx: 1 worker, `grpc_pass` with
 * upstream keepalive; lanemesh: the outbound sidecar (one hop) and outbound → inbound (full hop),
 * started from the built CLI with static endpoints. CPU is the proxy processes' own (user + sys).
 */

const REPO = fileURLToPath(new URL("../../../", import.meta.url));
const CLI = join(REPO, "dist/src/cli/main.js");

interface Peer {
  name: string;
  description: string;
  port: number;
  authority?: string;
  /** Processes to stop. */
  procs: Proc[];
  /** Processes whose CPU counts (default: `procs`). */
  measured?: () => number[];
}

interface Result {
  name: string;
  description: string;
  rps: number;
  p50: number;
  p99: number;
  errors: number;
  cpu: number | null;
}

function arg(name: string, fallback: number): number {
  const at = process.argv.indexOf(name);
  return at === -1 ? fallback : Number(process.argv[at + 1]);
}

async function sidecar(
  logDir: string,
  dir: string,
  name: string,
  appPort: number,
  endpoints: string,
): Promise<{ proc: Proc; inbound: number; outbound: number }> {
  const rules = join(dir, `${name}-rules.yaml`);
  const discovery = join(dir, `${name}-endpoints.yaml`);
  writeFileSync(rules, "");
  writeFileSync(discovery, endpoints);
  const [inbound, outbound, admin] = [await freePort(), await freePort(), await freePort()];
  const proc = spawnProc(
    name,
    process.execPath,
    [
      CLI,
      "sidecar",
      "--app",
      name === "lm-in" ? "sc-up" : "bench-client",
      "--app-port",
      String(appPort),
      "--inbound-port",
      String(inbound),
      "--outbound-port",
      String(outbound),
      "--admin-port",
      String(admin),
      "--bind",
      "127.0.0.1",
      "--rules",
      rules,
      "--discovery",
      `static:${discovery}`,
    ],
    { logDir, env: { ...process.env, LANEMESH_LOG_LEVEL: "warn", NODE_ENV: "production" } },
  );
  await waitForHttp200(admin, "/ready", proc);
  return { proc, inbound, outbound };
}

const instance = (port: number): string => `apiVersion: lanemesh.io/v1alpha1
kind: Instance
metadata: { name: up }
spec: { service: sc-up, address: 127.0.0.1, port: ${port} }
`;

async function nginx(logDir: string, dir: string, appPort: number): Promise<Peer> {
  const bin = findBinary("nginx");
  if (bin === null) throw new Error("nginx not found");
  const port = await freePort();
  const d = join(dir, "nginx");
  mkdirSync(d, { recursive: true });
  const user = process.getuid?.() === 0 ? "user root;\n" : "";
  const conf = `${user}worker_processes 1;
pid ${d}/nginx.pid;
error_log ${d}/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  client_body_temp_path ${d}/client_body;
  proxy_temp_path ${d}/proxy;
  fastcgi_temp_path ${d}/fastcgi;
  uwsgi_temp_path ${d}/uwsgi;
  scgi_temp_path ${d}/scgi;
  upstream app { server 127.0.0.1:${appPort}; keepalive 64; }
  server {
    listen 127.0.0.1:${port} http2;
    location / { grpc_pass grpc://app; }
  }
}
`;
  writeFileSync(join(d, "nginx.conf"), conf);
  const master = spawnProc(
    "nginx",
    bin,
    ["-p", d, "-c", join(d, "nginx.conf"), "-e", join(d, "error.log"), "-g", "daemon off;"],
    { logDir },
  );
  await waitForPort(port, master);
  return {
    name: "nginx",
    description: "1 worker, grpc_pass, upstream keepalive",
    port,
    procs: [master],
    measured: () => [master.pid, ...childPids(master.pid)],
  };
}

function unaryOnce(client: EchoClient): Promise<boolean> {
  return new Promise((resolve) => {
    client.Unary({ text: "bench", n: 1 }, new grpc.Metadata(), {}, (err) => resolve(err === null));
  });
}

async function load(peer: Peer, seconds: number, concurrency: number): Promise<Result> {
  const client = echoClient(peer.port, peer.authority);
  const latencies: number[] = [];
  let errors = 0;
  const run = async (until: number, record: boolean): Promise<void> => {
    await Promise.all(
      Array.from({ length: concurrency }, async () => {
        while (Date.now() < until) {
          const t = performance.now();
          const ok = await unaryOnce(client);
          if (!record) continue;
          if (ok) latencies.push(performance.now() - t);
          else errors++;
        }
      }),
    );
  };
  await run(Date.now() + 1000, false);
  const pids = peer.measured?.() ?? peer.procs.map((p) => p.pid);
  const cpu0 = pids.map((p) => cpuSeconds(p));
  const t0 = performance.now();
  await run(Date.now() + seconds * 1000, true);
  const elapsed = (performance.now() - t0) / 1000;
  const cpu1 = pids.map((p) => cpuSeconds(p));
  client.close();
  const cpu =
    pids.length === 0
      ? null
      : cpu1.reduce<number>((s, c, i) => s + ((c ?? 0) - (cpu0[i] ?? 0)), 0) / elapsed;
  const sorted = latencies.sort((a, b) => a - b);
  const pc = percentiles(sorted);
  return {
    name: peer.name,
    description: peer.description,
    rps: latencies.length / elapsed,
    p50: pc.p50,
    p99: pc.p99,
    errors,
    cpu,
  };
}

async function main(): Promise<void> {
  installExitHandlers((err) => process.stderr.write(`bench failed: ${String(err)}\n`));
  const seconds = arg("--seconds", 10);
  const concurrency = arg("--concurrency", 32);
  const rounds = arg("--rounds", 3);
  const dir = mkdtempSync(join(tmpdir(), "lanemesh-grpc-bench-"));
  const logDir = join(dir, "logs");
  mkdirSync(logDir);
  const appPort = await freePort();
  const app = spawnProc(
    "app",
    process.execPath,
    [
      CLI,
      "demo-app",
      "--protocol",
      "grpc",
      "--name",
      "C",
      "--port",
      String(appPort),
      "--proxy",
      "none",
    ],
    { logDir, env: { ...process.env, LANEMESH_LOG_LEVEL: "warn" } },
  );
  const started: Proc[] = [app];
  try {
    await waitForPort(appPort, app);
    const inSide = await sidecar(logDir, dir, "lm-in", appPort, instance(appPort));
    started.push(inSide.proc);
    const oneHop = await sidecar(logDir, dir, "lm-1hop", 1, instance(appPort));
    started.push(oneHop.proc);
    const full = await sidecar(logDir, dir, "lm-out", 1, instance(inSide.inbound));
    started.push(full.proc);
    const ng = await nginx(logDir, dir, appPort);
    started.push(...ng.procs);
    const peers: Peer[] = [
      { name: "direct", description: "client → app", port: appPort, procs: [] },
      ng,
      {
        name: "lanemesh-1hop",
        description: "outbound sidecar → app",
        port: oneHop.outbound,
        authority: "sc-up",
        procs: [oneHop.proc],
      },
      {
        name: "lanemesh-fullhop",
        description: "outbound → inbound sidecar → app",
        port: full.outbound,
        authority: "sc-up",
        procs: [full.proc, inSide.proc],
      },
    ];
    // Rounds, peers interleaved in each, so that the machine's other load drifts over all alike;
    // each figure is the median of the rounds.
    const runs = new Map<string, Result[]>();
    for (let r = 0; r < rounds; r++) {
      for (const p of peers) {
        const list = runs.get(p.name) ?? [];
        list.push(await load(p, seconds, concurrency));
        runs.set(p.name, list);
      }
    }
    const mid = (xs: number[]): number => xs.sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0;
    const results: Result[] = [...runs.values()].map((list) => ({
      ...(list[0] as Result),
      rps: mid(list.map((x) => x.rps)),
      p50: mid(list.map((x) => x.p50)),
      p99: mid(list.map((x) => x.p99)),
      errors: list.reduce((n, x) => n + x.errors, 0),
      cpu: list[0]?.cpu === null ? null : mid(list.map((x) => x.cpu ?? 0)),
    }));
    const nginxRps = results.find((r) => r.name === "nginx")?.rps ?? 0;
    const lines = [
      `gRPC unary, ${concurrency} calls outstanding, ${rounds} rounds of ${seconds} s per peer, medians (grpc-js client and app)`,
      "",
      "| peer | path | calls/s | p50 ms | p99 ms | errors | proxy CPU (cores) | calls/s ÷ nginx |",
      "|---|---|---|---|---|---|---|---|",
      ...results.map(
        (r) =>
          `| ${r.name} | ${r.description} | ${r.rps.toFixed(0)} | ${r.p50.toFixed(2)} | ${r.p99.toFixed(2)} | ${r.errors} | ${r.cpu === null ? "–" : r.cpu.toFixed(3)} | ${nginxRps > 0 ? (r.rps / nginxRps).toFixed(2) : "–"} |`,
      ),
    ];
    process.stdout.write(`${lines.join("\n")}\n`);
  } finally {
    for (const p of started.reverse()) await stopProc(p);
    rmSync(dir, { recursive: true, force: true });
  }
}

void main().then(() => process.exit(0));
