// `lanemesh demo` end to end: starts the control plane, gateway, apps and sidecars as processes, applies the example lanes, shows the chains, then stops every process; it holds no routing logic.
import { setMaxListeners } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative } from "node:path";
import { performance } from "node:perf_hooks";
import { ensureSecrets } from "../control-plane/secrets.js";
import { signToken } from "../control-plane/tokens.js";
import { formatTally, runCheck, tallyOk } from "./check.js";
import { type Child, ChildSet, CLI_PATH, type ExitStatus } from "./children.js";
import { choosePorts } from "./ports.js";
import {
  applyScenario,
  CLOSED_LANE_FILE,
  type DemoMode,
  EXAMPLES_DIR,
  loadScenario,
  MODE_FILES,
} from "./scenario.js";
import {
  CANARY_HEADER,
  DEMO_APPS,
  DEMO_PATH,
  type DemoPlan,
  type DemoPorts,
  demoPlan,
  demoTokens,
  expectedInstances,
  type ProcessSpec,
} from "./topology.js";
import { httpGet, isReady, until, WaitAborted, waitInSync } from "./wait.js";

export interface DemoOptions {
  /** The gateway's port (default 8080 in the CLI). */
  gatewayPort: number;
  mode: DemoMode;
  /** Ratio mode: the gray lane's weight; null = the example's. */
  weight: number | null;
  /** Send this many requests, print the shares, and stop; null = run until `signal`. */
  check: number | null;
  /** Consecutive ports for everything but the gateway; null = free ports. */
  basePort: number | null;
  /** Aborted on Ctrl-C or SIGTERM: stop everything and return. */
  signal: AbortSignal;
  out: (text: string) => void;
  err: (text: string) => void;
  /** How long start-up may take before the demo gives up (default 60 s). */
  startTimeoutMs?: number;
  /** Change the processes' flags before they start (tests: a child that cannot start). */
  adjustPlan?: (plan: DemoPlan) => DemoPlan;
}

const CHECK_CONCURRENCY = 16;
/** Ratio mode: how many answers to show. */
const RATIO_SAMPLES = 8;

/** Run the demo; resolves with the exit code once every child has exited. */
export async function runDemo(o: DemoOptions): Promise<number> {
  const t0 = performance.now();
  const chosen = await choosePorts(o.gatewayPort, o.basePort);
  if (!chosen.ok) {
    o.err(`${chosen.message}\n`);
    return 1;
  }
  const scenario = loadScenario(o.mode, o.weight);
  if (!scenario.ok) {
    o.err(`${scenario.message}\n`);
    return 1;
  }
  const ports = chosen.ports;
  const root = mkdtempSync(join(tmpdir(), "lanemesh-demo-"));
  const logDir = join(root, "logs");
  const dirs = {
    data: join(root, "control-plane"),
    state: join(root, "state"),
    tokens: join(root, "tokens"),
  };
  mkdirSync(logDir);
  // The control plane's key and admin token, made now (it reads them when it starts), so that
  // every proxy starts with its own token: real credentials, no bypass.
  const secrets = await ensureSecrets(dirs.data);
  mkdirSync(dirs.tokens, { mode: 0o700 });
  for (const t of demoTokens(dirs)) {
    const { token } = signToken(secrets.signingKey, { ...t, ttlSeconds: 7 * 86_400 });
    writeFileSync(t.file, `${token}\n`, { mode: 0o600 });
  }

  let stopping = false;
  let died: { child: Child; status: ExitStatus } | null = null;
  const failure = new AbortController();
  const children = new ChildSet({
    logDir,
    onExit: (child, status) => {
      if (stopping || died !== null) return;
      died = { child, status };
      failure.abort();
    },
  });
  const signal = AbortSignal.any([o.signal, failure.signal]);
  setMaxListeners(64, signal); // one listener per process while waiting for them
  const server = `http://127.0.0.1:${ports.http}`;
  const gateway = `http://127.0.0.1:${ports.gateway}`;
  const plan = (o.adjustPlan ?? ((p: DemoPlan) => p))(demoPlan(ports, dirs));
  const count = 1 + plan.apps.length + plan.proxies.length;

  o.out(
    `lanemesh demo (mode ${o.mode}${o.mode === "ratio" && o.weight !== null ? `, weight ${o.weight}` : ""}): ` +
      `starting ${count} processes; their logs and pids are in ${logDir}\n`,
  );
  let code = 0;
  try {
    // Everything at once: the proxies retry the control plane until it listens.
    const started: [ProcessSpec, Child][] = [plan.controlPlane, ...plan.apps, ...plan.proxies].map(
      (spec) => [spec, children.start(spec)],
    );
    const opts = { signal, timeoutMs: o.startTimeoutMs ?? 60_000 };
    const ready = started.map(([spec]) => until(spec.name, () => isReady(spec.ready), opts));
    const allReady = Promise.all(ready);
    allReady.catch(() => {}); // awaited below; this only keeps an early exit from leaving it unhandled
    await ready[0];
    const applied = await applyScenario(server, scenario.docs, secrets.adminToken);
    if (!applied.ok) throw new DemoError(`cannot apply the examples:\n${applied.message}`);
    await allReady;
    const want = { sidecars: DEMO_APPS.length, gateways: 1, minVersion: applied.version };
    const synced = await waitInSync(server, expectedInstances(ports), want, opts);
    const seconds = ((performance.now() - t0) / 1000).toFixed(1);
    o.out(
      `${count} processes up, ${want.sidecars + 1} proxies at version ${synced.version} in ${seconds} s ` +
        `(applied ${MODE_FILES[o.mode].map((f) => `examples/${f}`).join(" + ")})\n\n`,
    );
    await showChains(o, gateway);
    if (o.check !== null) {
      code = await check(o, gateway, signal, o.check);
    } else {
      o.out(tryThis(o.mode, ports, server, secrets.adminTokenFile));
      await new Promise<void>((resolve) => {
        if (signal.aborted) resolve();
        else signal.addEventListener("abort", () => resolve(), { once: true });
      });
    }
  } catch (err) {
    if (!(err instanceof WaitAborted || err instanceof DemoError)) throw err;
    if (!o.signal.aborted && died === null) {
      o.err(`error: ${err.message}\n(logs in ${logDir})\n`);
      code = 1;
    }
  } finally {
    stopping = true;
    const dead = died as { child: Child; status: ExitStatus } | null;
    if (dead !== null && !o.signal.aborted) {
      const how = dead.status.signal ?? `code ${dead.status.code}`;
      o.err(
        `error: ${dead.child.name} exited (${how}); last lines of ${dead.child.logFile}:\n` +
          `${children.tail(dead.child)}\nstopping the other processes\n`,
      );
      code = 1;
    }
    await children.stop();
  }
  for (const d of [dirs.data, dirs.state, dirs.tokens]) rmSync(d, { recursive: true, force: true });
  o.out(`stopped ${children.list().length} processes (logs kept in ${logDir})\n`);
  return code;
}

