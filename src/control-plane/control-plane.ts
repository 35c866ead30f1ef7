// The control plane assembled: store, registry, snapshot, debounced pushes, gRPC and HTTP listeners; it holds no routing logic.
import { formatError, type RawDocument } from "../config/document.js";
import { validateResources } from "../config/load.js";
import type { ShapeMemo } from "../config/validate.js";
import { checkSnapshot } from "../protocol/snapshot-check.js";
import {
  DEFAULT_MAX_SNAPSHOT_BYTES,
  encodedSnapshotSize,
  PROXY_MAX_RECEIVE_BYTES,
} from "../protocol/wire.js";
import { type Clock, realClock } from "../runtime/clock.js";
import { type Logger, logger } from "../telemetry/logger.js";
import {
  type AdoptOutcome,
  type ApplyOutcome,
  type DeleteOutcome,
  identity,
  KIND_OF_PLURAL,
  type Plural,
  planApply,
  planDelete,
  type ReadOnly,
  readOnly,
  STORE_ORIGIN,
} from "./apply.js";
import { type Debouncer, debounce } from "./debounce.js";
import type { ConfigFeed } from "./feed.js";
import type { ApiBackend, LiveConfigView, TokenRequest } from "./http-api.js";
import { type ProxyAuthenticator, tokenAuthenticator } from "./identity.js";
import { ControlPlaneMetrics } from "./metrics.js";
import { Registry } from "./registry.js";
import { ensureSecrets, type Secrets } from "./secrets.js";
import { MeshServer, type ProxyInfo } from "./server.js";
import {
  type BuiltSnapshot,
  buildSnapshot,
  type DocTextMemo,
  registrationDocuments,
  registrationProblem,
} from "./snapshot.js";
import type { StatusView } from "./status.js";
import { FedStore, FileStore, type Store, type StoreState } from "./store.js";
import { signToken } from "./tokens.js";
import { DEFAULT_LOAD_WINDOW_SECONDS, Traffic, withoutStatus } from "./traffic.js";

export interface ControlPlaneOptions {
  dataDir: string;
  /**
   * Seconds an instance outlives a sidecar's stream that failed on the control plane's side; a
   * stream the proxy closed, or whose connection is gone, takes its instance at once. Default 1.
   */
  graceSeconds?: number;
  /** Quiet period before a push. Default 100. */
  debounceMs?: number;
  /** Longest a push waits while changes keep coming. Default 1000. */
  debounceMaxMs?: number;
  /**
   * Push a change that comes after a quiet spell (no push started in the last debounceMs) at
   * once, and debounce only what follows it within debounceMs. Default true.
   */
  debounceLeading?: boolean;
  /**
   * After a restart, how long the sidecars registered before it are served while waiting for them
   * to reconnect. Default max(grace, 35 s): longer than the proxies' 30 s backoff cap.
   */
  restoreGraceSeconds?: number;
  clock?: Clock;
  log?: Logger;
  processMetrics?: boolean;
  /** How proxies prove who they are. Default: bootstrap tokens signed with the data dir's key. */
  proxyAuth?: ProxyAuthenticator;
  /** Where the HTTP API's admin token is kept. Default: `admin.token` in the data dir. */
  apiTokenFile?: string;
  /** Largest encoded snapshot an apply may make. Default DEFAULT_MAX_SNAPSHOT_BYTES. */
  maxSnapshotBytes?: number;
  /** Seconds `GET /v1/status` computes rates and percentiles over. Default 30. */
  loadWindowSeconds?: number;
  /**
   * Serve this source's configs instead of the data dir's store (`--store kubernetes`; it must
   * have a config already): changes through the API are refused, hellos register no instance.
   */
  feed?: ConfigFeed;
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
  /** Load reports, `status`, guarded lanes. */
  readonly traffic: Traffic;

  private readonly maxSnapshotBytes: number;
  /** Stored documents already shape-checked, and their snapshot text: see ShapeMemo, DocTextMemo. */
  private readonly shapes: ShapeMemo = new WeakMap();
  private readonly texts: DocTextMemo = new WeakMap();

