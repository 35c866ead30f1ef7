// Test helper: the §1 scenario as real processes in control-plane mode (control plane, gateway, five sidecars, five demo apps) plus bounded load; no assertions here.
import { mkdtempSync, rmSync, writeFileSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { performance } from "node:perf_hooks";
import { Agent, request } from "undici";
import { readSigningKey } from "../../src/control-plane/secrets.js";
import { signToken } from "../../src/control-plane/tokens.js";
import {
  APP_KEYS,
  APPS,
  type AppKey,
  type AppPorts,
  appArgs,
  type CliResult,
  freePorts,
  type Proc,
  ProcGroup,
  REPO,
  runCli,
  sidecarArgs,
  waitListening,
  waitReady,
} from "./procs.js";

/** A fixture of test/fixtures/cp/ (read from the repository, not from dist/). */
export const cpFixture = (name: string): string => join(REPO, "test", "fixtures", "cp", name);

/** Which chain a body of `GET /a` shows: the base one, the full gray one, or something else. */
export type Chain = "base" | "gray" | "other";

const HOP = /([A-Za-z]+)\[[^\]]*\]/g;

/** `A[…][config=base] -> B[…] -> C[…]` → base; `Agray[…]… -> B[…] -> Cgray[…]` → gray. */
export function chainOf(body: string): Chain {
  const names = [...body.matchAll(HOP)].map((m) => m[1]).filter((n) => n !== "config");
  const seen = names.join(">");
  if (seen === "A>B>C") return "base";
  if (seen === "Agray>B>Cgray") return "gray";
  return "other";
}

/** One request of the load: when it started and ended (performance.now() ms) and what it got. */
export interface Sample {
  gray: boolean;
  start: number;
  end: number;
  status: number;
  chain: Chain;
  /** The body, or the error message when the request failed; kept only for bad samples. */
  detail: string;
}

export interface Load {
  readonly samples: Sample[];
  /** Stop the loops and wait for the requests in flight; later calls return the same promise. */
  stop(): Promise<void>;
}

/**
 * `loops` concurrent request loops through the gateway, alternating `canary: gray` by loop; each
 * loop pauses `pauseMs` between requests so the load stays bounded on a shared machine.
 */
export function startLoad(gatewayPort: number, loops = 6, pauseMs = 20): Load {
  const agent = new Agent({ connections: loops, keepAliveTimeout: 10_000 });
  const samples: Sample[] = [];
  let running = true;
  const loop = async (gray: boolean): Promise<void> => {
    while (running) {
      const start = performance.now();
      let status = 0;
      let body = "";
      try {
        const res = await request(`http://127.0.0.1:${gatewayPort}/a`, {
          dispatcher: agent,
          headers: gray ? { canary: "gray" } : {},
          headersTimeout: 10_000,
          bodyTimeout: 10_000,
        });
        status = res.statusCode;
        body = await res.body.text();
      } catch (err) {
        body = `request error: ${(err as Error).message}`;
      }
      const chain = chainOf(body);
      const ok = status === 200 && chain !== "other";
      samples.push({
        gray,
        start,
        end: performance.now(),
        status,
        chain,
        detail: ok ? "" : body.slice(0, 300),
      });
      await new Promise((r) => setTimeout(r, pauseMs));
    }
  };
  const all = Array.from({ length: loops }, (_, i) => loop(i % 2 === 1));
  let stopped: Promise<void> | undefined;
  return {
    samples,
    stop() {
      running = false;
      stopped ??= Promise.all(all).then(() => agent.close());
      return stopped;
    },
  };
}

/** Samples that are not a 200. */
export const failures = (samples: readonly Sample[]): Sample[] =>
  samples.filter((s) => s.status !== 200);

/** A version of the control plane's snapshot as a poller saw it appear (performance.now() ms). */
export interface SeenVersion {
  version: string;
  /** Start of the last poll that still answered the previous version: the commit came later. */
  after: number;
  /** The first poll that answered this version: the server committed before it. */
  at: number;
  /**
   * End of the first `GET /v1/proxies` that listed every proxy with this version (or a later one)
   * ACKed: each had it in force before then. Undefined until seen (or when not watched).
   */
  ackedAt?: number;
}