class DemoError extends Error {
  readonly code = "LANEMESH_DEMO_FAILED";
}

/** The two curl commands of DESIGN.md §1 with their live answers (ratio mode: a few answers). */
async function showChains(o: DemoOptions, gateway: string): Promise<void> {
  const url = `${gateway}${DEMO_PATH}`;
  const answer = (r: { status: number; body: string } | null): string =>
    r === null
      ? "(no answer)\n"
      : `${r.body.trimEnd()}${r.status === 200 ? "" : `   (HTTP ${r.status})`}\n`;
  if (o.mode === "content") {
    o.out(`$ curl ${url}\n${answer(await httpGet(url))}`);
    const h = CANARY_HEADER;
    o.out(
      `$ curl -H '${h.name}: ${h.value}' ${url}\n${answer(await httpGet(url, { [h.name]: h.value }))}\n`,
    );
    return;
  }
  o.out(`$ for i in $(seq ${RATIO_SAMPLES}); do curl ${url}; done\n`);
  for (let i = 0; i < RATIO_SAMPLES; i++) o.out(answer(await httpGet(url)));
  o.out(
    `(about ${o.weight ?? 30} % of the requests take the gray lane, the rest base: run ` +
      `\`lanemesh demo --mode ratio${o.weight === null ? "" : ` --weight ${o.weight}`} --check 2000\` to measure it)\n\n`,
  );
}

async function check(
  o: DemoOptions,
  gateway: string,
  signal: AbortSignal,
  requests: number,
): Promise<number> {
  const content = o.mode === "content";
  o.out(
    `check: ${requests} requests to ${gateway}${DEMO_PATH}, ${CHECK_CONCURRENCY} at a time` +
      `${content ? `, every other one with '${CANARY_HEADER.name}: ${CANARY_HEADER.value}'` : ""}\n`,
  );
  const t = performance.now();
  const tally = await runCheck({
    origin: gateway,
    path: DEMO_PATH,
    requests,
    concurrency: CHECK_CONCURRENCY,
    ...(content ? { header: { ...CANARY_HEADER, lane: "gray" } } : {}),
    signal,
  });
  o.out(formatTally(tally, { contentMode: content }));
  o.out(`took ${((performance.now() - t) / 1000).toFixed(1)} s\n\n`);
  return tallyOk(tally) ? 0 : 1;
}

function shown(path: string): string {
  const r = relative(process.cwd(), path);
  return r !== "" && !r.startsWith("..") && !isAbsolute(r) ? r : path;
}

/** What to try while the demo runs. */
function tryThis(mode: DemoMode, ports: DemoPorts, server: string, adminTokenFile: string): string {
  const ex = (f: string): string => shown(join(EXAMPLES_DIR, f));
  const url = `http://127.0.0.1:${ports.gateway}${DEMO_PATH}`;
  const h = CANARY_HEADER;
  const lines = [
    "Try this (the demo runs until Ctrl-C):",
    `  curl ${url}`,
    `  curl -H '${h.name}: ${h.value}' ${url}`,
    `  lanemesh get lanes --server ${server}`,
    `  lanemesh get proxies --server ${server}`,
    `  lanemesh get instances --server ${server}`,
    `  lanemesh explain --server ${server} -H '${h.name}: ${h.value}' ${DEMO_PATH}`,
  ];
  const change = `lanemesh apply --server ${server} --api-token-file ${shown(adminTokenFile)}`;
  if (mode === "content")
    lines.push(
      `  ${change} -f ${ex(CLOSED_LANE_FILE)}   # close the gray lane`,
      `  ${change} -f ${ex("mall-content.yaml")}   # open it again`,
    );
  else lines.push(`  ${change} -f ${ex("mall-ratio.yaml")}   # after editing its weight`);
  const a = ports.apps.a;
  lines.push(
    "  metrics:",
    `    gateway        http://127.0.0.1:${ports.gatewayAdmin}/metrics`,
    `    sidecar of A   http://127.0.0.1:${a?.admin}/metrics   (/config shows its snapshot)`,
    `    control plane  ${server}/metrics`,
    `(\`lanemesh\` is \`node ${shown(CLI_PATH)}\` when it is not on your PATH)`,
    "",
  );
  return `${lines.join("\n")}\n`;
}
