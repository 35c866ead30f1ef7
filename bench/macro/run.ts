// Entry point of the macro benchmark (`npm run bench [-- --quick]`): starts the upstream and every
// peer, measures them interleaved, writes the JSON result and prints the tables; it kills every
// process it started, even on error, and uses nothing beyond 127.0.0.1.

import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from "node:fs";
import os from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { parseArgs } from "node:util";
import { runFanout } from "./fanout.js";
import { runLoad, visit } from "./measure.js";
import {
  type PeerContext,
  type PeerDef,
  peerList,
  REQUEST_HEADERS,
  type RunningPeer,
  startUpstream,
} from "./peers.js";
import {
  httpGet,
  installExitHandlers,
  killAllSync,
  memoryMB,
  onCleanup,
  stopProc,
  waitQuiet,
} from "./procs.js";
import { type BenchResult, markdown, type PeerResult, type Settings, summarize } from "./report.js";
import { resultPath, writeResult } from "./results.js";
import { ensureTools, machineFacts, type Tools } from "./tools.js";

const USAGE = `usage: npm run bench [-- options]   (node dist/bench/macro/run.js [options])
  --quick            about a minute: 3 repetitions of short runs (default: full, 5 repetitions)
  --reps N           repetitions (each peer measured once per repetition, round-robin order)
  --peers a,b        only these peers (direct is always included): ${peerList("")
    .map((p) => p.name)
    .join(",")}
  --build NAME=DIR   also measure the lanemesh built in checkout DIR (peers lanemesh-1hop@NAME,
                     lanemesh-full@NAME), e.g. the commit before a change: git worktree add DIR REV
                     && (cd DIR && npm ci); repeatable
  --node-flags NAME=FLAGS  run build NAME's sidecars as \`node FLAGS main.js …\` (V8 settings side
                     by side: --build semi4=. --node-flags 'semi4=--max-semi-space-size=4'); repeatable
  --label NAME       result file bench/results/<date>-<mode>-NAME.json
  --out FILE         result file path instead
  --no-install       never apt-get install missing tools
  --no-fanout        skip the control-plane fan-out benchmark
  --fanout-only      run only the control-plane fan-out (no data-plane peer, no nginx/wrk needed);
                     with --build, each build's control plane too, side by side
  --fanout-sizes a,b simulated proxies per fan-out row (default 1000,2000)
  --fanout-register  simulated proxies register their instance (every snapshot lists all of them)
  --fanout-lanes N   also the large case: N lanes stored (100 per LaneGroup, each group with its
                     Route), one lane toggled per apply (default 10000; 0 = skip)
  --fanout-lane-proxies a,b  simulated proxies per large-case row (default 200: each connects to a
                     3 MB whole snapshot first, and a build that sends whole snapshots sends
                     every toggle to each as 3 MB)
  --fanout-whole     simulated proxies do not take deltas (as proxies before them): whole snapshots
  --fanout-client C  how simulated proxies speak the stream: h2 (bare node:http2, default) or
                     grpc-js (a grpc-js channel each, as real proxies; a heavier instrument)
  --quiet-cores X    before each visit, wait (up to 120 s) until other processes use under X
                     cores (a machine shared with other work); 0 = no wait
  --keep-tmp         keep the scratch folder (configs and process logs)
  --print FILE       print the tables of an earlier result file, run nothing
`;

const MODES = {
  quick: { reps: 3, warmupS: 1, wrkS: 1, c1S: 0.75, openS: 1, fanoutApplies: 5, laneApplies: 4 },
  full: { reps: 5, warmupS: 3, wrkS: 10, c1S: 5, openS: 10, fanoutApplies: 20, laneApplies: 10 },
} as const;

const repoRoot = fileURLToPath(new URL("../../../", import.meta.url));
const argv = process.argv.slice(2);
const { values: opt } = parseArgs({
  args: argv,
  options: {
    quick: { type: "boolean", default: false },
    reps: { type: "string" },
    peers: { type: "string" },
    label: { type: "string" },
    out: { type: "string" },
    "no-install": { type: "boolean", default: false },
    "no-fanout": { type: "boolean", default: false },
    "fanout-sizes": { type: "string", default: "1000,2000" },
    "fanout-register": { type: "boolean", default: false },
    "fanout-only": { type: "boolean", default: false },
    "fanout-lanes": { type: "string", default: "10000" },
    "fanout-lane-proxies": { type: "string" },
    "fanout-whole": { type: "boolean", default: false },
    "fanout-client": { type: "string", default: "h2" },
    "quiet-cores": { type: "string", default: "0" },
    "keep-tmp": { type: "boolean", default: false },
    print: { type: "string" },
    build: { type: "string", multiple: true, default: [] },
    "node-flags": { type: "string", multiple: true, default: [] },
    help: { type: "boolean", short: "h", default: false },
  },
});

const say = (line: string) => process.stderr.write(`bench: ${line}\n`);