export interface VersionWatch {
  readonly seen: SeenVersion[];
  find(version: string): SeenVersion | undefined;
  stop(): Promise<void>;
}

/**
 * Poll `GET /v1/config` every `everyMs` and note when each new version appears on the server;
 * with `proxies`, poll `GET /v1/proxies` too and note when that many proxies had ACKed it.
 */
export function watchVersion(server: string, everyMs = 20, proxies?: number): VersionWatch {
  const seen: SeenVersion[] = [];
  let running = true;
  let last: { version: string; start: number } | undefined;
  const acks = async (): Promise<void> => {
    const res = await fetch(`${server}/v1/proxies`);
    const body = (await res.json()) as { items?: { ackedVersion: string | null }[] };
    const at = performance.now();
    const items = body.items ?? [];
    if (res.status !== 200 || items.length !== proxies) return;
    const lowest = Math.min(...items.map((p) => Number(p.ackedVersion ?? -1)));
    for (const v of seen)
      if (v.ackedAt === undefined && Number(v.version) <= lowest) v.ackedAt = at;
  };
  const run = (async () => {
    while (running) {
      const start = performance.now();
      try {
        const res = await fetch(`${server}/v1/config`);
        const body = (await res.json()) as { version?: unknown };
        const at = performance.now();
        const version = String(body.version);
        if (res.status === 200) {
          if (last?.version !== version) seen.push({ version, after: last?.start ?? start, at });
          last = { version, start };
        }
        if (proxies !== undefined) await acks();
      } catch {
        // the control plane is away: keep polling
      }
      await new Promise((r) => setTimeout(r, everyMs));
    }
  })();
  return {
    seen,
    find: (version) => seen.find((v) => v.version === version),
    async stop() {
      running = false;
      await run;
    },
  };
}

/** Poll `probe` every `everyMs` until it returns a value other than undefined, or time out. */
export async function pollFor<T>(
  what: string,
  timeoutMs: number,
  probe: () => Promise<T | undefined>,
  everyMs = 100,
): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const v = await probe();
    if (v !== undefined) return v;
    if (Date.now() > deadline)
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, everyMs));
  }
}

/** A proxy as `lanemesh get proxies -o json` lists it (the fields the tests read). */
export interface ListedProxy {
  nodeId: string;
  role: string;
  app: string;
  tag: string | null;
  ackedVersion: string | null;
  pendingVersion: string | null;
  /** ISO time the control plane accepted this proxy's stream. */
  connectedSince: string;
}

export interface CpMesh {
  readonly dir: string;
  /** The control plane's data dir (its store, signing key and admin.token). */
  readonly dataDir: string;
  readonly server: string;
  /** `host:port` of the control plane's gRPC port. */
  readonly grpcTarget: string;
  readonly gatewayPort: number;
  readonly gatewayAdmin: number;
  readonly ports: Record<AppKey, AppPorts>;
  readonly procs: ProcGroup;
  /** Spawn the control plane on the same ports and data dir; resolves once its HTTP API answers. */
  startControlPlane(): Promise<Proc>;
  /** SIGKILL the control plane and wait for its exit. */
  killControlPlane(): Promise<void>;
  /** SIGKILL one sidecar; resolves once it has exited. */
  killSidecar(k: AppKey): Promise<void>;
  /** Start a sidecar with its flags (after killSidecar); does not wait for /ready. */
  startSidecar(k: AppKey): Proc;
  /** `lanemesh apply -f FILE…` against the control plane (with its admin token). */
  apply(...files: string[]): Promise<CliResult>;
  /** A bootstrap token signed with the control plane's key: a sidecar's for a service, or a gateway's. */
  token(role: "sidecar" | "gateway", name: string): Promise<string>;
  /** `lanemesh get proxies -o json`: the listed proxies, or null when the command failed. */
  proxies(): Promise<ListedProxy[] | null>;
  /** The control plane's current snapshot version (`GET /v1/config`), or null when unreachable. */
  latestVersion(): Promise<string | null>;
  /** Admin `/ready` of the gateway or a sidecar: status and JSON body (null when unreachable). */
  ready(k: AppKey | "gateway"): Promise<{ status: number; body: Record<string, unknown> } | null>;
  /** GET /a through the gateway. */
  get(headers?: Record<string, string>): Promise<{ status: number; body: string }>;
  /** Stop demo app `k` and start it again with `extra` flags (e.g. `--fail-ratio 0.5`); resolves once it listens. */
  restartApp(k: AppKey, extra: string[]): Promise<void>;
  close(): Promise<void>;
}

