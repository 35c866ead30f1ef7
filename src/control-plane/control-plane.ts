// The control plane assembled: store, registry, snapshot, debounced pushes, gRPC and HTTP listeners; it holds no routing logic.
import type { Server } from "node:http";
import type { AddressInfo } from "node:net";
import { formatError, type RawDocument } from "../config/document.js";
import { validateResources } from "../config/load.js";
import { checkSnapshot } from "../protocol/snapshot-check.js";
import { type Clock, realClock } from "../runtime/clock.js";
import { type Logger, logger } from "../telemetry/logger.js";
import {
  type ApplyOutcome,
  type DeleteOutcome,
  identity,
  KIND_OF_PLURAL,
  type Plural,
  planApply,
  planDelete,
  STORE_ORIGIN,
} from "./apply.js";
import { type Debouncer, debounce } from "./debounce.js";
import { type ApiBackend, createHttpApi, type LiveConfigView } from "./http-api.js";
import { ControlPlaneMetrics } from "./metrics.js";
import { type Registration, Registry } from "./registry.js";
import { MeshServer, type ProxyInfo } from "./server.js";
import { type BuiltSnapshot, buildSnapshot, registrationDocuments } from "./snapshot.js";
import { FileStore, type StoreState } from "./store.js";

export interface ControlPlaneOptions {
  dataDir: string;
  /** Seconds an instance outlives its sidecar's stream. Default 5. */
  graceSeconds?: number;
  /** Quiet period before a push. Default 100. */
  debounceMs?: number;
  /** Longest a push waits while changes keep coming. Default 1000. */
  debounceMaxMs?: number;
  /**
   * After a restart, how long the sidecars registered before it are served while waiting for them
   * to reconnect. Default max(grace, 35 s): longer than the proxies' 30 s backoff cap.
   */
  restoreGraceSeconds?: number;
  clock?: Clock;
  log?: Logger;
  processMetrics?: boolean;
}

/** The control plane's state and operations, without its listeners (see startControlPlane). */
export class ControlPlane implements ApiBackend {
  readonly metrics: ControlPlaneMetrics;
  readonly mesh: MeshServer;
  readonly log: Logger;
  private readonly registry: Registry;
  private readonly debouncer: Debouncer;
  private snapshot: BuiltSnapshot;
  private registryGen = 0;
  private snapshotGen = 0;
  private queue: Promise<unknown> = Promise.resolve();
  private readonly proxyListeners = new Set<() => void>();

  private constructor(
    private readonly store: FileStore,
    opts: ControlPlaneOptions,
  ) {
    const clock = opts.clock ?? realClock;
    this.log = opts.log ?? logger("control-plane");
    this.metrics = new ControlPlaneMetrics({ processMetrics: opts.processMetrics ?? false });
    this.registry = new Registry({
      graceMs: (opts.graceSeconds ?? 5) * 1000,
      clock,
      onChange: () => {
        this.registryGen++;
        this.debouncer.trigger();
      },
    });
    this.debouncer = debounce({
      quietMs: opts.debounceMs ?? 100,
      maxDelayMs: opts.debounceMaxMs ?? 1000,
      clock,
      flush: () => this.flush(),
    });
    this.mesh = new MeshServer(
      {
        snapshot: () => this.snapshot,
        register: (reg) => {
          const problem = registrationProblem(reg);
          return problem === null ? this.registry.attach(reg) : { error: problem };
        },
        onProxyChange: () => {
          for (const cb of this.proxyListeners) cb();
        },
      },
      this.metrics,
      this.log,
    );
    const restored = store.state().registrations;
    const graceSeconds = opts.graceSeconds ?? 5;
    this.registry.restore(
      restored,
      (opts.restoreGraceSeconds ?? Math.max(graceSeconds, 35)) * 1000,
    );
    this.snapshot = this.build(this.registryGen);
  }

  static async open(opts: ControlPlaneOptions): Promise<ControlPlane> {
    const cp = new ControlPlane(await FileStore.open(opts.dataDir), opts);
    const st = cp.store.state();
    const v = validateResources(
      st.resources.map((value, doc) => ({ origin: { file: STORE_ORIGIN, doc }, value })),
    );
    if (!v.ok)
      cp.log.error(
        { errors: v.errors.map(formatError) },
        "stored resources no longer validate; proxies will refuse them until fixed",
      );
    cp.log.info({ version: st.version, resources: st.resources.length }, "store loaded");
    return cp;
  }

  version(): number {
    return this.store.state().version;
  }

  /** The snapshot new streams receive. */
  current(): BuiltSnapshot {
    return this.snapshot;
  }

  /** Validate the batch merged with the stored set; all or nothing. */
  apply(batch: RawDocument[]): Promise<ApplyOutcome> {
    return this.serial(async () => {
      const st = this.store.state();
      const plan = planApply(st.resources, batch);
      const v = validateResources(plan.merged);
      if (!v.ok) return { ok: false, errors: v.errors };
      if (!plan.changed) return { ok: true, version: st.version, results: plan.results };
      await this.commit(plan.next);
      this.log.info(
        { version: st.version + 1, changed: plan.results.filter((r) => r.action !== "unchanged") },
        "resources applied",
      );
      return { ok: true, version: st.version + 1, results: plan.results };
    });
  }

