// `lanemesh demo` end to end: starts the control plane, gateway, apps and sidecars as processes, applies the example lanes, shows the chains, then stops every process; it holds no routing logic.
import { setMaxListeners } from "node:events";
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { isAbsolute, join, relative } from "node:path";
import { performance } from "node:perf_hooks";
import { ensureSecrets } from "../control-plane/secrets.js";
import { signToken } from "../control-plane/tokens.js";
import { formatTally, runCheck, type Tally, tallyOk } from "./check.js";
import { type Child, ChildSet, CLI_PATH, type ExitStatus } from "./children.js";
import { grpcChains, runGrpcCheck } from "./grpc-check.js";
import { choosePorts, type PortWish } from "./ports.js";
import {
  applyScenario,
  CLOSED_LANE_FILE,
  type DemoMode,
  type DemoProtocol,
  EXAMPLES_DIR,
  loadScenario,
  scenarioFiles,
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
  /** `grpc`: the apps are gRPC services (proto/echo.proto) and the calls gRPC; default http. */
  protocol?: DemoProtocol;
  /** Ratio mode: the gray lane's weight; null = the example's. */
  weight: number | null;
  /** Send this many requests, print the shares, and stop; null = run until `signal`. */
  check: number | null;
  /** The control plane's ports: given ones are used or refused, defaults replaced when taken. */
  grpcPort: PortWish;
  httpPort: PortWish;
  /** Consecutive ports for the gateway's admin and the apps; null = free ports. */
  basePort: number | null;
  /**
   * Once the mesh is up: make the control plane findable by the CLI (the context file). Returns
   * the line to print and whether it worked (if not, the hints name --server).
   */
  announce?: (
    server: string,
    controlPlane: string,
    adminToken: string,
  ) => { ok: boolean; line: string };
  /** Called once the demo stops, whatever the reason (the context file's entry is removed). */
  withdraw?: () => void;
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
  const chosen = await choosePorts({
    gateway: o.gatewayPort,
    grpc: o.grpcPort,
    http: o.httpPort,
    base: o.basePort,
  });
  if (!chosen.ok) {
    o.err(`${chosen.message}\n`);
    return 1;
  }
  const protocol = o.protocol ?? "http";
  const scenario = loadScenario(o.mode, o.weight, EXAMPLES_DIR, protocol);
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
  const plan = (o.adjustPlan ?? ((p: DemoPlan) => p))(demoPlan(ports, dirs, protocol === "grpc"));
  const count = 1 + plan.apps.length + plan.proxies.length;

  o.out(
    `lanemesh demo (${protocol === "grpc" ? "gRPC, " : ""}mode ${o.mode}${o.mode === "ratio" && o.weight !== null ? `, weight ${o.weight}` : ""}): ` +
      `starting ${count} processes; their logs and pids are in ${logDir}\n`,
  );
  for (const note of chosen.notes) o.out(`${note}\n`);
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
        `(applied ${scenarioFiles(o.mode, protocol)
          .map((f) => `examples/${f}`)
          .join(" + ")})\n\n`,
    );
    if (protocol === "grpc") o.out(await grpcChains(ports.gateway, CANARY_HEADER));
    else await showChains(o, gateway);
    if (o.check !== null) {
      code = await check(o, gateway, signal, o.check, protocol === "grpc" ? ports.gateway : null);
    } else {
      const announced = o.announce?.(server, `127.0.0.1:${ports.grpc}`, secrets.adminToken) ?? {
        ok: false,
        line: "",
      };
      o.out(`control plane: HTTP ${server}, gRPC 127.0.0.1:${ports.grpc}\n`);
      o.out(
        `web console: ${server}/ui   (to change lanes there, give it the admin token in ${shown(secrets.adminTokenFile)})\n`,
      );
      if (announced.line !== "") o.out(`${announced.line}\n`);
      o.out(
        `\n${demoHints(o, ports, announced.ok ? "" : ` --server ${server} --api-token-file ${shown(secrets.adminTokenFile)}`)}`,
      );
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
    o.withdraw?.();
    await children.stop();
  }
  // A clean run leaves nothing behind; a failed one keeps its logs for the reader.
  const keep = code !== 0 && children.list().length > 0;
  rmSync(keep ? dirs.data : root, { recursive: true, force: true });
  if (keep) for (const d of [dirs.state, dirs.tokens]) rmSync(d, { recursive: true, force: true });
  o.out(
    `stopped ${children.list().length} processes${keep ? ` (logs kept in ${logDir}; remove ${root} when done)` : ""}\n`,
  );
  return code;
}

class DemoError extends Error {
  readonly code = "LANEMESH_DEMO_FAILED";
}