export interface CpMeshOptions {
  /** Resource files applied (one `lanemesh apply`) before the proxies start. */
  initial: string[];
  debounceMs?: number;
  /** `--discovery` of the proxies (default: control-plane). */
  discovery?: string;
  /** More flags for the control plane (e.g. `--load-window 10s`). */
  cpArgs?: string[];
  /** More flags for the gateway and every sidecar (e.g. `--report-interval 500ms`). */
  proxyArgs?: string[];
}

/** Start the control plane, apply `initial`, then the gateway, sidecars and apps; all ready. */
export async function startCpMesh(opts: CpMeshOptions): Promise<CpMesh> {
  const dir = mkdtempSync(join(tmpdir(), "lanemesh-cp-e2e-"));
  const dataDir = join(dir, "cp-data");
  const stateDir = join(dir, "proxy-state");
  const free = await freePorts(4 + APP_KEYS.length * 4);
  const take = (): number => free.pop() as number;
  const grpcPort = take();
  const httpPort = take();
  const gatewayPort = take();
  const gatewayAdmin = take();
  const ports = Object.fromEntries(
    APP_KEYS.map((k) => [k, { app: take(), inbound: take(), outbound: take(), admin: take() }]),
  ) as Record<AppKey, AppPorts>;
  const server = `http://127.0.0.1:${httpPort}`;
  const cpTarget = `127.0.0.1:${grpcPort}`;
  const procs = new ProcGroup();
  let cp: Proc | undefined;
  const sidecars = {} as Record<AppKey, Proc>;
  const token = async (role: "sidecar" | "gateway", name: string): Promise<string> => {
    const key = await readSigningKey(dataDir);
    return signToken(key, {
      role,
      ...(role === "sidecar" ? { services: [name] } : { gateways: [name] }),
      ttlSeconds: 3600,
    }).token;
  };
  /** Each proxy's own token file (`lanemesh token create` does the same through the API). */
  const tokenFileOf = async (name: string, role: "sidecar" | "gateway", covers: string) => {
    const file = join(dir, `${name}.token`);
    writeFileSync(file, `${await token(role, covers)}\n`, { mode: 0o600 });
    return file;
  };
  const tokenFiles = {} as Record<AppKey | "gateway", string>;
  const common = [
    "--bind",
    "127.0.0.1",
    "--drain-seconds",
    "1",
    "--control-plane",
    cpTarget,
    "--state-dir",
    stateDir,
    ...(opts.discovery ? ["--discovery", opts.discovery] : []),
    ...(opts.proxyArgs ?? []),
  ];
  const apps = {} as Record<AppKey, Proc>;

  const startControlPlane = async (): Promise<Proc> => {
    const p = procs.spawn("control-plane", [
      "control-plane",
      "--grpc-port",
      String(grpcPort),
      "--http-port",
      String(httpPort),
      "--data-dir",
      dataDir,
      "--bind",
      "127.0.0.1",
      "--debounce-ms",
      String(opts.debounceMs ?? 20),
      ...(opts.cpArgs ?? []),
    ]);
    cp = p;
    await waitListening(p, httpPort);
    return p;
  };
  const startSidecar = (k: AppKey): Proc => {
    const args = [...common, "--token-file", tokenFiles[k]];
    const proc = procs.spawn(`sidecar ${k}`, sidecarArgs(k, ports[k], args));
    sidecars[k] = proc;
    return proc;
  };
  const fetchJson = async (url: string) => {
    const res = await fetch(url);
    const text = await res.text();
    return { status: res.status, body: JSON.parse(text) as Record<string, unknown> };
  };

  const mesh: CpMesh = {
    dir,
    dataDir,
    server,
    grpcTarget: cpTarget,
    gatewayPort,
    gatewayAdmin,
    ports,
    procs,
    startControlPlane,
    async killControlPlane() {
      await cp?.kill("SIGKILL");
    },
    async killSidecar(k) {
      await sidecars[k].kill("SIGKILL");
    },
    startSidecar,
    apply: (...files) =>
      runCli([
        "apply",
        ...files.flatMap((f) => ["-f", f]),
        "--server",
        server,
        "--api-token-file",
        join(dataDir, "admin.token"),
      ]),
    token,
    async proxies() {
      const r = await runCli(["get", "proxies", "-o", "json", "--server", server]);
      if (r.code !== 0) return null;
      return (JSON.parse(r.stdout) as { items: ListedProxy[] }).items;
    },
    async latestVersion() {
      try {
        const r = await fetchJson(`${server}/v1/config`);
        return r.status === 200 ? String(r.body.version) : null;
      } catch {
        return null;
      }
    },
    async ready(k) {
      try {
        const admin = k === "gateway" ? gatewayAdmin : ports[k].admin;
        return await fetchJson(`http://127.0.0.1:${admin}/ready`);
      } catch {
        return null;
      }
    },
    async get(headers = {}) {
      const res = await fetch(`http://127.0.0.1:${gatewayPort}/a`, { headers });
      return { status: res.status, body: await res.text() };
    },
    async restartApp(k, extra) {
      await apps[k].kill("SIGKILL");
      apps[k] = procs.spawn(`app ${k}`, [...appArgs(k, ports[k]), ...extra]);
      await waitListening(apps[k], ports[k].app);
    },
    async close() {
      await procs.killAll();
      rmSync(dir, { recursive: true, force: true });
    },
  };

  try {
    await startControlPlane();
    tokenFiles.gateway = await tokenFileOf("gateway", "gateway", "default");
    for (const k of APP_KEYS)
      tokenFiles[k] = await tokenFileOf(`sidecar-${k}`, "sidecar", APPS[k].service);
    const applied = await mesh.apply(...opts.initial);
    if (applied.code !== 0) throw new Error(`initial apply failed: ${applied.stderr}`);
    const gateway = procs.spawn("gateway", [
      "gateway",
      "--port",
      String(gatewayPort),
      "--admin-port",
      String(gatewayAdmin),
      "--token-file",
      tokenFiles.gateway,
      ...common,
    ]);
    for (const k of APP_KEYS) {
      startSidecar(k);
      apps[k] = procs.spawn(`app ${k}`, appArgs(k, ports[k]));
    }
    await Promise.all([
      waitReady(gateway, gatewayAdmin),
      ...APP_KEYS.map((k) => waitReady(sidecars[k], ports[k].admin)),
      ...APP_KEYS.map((k) => waitListening(apps[k], ports[k].app)),
    ]);
    // Every sidecar registered and every proxy at the newest version: the mesh is complete.
    await waitSynced(mesh, 30_000);
  } catch (err) {
    const dump = procs.dump();
    await mesh.close();
    throw new Error(`${(err as Error).message}\n${dump}`);
  }
  return mesh;
}

/**
 * Poll `get proxies -o json` until the gateway and the five sidecars are listed, each having
 * acknowledged the control plane's current version; resolves with that version.
 */
export function waitSynced(mesh: CpMesh, timeoutMs: number, everyMs = 100): Promise<string> {
  return pollFor(
    "every proxy listed at the latest version",
    timeoutMs,
    async () => {
      const [latest, listed] = await Promise.all([mesh.latestVersion(), mesh.proxies()]);
      if (latest === null || listed === null) return undefined;
      if (listed.length !== 1 + APP_KEYS.length) return undefined;
      return listed.every((p) => p.ackedVersion === latest) ? latest : undefined;
    },
    everyMs,
  );
}
