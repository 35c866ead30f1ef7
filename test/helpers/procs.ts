// Test helper: runs the built `lanemesh` CLI as child processes on loopback and always cleans them up; no assertions here.
import { type ChildProcess, spawn } from "node:child_process";
import { mkdtempSync, renameSync, rmSync, writeFileSync } from "node:fs";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";
import { contentVersion } from "../../src/config/watch.js";
import { freePorts as freePortsBelowEphemeral } from "../../src/demo/ports.js";

/** dist/test/helpers/procs.js → dist/src/cli/main.js */
export const CLI = fileURLToPath(new URL("../../src/cli/main.js", import.meta.url));
/** The repository root (fixtures live in its test/ folder, not in dist/). */
export const REPO = fileURLToPath(new URL("../../../", import.meta.url));

/** A context file that never exists: the CLI under test never reads the user's (~/.lanemesh/config). */
export const NO_CONTEXT = join(tmpdir(), `lanemesh-test-no-context-${process.pid}`, "config");

/** The environment for children: ours minus any LANEMESH_* a developer may have exported. */
function childEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith("LANEMESH_")) env[k] = v;
  return { ...env, LANEMESH_LOG_LEVEL: "warn", LANEMESH_CONFIG: NO_CONTEXT, ...extra };
}

export interface CliResult {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Run `lanemesh ARGS…` to completion (in `cwd`, default ours). */
export function runCli(
  args: string[],
  env: Record<string, string> = {},
  cwd?: string,
): Promise<CliResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, [CLI, ...args], {
      env: childEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
      ...(cwd === undefined ? {} : { cwd }),
    });
    let stdout = "";
    let stderr = "";
    child.stdout.setEncoding("utf8").on("data", (d: string) => {
      stdout += d;
    });
    child.stderr.setEncoding("utf8").on("data", (d: string) => {
      stderr += d;
    });
    child.on("error", reject);
    child.on("close", (code) => resolve({ code, stdout, stderr }));
  });
}

/** `n` distinct free ports on 127.0.0.1, below the ephemeral range (see src/demo/ports.ts). */
export const freePorts = freePortsBelowEphemeral;

const OUTPUT_LIMIT = 64 * 1024;

/** One running child. */
export interface Proc {
  readonly name: string;
  readonly child: ChildProcess;
  /** Resolves with the exit code (or signal name) once the process has exited. */
  readonly exited: Promise<number | string>;
  hasExited(): boolean;
  /** The last 64 KB of stdout and stderr, interleaved. */
  output(): string;
  /** Send `signal` and wait for the exit. */
  kill(signal?: NodeJS.Signals): Promise<number | string>;
}

/** Every child a test starts: `killAll()` in an after() hook, and on process exit as a last resort. */
export class ProcGroup {
  private readonly procs: Proc[] = [];
  private readonly onExit = (): void => {
    for (const p of this.procs) if (!p.hasExited()) p.child.kill("SIGKILL");
  };

  constructor() {
    process.on("exit", this.onExit);
  }

  /**
   * Start `node dist/src/cli/main.js ARGS…`, or `WRAP… node dist/src/cli/main.js ARGS…` (e.g.
   * `ip netns exec NS setpriv …`, commands that exec the next one, so the child is node itself).
   */
  spawn(name: string, args: string[], env: Record<string, string> = {}, wrap: string[] = []): Proc {
    const argv = [...wrap, process.execPath, CLI, ...args];
    const child = spawn(argv[0] as string, argv.slice(1), {
      env: childEnv(env),
      stdio: ["ignore", "pipe", "pipe"],
    });
    let out = "";
    const append = (d: string): void => {
      out += d;
      if (out.length > OUTPUT_LIMIT) out = out.slice(-OUTPUT_LIMIT);
    };
    child.stdout?.setEncoding("utf8").on("data", append);
    child.stderr?.setEncoding("utf8").on("data", append);
    let done = false;
    const exited = new Promise<number | string>((resolve) => {
      child.on("exit", (code, signal) => {
        done = true;
        resolve(code ?? signal ?? "unknown");
      });
      child.on("error", (err) => {
        done = true;
        append(`spawn error: ${err.message}\n`);
        resolve("spawn-error");
      });
    });
    const proc: Proc = {
      name,
      child,
      exited,
      hasExited: () => done,
      output: () => out,
      kill: async (signal = "SIGKILL") => {
        if (!done) child.kill(signal);
        return exited;
      },
    };
    this.procs.push(proc);
    return proc;
  }