/** The scenario's two curl commands with their live answers (ratio mode: a few answers). */
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
  /** The gateway's port when the calls are gRPC. */
  grpcPort: number | null,
): Promise<number> {
  const content = o.mode === "content";
  o.out(
    `check: ${requests} ${grpcPort === null ? `requests to ${gateway}${DEMO_PATH}` : `gRPC calls to 127.0.0.1:${grpcPort} lanemesh.demo.Echo/Unary`}, ${CHECK_CONCURRENCY} at a time` +
      `${content ? `, every other one with '${CANARY_HEADER.name}: ${CANARY_HEADER.value}'` : ""}\n`,
  );
  const t = performance.now();
  const header = content ? { header: { ...CANARY_HEADER, lane: "gray" } } : {};
  const common = { requests, concurrency: CHECK_CONCURRENCY, ...header, signal };
  const tally: Tally =
    grpcPort === null
      ? await runCheck({ origin: gateway, path: DEMO_PATH, ...common })
      : await runGrpcCheck({ gatewayPort: grpcPort, ...common });
  o.out(formatTally(tally, { contentMode: content }));
  o.out(`took ${((performance.now() - t) / 1000).toFixed(1)} s\n\n`);
  return tallyOk(tally) ? 0 : 1;
}

function shown(path: string): string {
  const r = relative(process.cwd(), path);
  return r !== "" && !r.startsWith("..") && !isAbsolute(r) ? r : path;
}

/** The draw `explain --draw` needs to land inside (`in`) or outside the ratio lane's weight. */
function drawFor(weight: number, inside: boolean): string {
  const share = inside ? weight / 2 : weight + (100 - weight) / 2;
  return String(Math.min(0.99, Math.round(share) / 100));
}

/**
 * What to try while the demo runs; each line runs as printed (test/e2e/docs-commands.test.ts runs
 * them). `server` is "" when the CLI finds the demo by itself (the context file), else
 * ` --server URL`.
 */
export function demoHints(
  o: Pick<DemoOptions, "mode" | "weight" | "protocol">,
  ports: DemoPorts,
  server: string,
): string {
  const ex = (f: string): string => shown(join(EXAMPLES_DIR, f));
  const url = `http://127.0.0.1:${ports.gateway}${DEMO_PATH}`;
  const h = CANARY_HEADER;
  const lm = (args: string): string => {
    const [verb, ...rest] = args.split(" ");
    return `  lanemesh ${verb}${server}${rest.length > 0 ? ` ${rest.join(" ")}` : ""}`;
  };
  const lines = ["Try this (the demo runs until Ctrl-C):"];
  if (o.protocol === "grpc") {
    const call = `grpcurl -plaintext -import-path proto -proto echo.proto -d '{"text":"x"}'`;
    const target = `127.0.0.1:${ports.gateway} lanemesh.demo.Echo/Unary`;
    lines.push(
      `  ${call} ${target}`,
      `  ${call} -H '${h.name}: ${h.value}' ${target}`,
      lm("get lanes"),
      lm(`explain -H '${h.name}: ${h.value}' /lanemesh.demo.Echo/Unary`),
    );
  } else if (o.mode === "content") {
    lines.push(
      `  curl ${url}`,
      `  curl -H '${h.name}: ${h.value}' ${url}`,
      lm("get lanes"),
      lm("describe lane gray"),
      lm("get all -o wide"),
      lm(`explain -H '${h.name}: ${h.value}' ${DEMO_PATH}`),
      `${lm(`apply -f ${ex(CLOSED_LANE_FILE)}`)}   # close the gray lane`,
      `${lm(`explain -H '${h.name}: ${h.value}' ${DEMO_PATH}`)}   # now base: the lane is closed`,
      `${lm(`apply -f ${ex("mall-content.yaml")}`)}   # open it again`,
    );
  } else {
    const w = o.weight ?? 30;
    lines.push(
      `  curl ${url}   # again and again: about ${w} % of the answers take the gray lane`,
      lm("get lanes"),
      lm("describe lane gray"),
      lm("get all -o wide"),
      `${lm(`explain --draw ${drawFor(w, true)} ${DEMO_PATH}`)}   # a draw under the weight: gray`,
      `${lm(`explain --draw ${drawFor(w, false)} ${DEMO_PATH}`)}   # over it: base`,
      `${lm(`apply -f ${ex("mall-ratio.yaml")}`)}   # after editing its weight`,
    );
  }
  const a = ports.apps.a;
  lines.push(
    `${lm("status")}   # per app: gray beside base, from the proxies' reports (--watch to follow)`,
    lm("version"),
    "Metrics (Prometheus text):",
    `  curl http://127.0.0.1:${ports.gatewayAdmin}/metrics   # the gateway`,
    `  curl http://127.0.0.1:${a?.admin}/metrics   # the sidecar of A (/config: its snapshot)`,
    `  curl http://127.0.0.1:${ports.http}/metrics   # the control plane`,
    `(in a clone, \`lanemesh\` is \`npx lanemesh\` or \`node ${shown(CLI_PATH)}\`)`,
    "",
  );
  return `${lines.join("\n")}\n`;
}