interface Peer {
  def: PeerDef;
  result: PeerResult;
  running: RunningPeer | null;
}

/** Starts a peer and checks one request end to end; a peer that fails is reported, not fatal. */
async function startPeer(peer: Peer, ctx: PeerContext): Promise<void> {
  try {
    peer.running = await peer.def.start(ctx);
    peer.result.processes = peer.running.measured.map((m) => m.role);
    const res = await httpGet(peer.running.port, "/", { ...REQUEST_HEADERS });
    if (res.status !== 200 || res.body !== "hello world\n") {
      throw new Error(
        `smoke request answered ${res.status} ${JSON.stringify(res.headers)} ${res.body.slice(0, 200)}`,
      );
    }
    const servedBy = res.headers["x-served-by"];
    if (servedBy !== peer.running.expectServedBy) {
      peer.result.warnings.push(
        `smoke request served by the ${servedBy} upstream, expected ${peer.running.expectServedBy} (lane routing not applied)`,
      );
    }
  } catch (err) {
    peer.result.status = "failed";
    peer.result.error = (err as Error).message;
    if (peer.running !== null) await peer.running.stop();
    peer.running = null;
    say(`${peer.def.name}: FAILED to start: ${(err as Error).message}`);
  }
}

function commandLine(): string {
  if (process.env.npm_lifecycle_event === "bench") {
    return `npm run bench${argv.length > 0 ? ` -- ${argv.join(" ")}` : ""}`;
  }
  return `node dist/bench/macro/run.js${argv.length > 0 ? ` ${argv.join(" ")}` : ""}`;
}

/** The data-plane peers: the upstream, every peer started and checked, warmed up, then visited. */
async function measurePeers(
  peers: Peer[],
  settings: Settings,
  tools: Tools,
  tmpDir: string,
  logDir: string,
  quiet: number,
): Promise<void> {
  const { proc: upstream, basePort, grayPort } = await startUpstream(repoRoot, logDir);
  const ctx: PeerContext = { tools, tmpDir, logDir, repoRoot, upstream: { basePort, grayPort } };

  for (const peer of peers) await startPeer(peer, ctx);
  const live = () => peers.filter((p) => p.running !== null);
  say(
    `running: ${live()
      .map((p) => p.def.name)
      .join(", ")}; warming up ${settings.warmupS}s each at 1k rps`,
  );
  for (const peer of live()) {
    try {
      await runLoad(logDir, (peer.running as RunningPeer).port, {
        mode: "open",
        connections: 16,
        seconds: settings.warmupS,
        rate: 1000,
        warmup: 200,
      });
    } catch (err) {
      peer.result.warnings.push(`warm-up: ${(err as Error).message}`);
    }
  }

  for (let rep = 0; rep < settings.reps; rep++) {
    const order = live();
    const shift = rep % Math.max(1, order.length);
    const rotated = [...order.slice(shift), ...order.slice(0, shift)];
    for (const [position, peer] of rotated.entries()) {
      if (quiet > 0) await waitQuiet(quiet, 120_000);
      const rec = await visit(peer.running as RunningPeer, rep, position, settings, ctx, tools);
      peer.result.reps.push(rec);
      for (const e of rec.errors) peer.result.warnings.push(`rep ${rep}: ${e}`);
      say(
        `rep ${rep + 1}/${settings.reps} ${peer.def.name.padEnd(14)} ` +
          `${(rec.wrk?.rps ?? Number.NaN).toFixed(0).padStart(6)} req/s  ` +
          `c=1 p50 ${(rec.c1?.latencyUs.p50 ?? Number.NaN).toFixed(0)} µs  ` +
          `1k p50/p99 ${(rec.open?.latencyUs.p50 ?? Number.NaN).toFixed(0)}/${(rec.open?.latencyUs.p99 ?? Number.NaN).toFixed(0)} µs  ` +
          `background ${(rec.background?.otherCores ?? Number.NaN).toFixed(2)} cores`,
      );
    }
  }

  for (const peer of live()) {
    const running = peer.running as RunningPeer;
    peer.result.peakRssMB = running.measured.map((m) => memoryMB(m.pid)?.hwm ?? Number.NaN);
    await running.stop();
    peer.running = null;
  }
  await stopProc(upstream);
}