  /** Outputs of every child, for a failing assertion's message. */
  dump(): string {
    return this.procs.map((p) => `--- ${p.name} ---\n${p.output()}`).join("\n");
  }

  async killAll(): Promise<void> {
    await Promise.all(this.procs.map((p) => p.kill("SIGKILL")));
    process.off("exit", this.onExit);
  }
}

async function poll(
  proc: Proc,
  what: string,
  timeoutMs: number,
  probe: () => Promise<boolean>,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  let delay = 20;
  for (;;) {
    if (proc.hasExited())
      throw new Error(`${proc.name} exited while waiting for ${what}:\n${proc.output()}`);
    if (await probe()) return;
    if (Date.now() > deadline)
      throw new Error(`${proc.name}: timed out waiting for ${what}:\n${proc.output()}`);
    await new Promise((r) => setTimeout(r, delay));
    delay = Math.min(delay * 2, 200);
  }
}

/** Wait until `GET http://127.0.0.1:ADMIN/ready` answers 200. */
export function waitReady(proc: Proc, adminPort: number, timeoutMs = 60_000): Promise<void> {
  return poll(proc, `/ready on ${adminPort}`, timeoutMs, async () => {
    try {
      const res = await fetch(`http://127.0.0.1:${adminPort}/ready`);
      await res.arrayBuffer();
      return res.status === 200;
    } catch {
      return false;
    }
  });
}

/** Wait until something accepts TCP connections on 127.0.0.1:PORT. */
export function waitListening(proc: Proc, port: number, timeoutMs = 60_000): Promise<void> {
  return poll(
    proc,
    `a listener on ${port}`,
    timeoutMs,
    () =>
      new Promise<boolean>((resolve) => {
        const s = connect(port, "127.0.0.1");
        s.once("connect", () => {
          s.destroy();
          resolve(true);
        });
        s.once("error", () => resolve(false));
      }),
  );
}