  /** Remove one stored resource, unless what remains would not validate. */
  delete(plural: Plural, name: string): Promise<DeleteOutcome> {
    return this.serial(async () => {
      const st = this.store.state();
      const kind = KIND_OF_PLURAL[plural];
      const plan = planDelete(st.resources, kind, name);
      if (!plan)
        return { ok: false, code: "LANEMESH_NOT_FOUND", message: `${kind} "${name}" not found` };
      const v = validateResources(plan.merged);
      if (!v.ok) return { ok: false, code: "LANEMESH_INVALID_CONFIG", errors: v.errors };
      await this.commit(plan.next);
      this.log.info({ version: st.version + 1, deleted: `${kind}/${name}` }, "resource deleted");
      return { ok: true, version: st.version + 1 };
    });
  }

  /** Stored documents of a kind; instances also list the registered sidecars. */
  list(plural: Plural): unknown[] {
    const kind = KIND_OF_PLURAL[plural];
    const resources = this.store.state().resources;
    const out = resources.filter((v) => identity(v)?.kind === kind);
    if (plural === "instances") out.push(...registrationDocuments(resources, this.registry.list()));
    return out;
  }

  get(plural: Plural, name: string): unknown | undefined {
    return this.list(plural).find((v) => identity(v)?.name === name);
  }

  proxies(): ProxyInfo[] {
    return this.mesh.proxies();
  }

  /** Rules and endpoints exactly as the proxies see them (decoded from the current snapshot). */
  liveConfig(): { ok: true; value: LiveConfigView } | { ok: false; error: string } {
    const c = checkSnapshot(this.snapshot);
    if (!c.ok) return { ok: false, error: c.error };
    return { ok: true, value: { version: c.version, rules: c.rules, endpoints: c.endpoints } };
  }

  /** Called after any proxy connects, disconnects, ACKs or NACKs; returns the unsubscribe. */
  onProxyChange(cb: () => void): () => void {
    this.proxyListeners.add(cb);
    return () => this.proxyListeners.delete(cb);
  }

  close(): void {
    this.debouncer.close();
    this.registry.close();
    this.mesh.close();
  }

  /** The snapshot of the stored state; `gen` is the registry generation that state captured. */
  private build(gen: number): BuiltSnapshot {
    this.snapshotGen = gen;
    const st = this.store.state();
    this.metrics.version.set(st.version);
    return buildSnapshot(st.version, st.resources, st.registrations);
  }

  /** The debounced push: version a registry change first, then offer the newest to every stream. */
  private async flush(): Promise<void> {
    if (this.registryGen !== this.snapshotGen) {
      try {
        await this.serial(async () => {
          if (this.registryGen === this.snapshotGen) return;
          await this.commit(this.store.state().resources, false);
        });
      } catch (err) {
        this.log.error({ err: (err as Error).message }, "cannot version a registry change");
      }
    }
    this.mesh.pushAll(this.snapshot);
  }

  /**
   * Persist one version up with these resources and the registry as it is now, then serve exactly
   * what was persisted; registry changes during the write stay pending for the next push.
   */
  private async commit(resources: readonly unknown[], push = true): Promise<void> {
    const gen = this.registryGen;
    const next: StoreState = {
      version: this.store.state().version + 1,
      resources,
      registrations: this.registry.list(),
    };
    await this.store.commit(next);
    this.snapshot = this.build(gen);
    if (push) this.debouncer.trigger();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn);
    this.queue = p.catch(() => {});
    return p;
  }
}

/** Why a hello's instance cannot be served (checked with the resource validator), or null. */
export function registrationProblem(reg: Omit<Registration, "since">): string | null {
  const [doc] = registrationDocuments([], [{ ...reg, since: 0 }]);
  const v = validateResources([{ origin: { file: "hello", doc: 0 }, value: doc }]);
  if (v.ok) return null;
  return `hello of ${reg.nodeId} gives an invalid instance: ${v.errors
    .map((e) => `${e.path}: ${e.message}`)
    .join("; ")}`;
}

export interface ListenOptions {
  bind?: string;
  grpcPort?: number;
  httpPort?: number;
}

export interface RunningControlPlane {
  controlPlane: ControlPlane;
  grpcPort: number;
  httpPort: number;
  /** `host:port` for proxies' `--control-plane`. */
  grpcTarget: string;
  /** Base URL of the HTTP API. */
  url: string;
  close(): Promise<void>;
}

/** Open the store and listen on gRPC and HTTP (ports 0 = any free port). */
export async function startControlPlane(
  opts: ControlPlaneOptions & ListenOptions,
): Promise<RunningControlPlane> {
  const cp = await ControlPlane.open(opts);
  const bind = opts.bind ?? "127.0.0.1";
  let http: Server | undefined;
  try {
    const grpcPort = await cp.mesh.listen(bind, opts.grpcPort ?? 15010);
    http = createHttpApi(cp);
    const server = http;
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(opts.httpPort ?? 15014, bind, () => {
        server.off("error", reject);
        resolve();
      });
    });
    const httpPort = (server.address() as AddressInfo).port;
    const host = bind.includes(":") ? `[${bind}]` : bind;
    cp.log.info(
      { grpc: `${host}:${grpcPort}`, http: `${host}:${httpPort}` },
      "control plane listening",
    );
    return {
      controlPlane: cp,
      grpcPort,
      httpPort,
      grpcTarget: `${host}:${grpcPort}`,
      url: `http://${host}:${httpPort}`,
      close: async () => {
        cp.close();
        server.closeAllConnections();
        await new Promise<void>((resolve) => server.close(() => resolve()));
      },
    };
  } catch (err) {
    cp.close();
    http?.close();
    throw err;
  }
}