  private constructor(
    private readonly store: Store,
    private readonly secrets: Secrets,
    opts: ControlPlaneOptions,
  ) {
    const clock = opts.clock ?? realClock;
    this.maxSnapshotBytes = Math.min(
      opts.maxSnapshotBytes ?? DEFAULT_MAX_SNAPSHOT_BYTES,
      PROXY_MAX_RECEIVE_BYTES,
    );
    this.log = opts.log ?? logger("control-plane");
    this.metrics = new ControlPlaneMetrics({ processMetrics: opts.processMetrics ?? false });
    this.registry = new Registry({
      graceMs: (opts.graceSeconds ?? 1) * 1000,
      clock,
      onChange: () => {
        this.registryGen++;
        this.debouncer.trigger();
      },
    });
    this.debouncer = debounce({
      quietMs: opts.debounceMs ?? 100,
      maxDelayMs: opts.debounceMaxMs ?? 1000,
      leading: opts.debounceLeading ?? true,
      clock,
      flush: () => this.flush(),
    });
    this.mesh = new MeshServer(
      {
        snapshot: () => this.snapshot,
        register: (reg) => {
          // A fed store serves no registered instance (the endpoints come from the cluster).
          const problem = registrationProblem(reg);
          return problem === null ? this.registry.attach(reg) : { error: problem };
        },
        onProxyChange: () => {
          for (const cb of this.proxyListeners) cb();
        },
        onReport: (hello, report) => this.traffic.report(hello, report),
      },
      this.metrics,
      this.log,
      opts.proxyAuth ?? tokenAuthenticator(secrets.signingKey, clock),
    );
    const restored = store.state().registrations;
    const graceSeconds = opts.graceSeconds ?? 1;
    this.registry.restore(
      restored,
      (opts.restoreGraceSeconds ?? Math.max(graceSeconds, 35)) * 1000,
    );
    this.snapshot = this.build(this.registryGen);
    this.traffic = new Traffic({
      dataDir: opts.dataDir,
      clock,
      metrics: this.metrics,
      log: this.log,
      windowSeconds: opts.loadWindowSeconds ?? DEFAULT_LOAD_WINDOW_SECONDS,
      resources: () => this.store.state().resources,
      apply: (batch) => this.apply(batch),
      ...(opts.feed?.closeLane
        ? { closeAtSource: (name: string) => this.closeAtSource(opts.feed as ConfigFeed, name) }
        : {}),
    });
    this.feed = opts.feed;
    this.unfeed = opts.feed?.onChange(() => {
      this.snapshot = this.build(this.registryGen);
      this.debouncer.trigger();
    });
  }

  private readonly feed: ConfigFeed | undefined;
  private readonly unfeed: (() => void) | undefined;
  private async closeAtSource(feed: ConfigFeed, name: string): Promise<number> {
    await feed.closeLane?.(name);
    return this.version();
  }

  /** `--store kubernetes`: what a change through the API answers. */
  private readOnly(): ReadOnly | null {
    return this.feed ? readOnly(this.feed.readOnly) : null;
  }

  static async open(opts: ControlPlaneOptions): Promise<ControlPlane> {
    const secrets = await ensureSecrets(opts.dataDir, { apiTokenFile: opts.apiTokenFile });
    const store = opts.feed ? new FedStore(opts.feed) : await FileStore.open(opts.dataDir);
    const cp = new ControlPlane(store, secrets, opts);
    for (const file of secrets.created) cp.log.info({ file }, "secret created (mode 0600)");
    if (secrets.looseModes.length > 0)
      cp.log.warn(
        { files: secrets.looseModes },
        "secret files readable by others than their owner: chmod 600 them",
      );
    const st = cp.store.state();
    const v = validateResources(
      st.resources.map((value, doc) => ({ origin: { file: STORE_ORIGIN, doc }, value })),
      cp.shapes,
    );
    if (!v.ok)
      cp.log.error(
        { errors: v.errors.map(formatError) },
        "stored resources no longer validate; proxies will refuse them until fixed",
      );
    cp.log.info(
      { version: st.version, epoch: st.epoch, resources: st.resources.length },
      "store loaded",
    );
    return cp;
  }

  /** The bearer token changes through the HTTP API need. */
  get adminToken(): string {
    return this.secrets.adminToken;
  }

  /** A bootstrap token for a proxy, signed with the data dir's key. */
  issueToken(r: TokenRequest): { token: string; id: string; expiresAt: string } {
    const { token, claims } = signToken(this.secrets.signingKey, r);
    return { token, id: claims.id, expiresAt: new Date(claims.expiresAt * 1000).toISOString() };
  }