async function main(): Promise<void> {
  if (opt.help) {
    process.stdout.write(USAGE);
    return;
  }
  if (opt.print !== undefined) {
    const earlier = JSON.parse(readFileSync(opt.print, "utf8")) as BenchResult;
    summarize(earlier.peers); // from the stored repetitions, so older files get newer columns too
    process.stdout.write(markdown(earlier));
    return;
  }
  const started = Date.now();
  installExitHandlers((err) => say(`fatal: ${(err as Error)?.stack ?? String(err)}`));
  const modeName = opt.quick ? "quick" : "full";
  const mode = MODES[modeName];
  const fanoutOnly = opt["fanout-only"];
  // The fan-out alone needs none of the data plane's tools (their versions are read if present).
  const tools = fanoutOnly
    ? { nginx: "nginx", haproxy: "haproxy", wrk: "wrk" }
    : ensureTools(!opt["no-install"]);
  if (!existsSync(join(repoRoot, "dist/bench/macro/openloop.js"))) {
    say("dist/ is missing: run `npm run build` first");
    process.exit(1);
  }
  const wanted = opt.peers?.split(",").map((s) => s.trim());
  const quiet = Number(opt["quiet-cores"]);
  const nodeFlags = new Map<string, string[]>();
  for (const f of opt["node-flags"] ?? []) {
    const eq = f.indexOf("=");
    nodeFlags.set(
      f.slice(0, eq),
      f
        .slice(eq + 1)
        .split(" ")
        .filter(Boolean),
    );
  }
  const builds = (opt.build ?? []).map((b) => {
    const eq = b.indexOf("=");
    const name = b.slice(0, eq);
    const root = b.slice(eq + 1);
    if (eq < 1 || !/^[\w.-]+$/.test(name) || !existsSync(join(root, "dist/src/cli/main.js"))) {
      say(`--build ${b}: expected NAME=DIR with DIR a built checkout (DIR/dist/src/cli/main.js)`);
      process.exit(1);
    }
    return { name, root, nodeFlags: nodeFlags.get(name) ?? [] };
  });
  const unknownFlags = [...nodeFlags.keys()].filter((n) => !builds.some((b) => b.name === n));
  if (unknownFlags.length > 0) {
    say(`--node-flags ${unknownFlags.join(",")}: no --build of that name`);
    process.exit(1);
  }
  const defs = fanoutOnly
    ? []
    : peerList(repoRoot, builds).filter(
        (p) => wanted === undefined || p.name === "direct" || wanted.includes(p.name),
      );
  const settings: Settings = {
    reps: opt.reps !== undefined ? Math.max(1, Number(opt.reps)) : mode.reps,
    warmupS: mode.warmupS,
    wrk: { threads: 1, connections: 16, seconds: mode.wrkS },
    c1: { connections: 1, seconds: mode.c1S },
    open: { rate: 1000, connections: 16, seconds: mode.openS },
    requestHeaders: { ...REQUEST_HEADERS },
  };
  const machine = machineFacts(tools);
  say(
    `${modeName} run: ${defs.length} peers × ${settings.reps} repetitions; ${machine.cpuModel}, ${machine.cores} cores`,
  );

  const tmpDir = mkdtempSync(join(os.tmpdir(), "lanemesh-bench-"));
  if (!opt["keep-tmp"]) onCleanup(() => rmSync(tmpDir, { recursive: true, force: true }));
  const logDir = join(tmpDir, "logs");
  mkdirSync(logDir);
  const peers: Peer[] = defs.map((def) => ({
    def,
    running: null,
    result: {
      name: def.name,
      proxies: def.proxies,
      description: def.description,
      status: "ok",
      warnings: [],
      processes: [],
      reps: [],
      peakRssMB: null,
      summary: null,
    },
  }));
  try {
    if (peers.length > 0) await measurePeers(peers, settings, tools, tmpDir, logDir, quiet);

    const sizes = opt["fanout-sizes"].split(",").map(Number);
    const fanout = opt["no-fanout"]
      ? { status: "skipped" as const, reason: "--no-fanout" }
      : await runFanout({
          repoRoot,
          tmpDir,
          logDir,
          sizes,
          applies: mode.fanoutApplies,
          register: opt["fanout-register"],
          whole: opt["fanout-whole"],
          client: opt["fanout-client"] === "grpc-js" ? "grpc-js" : "h2",
          // A build named for its sidecars' node flags has the same control plane as its code's.
          builds: builds.filter((b) => b.nodeFlags.length === 0),
          quietCores: quiet,
          lanes: Number(opt["fanout-lanes"]),
          laneProxies: opt["fanout-lane-proxies"]?.split(",").map(Number) ?? [200],
          laneApplies: mode.laneApplies,
        });

    const results = peers.map((p) => p.result);
    summarize(results);
    const result: BenchResult = {
      schema: 1,
      date: new Date().toISOString(),
      mode: modeName,
      command: commandLine(),
      machine: { ...machine, loadAverageEnd: os.loadavg().map((x) => Math.round(x * 100) / 100) },
      settings,
      durationS: Math.round((Date.now() - started) / 1000),
      peers: results,
      fanout,
    };
    const outFile = resultPath(modeName, opt.label, opt.out);
    writeResult(outFile, result);
    process.stdout.write(`\n${markdown(result)}\nResult: ${outFile} (${result.durationS} s)\n`);
  } finally {
    for (const peer of peers) if (peer.running !== null) await peer.running.stop().catch(() => {});
    killAllSync();
    if (opt["keep-tmp"]) say(`scratch folder kept: ${tmpDir}`);
  }
}

await main();