const SAMPLE = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})?\s+(\S+)/;
const LABEL = /([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g;

/** Sum of every sample of `metric` whose labels include all of `labels` (Prometheus text). */
export function sumMetric(
  text: string,
  metric: string,
  labels: Record<string, string> = {},
): number {
  let sum = 0;
  for (const line of text.split("\n")) {
    const m = SAMPLE.exec(line);
    if (!m || m[1] !== metric) continue;
    const have = new Map<string, string>();
    for (const l of (m[2] ?? "").matchAll(LABEL)) have.set(l[1] ?? "", l[2] ?? "");
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) sum += Number(m[3]);
  }
  return sum;
}

// ---- The README's scenario (A → B → C, gray A and C) as real processes: gateway, five sidecars, five demo apps ----

export type AppKey = "a" | "ag" | "b" | "c" | "cg";
export const APP_KEYS: readonly AppKey[] = ["a", "ag", "b", "c", "cg"];

export interface AppSpec {
  service: string;
  name: string;
  tag: string | null;
  next: string | null;
  configLabel: string | null;
}

/** `sidecar …` arguments for one instance of the scenario, then `common` (sources, bind…). */
export function sidecarArgs(k: AppKey, p: AppPorts, common: string[]): string[] {
  const a = APPS[k];
  return [
    "sidecar",
    "--app",
    a.service,
    ...(a.tag ? ["--tag", a.tag] : []),
    "--app-port",
    String(p.app),
    "--inbound-port",
    String(p.inbound),
    "--outbound-port",
    String(p.outbound),
    "--admin-port",
    String(p.admin),
    ...common,
  ];
}

/** `demo-app` arguments of instance `k`, calling on through its sidecar's outbound port. */
export function appArgs(k: AppKey, p: AppPorts): string[] {
  const a = APPS[k];
  return [
    "demo-app",
    "--name",
    a.name,
    ...(a.tag ? ["--tag", a.tag] : []),
    "--port",
    String(p.app),
    "--proxy",
    `http://127.0.0.1:${p.outbound}`,
    ...(a.next ? ["--next", a.next] : []),
    ...(a.configLabel ? ["--config-label", a.configLabel] : []),
  ];
}

/** The five demo-app instances of the README's scenario. */
export const APPS: Record<AppKey, AppSpec> = {
  a: { service: "sc-a", name: "A", tag: null, next: "http://sc-b/", configLabel: "base" },
  ag: { service: "sc-a", name: "A", tag: "gray", next: "http://sc-b/", configLabel: "base" },
  b: { service: "sc-b", name: "B", tag: null, next: "http://sc-c/", configLabel: null },
  c: { service: "sc-c", name: "C", tag: null, next: null, configLabel: null },
  cg: { service: "sc-c", name: "C", tag: "gray", next: null, configLabel: null },
};

/** The seed's content-mode rules: route /a → sc-a, lane gray on `canary: gray`. */
export function scenarioRules(lane: { enabled?: boolean; apps?: string[] } = {}): string {
  return `apiVersion: lanemesh.io/v1alpha1
kind: Route
metadata: { name: a-route }
spec: { gateway: default, match: { prefix: /a }, service: sc-a }
---
apiVersion: lanemesh.io/v1alpha1
kind: LaneGroup
metadata: { name: mall }
spec:
  entry: { gateway: default, routes: [a-route] }
  apps: [sc-a, sc-b, sc-c]
  mode: content
---
apiVersion: lanemesh.io/v1alpha1
kind: Lane
metadata: { name: gray }
spec:
  group: mall
  tag: gray
  enabled: ${lane.enabled ?? true}
${lane.apps ? `  apps: [${lane.apps.join(", ")}]\n` : ""}  match:
    mode: all
    conditions:
      - { type: header, name: canary, op: "==", value: gray }
`;
}

export interface AppPorts {
  app: number;
  inbound: number;
  outbound: number;
  admin: number;
}

export interface Scenario {
  readonly dir: string;
  readonly rulesFile: string;
  readonly gatewayPort: number;
  readonly gatewayAdmin: number;
  readonly ports: Record<AppKey, AppPorts>;
  readonly procs: ProcGroup;
  readonly gateway: Proc;
  readonly sidecars: Record<AppKey, Proc>;
  readonly apps: Record<AppKey, Proc>;
  /** GET through the gateway. */
  get(path: string, headers?: Record<string, string>): Promise<{ status: number; body: string }>;
  /** Restart the five demo apps forwarding `forward` (traceparent | baggage | tag-header:NAME). */
  setForward(forward: string): Promise<void>;
  /** Replace the rules file (write + rename, as editors do) and wait until every proxy serves it. */
  setRules(yaml: string): Promise<void>;
  /** /metrics text of the gateway and of each sidecar ("" for one that is down). */
  metrics(): Promise<Record<"gateway" | AppKey, string>>;
  close(): Promise<void>;
}

function endpointsYaml(ports: Record<AppKey, AppPorts>): string {
  return APP_KEYS.map((k) => {
    const a = APPS[k];
    return `apiVersion: lanemesh.io/v1alpha1
kind: Instance
metadata: { name: ${k} }
spec: { service: ${a.service}, address: 127.0.0.1, port: ${ports[k].inbound}${a.tag ? `, tag: ${a.tag}` : ""} }
`;
  }).join("---\n");
}

async function fetchText(url: string, headers: Record<string, string> = {}) {
  const res = await fetch(url, { headers });
  return { status: res.status, body: await res.text() };
}

/** Start everything on loopback (ports chosen free beforehand) and wait until all are ready. */
export async function startScenario(
  opts: {
    forward?: string;
    rules?: string;
    /** `--discovery` of every proxy instead of the static file of the chosen ports. */
    discovery?: string;
    /** Extra environment of the proxies (e.g. KUBECONFIG). */
    proxyEnv?: Record<string, string>;
    /** Called with the ports once chosen, before any process starts (to fill a registry). */
    beforeStart?: (ports: Record<AppKey, AppPorts>) => Promise<void> | void;
    /** Extra arguments of every demo app (e.g. `--protocol grpc`). */
    appExtra?: string[];
  } = {},
): Promise<Scenario> {
  const dir = mkdtempSync(join(tmpdir(), "lanemesh-chain-"));
  const rulesFile = join(dir, "rules.yaml");
  const endpointsFile = join(dir, "endpoints.yaml");
  const free = await freePorts(2 + APP_KEYS.length * 4);
  const take = (): number => free.pop() as number;
  const gatewayPort = take();
  const gatewayAdmin = take();
  const ports = Object.fromEntries(
    APP_KEYS.map((k) => [k, { app: take(), inbound: take(), outbound: take(), admin: take() }]),
  ) as Record<AppKey, AppPorts>;
  writeFileSync(rulesFile, opts.rules ?? scenarioRules());
  writeFileSync(endpointsFile, endpointsYaml(ports));

  await opts.beforeStart?.(ports);
  const procs = new ProcGroup();
  const sources = [
    "--rules",
    rulesFile,
    "--discovery",
    opts.discovery ?? `static:${endpointsFile}`,
  ];
  const env = opts.proxyEnv ?? {};
  const common = ["--bind", "127.0.0.1", "--drain-seconds", "1", ...sources];
  const startApp = (k: AppKey, forward: string): Proc => {
    return procs.spawn(`app ${k}`, [
      ...appArgs(k, ports[k]),
      "--forward",
      forward,
      ...(opts.appExtra ?? []),
    ]);
  };
  const gateway = procs.spawn(
    "gateway",
    ["gateway", "--port", String(gatewayPort), "--admin-port", String(gatewayAdmin), ...common],
    env,
  );
  const sidecars = {} as Record<AppKey, Proc>;
  const apps = {} as Record<AppKey, Proc>;
  for (const k of APP_KEYS) {
    sidecars[k] = procs.spawn(`sidecar ${k}`, sidecarArgs(k, ports[k], common), env);
    apps[k] = startApp(k, opts.forward ?? "traceparent");
  }
  const waitApps = () => Promise.all(APP_KEYS.map((k) => waitListening(apps[k], ports[k].app)));
  const admins = (): [Proc, number][] => [
    [gateway, gatewayAdmin],
    ...APP_KEYS.map((k): [Proc, number] => [sidecars[k], ports[k].admin]),
  ];
  try {
    await Promise.all([...admins().map(([p, port]) => waitReady(p, port)), waitApps()]);
  } catch (err) {
    await procs.killAll();
    rmSync(dir, { recursive: true, force: true });
    throw err;
  }

  return {
    dir,
    rulesFile,
    gatewayPort,
    gatewayAdmin,
    ports,
    procs,
    gateway,
    sidecars,
    apps,
    get: (path, headers = {}) => fetchText(`http://127.0.0.1:${gatewayPort}${path}`, headers),
    async setForward(forward) {
      await Promise.all(APP_KEYS.map((k) => apps[k].kill("SIGKILL")));
      for (const k of APP_KEYS) apps[k] = startApp(k, forward);
      await waitApps();
    },
    async setRules(yaml) {
      const tmp = `${rulesFile}.tmp`;
      writeFileSync(tmp, yaml);
      renameSync(tmp, rulesFile);
      const version = contentVersion([yaml]);
      await Promise.all(
        admins().map(([p, port]) =>
          poll(p, `/config showing ${version}`, 10_000, async () => {
            const r = await fetchText(`http://127.0.0.1:${port}/config`).catch(() => null);
            return r?.body.includes(version) ?? false;
          }),
        ),
      );
    },
    async metrics() {
      // A process that was killed answers "".
      const text = (port: number) =>
        fetchText(`http://127.0.0.1:${port}/metrics`).then(
          (r) => r.body,
          () => "",
        );
      const entries = await Promise.all([
        text(gatewayAdmin).then((t) => ["gateway", t] as const),
        ...APP_KEYS.map((k) => text(ports[k].admin).then((t) => [k, t] as const)),
      ]);
      return Object.fromEntries(entries) as Record<"gateway" | AppKey, string>;
    },
    async close() {
      await procs.killAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** Poll `get` until `ok` holds for its answer (every 100 ms), or fail with the last answer. */
export async function until<T>(
  what: string,
  get: () => Promise<T>,
  ok: (v: T) => boolean,
  timeoutMs = 20_000,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  let last: T | undefined;
  while (Date.now() < deadline) {
    last = await get();
    if (ok(last)) return last;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`${what}: not reached in ${timeoutMs} ms; last answer ${JSON.stringify(last)}`);
}