  /** Let proxies that hold store `epoch`'s config take this store's, as a new version. */
  adopt(epoch: string): Promise<AdoptOutcome> {
    const refused = this.readOnly();
    if (refused) return Promise.resolve(refused);
    return this.serial(async () => {
      const st = this.store.state();
      const adopts =
        st.adopts.includes(epoch) || epoch === st.epoch ? st.adopts : [...st.adopts, epoch];
      if (adopts !== st.adopts) {
        await this.commit(st.resources, true, adopts);
        this.log.warn({ epoch, version: st.version + 1 }, "adopted the proxies of another store");
      }
      const now = this.store.state();
      return { version: now.version, epoch: now.epoch, adopts: [...now.adopts] };
    });
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
    const refused = this.readOnly();
    if (refused) return Promise.resolve(refused);
    return this.serial(async () => {
      const st = this.store.state();
      const plan = planApply(
        st.resources,
        batch.map((d) => ({ ...d, value: withoutStatus(d.value) })),
      );
      const v = validateResources(plan.merged, this.shapes);
      if (!v.ok) return { ok: false, errors: v.errors };
      const { results, ignored } = plan;
      if (!plan.changed) return { ok: true, version: st.version, results, ignored };
      const size = encodedSnapshotSize(
        buildSnapshot(
          { ...st, version: st.version + 1 },
          plan.next,
          this.registry.list(),
          this.texts,
        ),
      );
      if (size > this.maxSnapshotBytes)
        return {
          ok: false,
          code: "LANEMESH_SNAPSHOT_TOO_LARGE",
          message: `nothing applied: the config would make a snapshot of ${mib(size)} (${size} bytes), over the ${mib(this.maxSnapshotBytes)} (${this.maxSnapshotBytes} bytes) a proxy is sent (--max-snapshot-bytes)`,
        };
      await this.commit(plan.next);
      this.log.info(
        {
          version: st.version + 1,
          changed: results.filter((r) => r.action !== "unchanged"),
          ignored,
        },
        "resources applied",
      );
      return { ok: true, version: st.version + 1, results, ignored };
    });
  }

  /** `GET /v1/status`: the traffic per group, lane and app over the load window. */
  status(group: string | null): StatusView {
    const c = checkSnapshot(this.snapshot);
    return this.traffic.status(group, c.ok ? c.endpoints : []);
  }

  /** Remove one stored resource, unless what remains would not validate. */
  delete(plural: Plural, name: string): Promise<DeleteOutcome> {
    const refused = this.readOnly();
    if (refused) return Promise.resolve(refused);
    return this.serial(async () => {
      const st = this.store.state();
      const kind = KIND_OF_PLURAL[plural];
      const plan = planDelete(st.resources, kind, name);
      if (!plan)
        return { ok: false, code: "LANEMESH_NOT_FOUND", message: `${kind} "${name}" not found` };
      const v = validateResources(plan.merged, this.shapes);
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
    if (plural === "instances" && !this.feed)
      out.push(...registrationDocuments(resources, this.registry.list()));
    return plural === "lanes" ? this.traffic.decorate(out) : out;
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
    return {
      ok: true,
      value: {
        version: c.version,
        epoch: this.snapshot.epoch,
        rules: c.rules,
        endpoints: c.endpoints,
      },
    };
  }

  /** Called after any proxy connects, disconnects, ACKs or NACKs; returns the unsubscribe. */
  onProxyChange(cb: () => void): () => void {
    this.proxyListeners.add(cb);
    return () => this.proxyListeners.delete(cb);
  }

  close(): void {
    this.traffic.close();
    this.unfeed?.();
    this.debouncer.close();
    this.registry.close();
    this.mesh.close();
  }

  /** The snapshot of the stored state; `gen` is the registry generation that state captured. */
  private build(gen: number): BuiltSnapshot {
    this.snapshotGen = gen;
    const st = this.store.state();
    this.metrics.version.set(st.version);
    const s = buildSnapshot(st, st.resources, st.registrations, this.texts);
    this.mesh.remember(s);
    const size = encodedSnapshotSize(s);
    this.metrics.snapshotBytes.set(size);
    if (size > PROXY_MAX_RECEIVE_BYTES)
      this.log.error(
        { version: st.version, bytes: size, proxiesAccept: PROXY_MAX_RECEIVE_BYTES },
        "snapshot over what proxies accept (registered instances grew it): they will refuse it",
      );
    return s;
  }

  /** The debounced push: version a registry change first, then offer the newest to every stream. */
  private async flush(): Promise<void> {
    // A fed store serves no registrations: nothing to version for them.
    if (this.registryGen !== this.snapshotGen && !this.feed) {
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
  private async commit(
    resources: readonly unknown[],
    push = true,
    adopts = this.store.state().adopts,
  ): Promise<void> {
    const gen = this.registryGen;
    const st = this.store.state();
    const next: StoreState = {
      version: st.version + 1,
      epoch: st.epoch,
      adopts,
      resources,
      registrations: this.registry.list(),
    };
    await this.store.commit(next);
    this.traffic?.guards.observe(resources);
    this.snapshot = this.build(gen);
    if (push) this.debouncer.trigger();
  }

  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.queue.then(fn);
    this.queue = p.catch(() => {});
    return p;
  }
}

const mib = (bytes: number): string => `${(bytes / 1024 / 1024).toFixed(1)} MiB`;

export { registrationProblem } from "./snapshot.js";
