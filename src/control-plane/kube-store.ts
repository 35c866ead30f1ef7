// `--store kubernetes`: follows the Route, LaneGroup and Lane custom resources (and, with `--discovery kubernetes`, the cluster's endpoints) through @kubernetes/client-node, writes each resource's status, and serves the accepted content at the version the shared Lease gives it; it never accepts writes of resources and never builds snapshots itself.
import type { KubeConfig, KubernetesObject, ListWatch } from "@kubernetes/client-node";
import type { Endpoint } from "../config/types.js";
import type { Resolver } from "../discovery/types.js";
import { backoffDelay } from "../runtime/backoff.js";
import type { Logger } from "../telemetry/logger.js";
import type { ConfigFeed, FedConfig } from "./feed.js";
import { firstLine, timeoutMiddleware } from "./kube-calls.js";
import { assemble, type Content, keyOf, sameStatus, type WatchedObject } from "./kube-content.js";
import {
  type LeaseApi,
  statusOf,
  VersionLease,
  type VersionRecord,
  versionOf,
} from "./kube-versions.js";

type Client = typeof import("@kubernetes/client-node");

export const GROUP = "lanemesh.io";
export const VERSION = "v1alpha1";
const KINDS = [
  ["Route", "routes"],
  ["LaneGroup", "lanegroups"],
  ["Lane", "lanes"],
] as const;
const BACKOFF = { initialMs: 500, maxMs: 30_000 };

export interface KubeStoreOptions {
  kubeConfig: KubeConfig;
  /** Namespaces whose resources are served; null = every namespace. */
  namespaces: string[] | null;
  /** Where the version Lease lives (the control plane's own namespace). */
  leaseNamespace: string;
  /** This replica's name in the Lease (its pod name). */
  identity: string;
  /**
   * Makes the endpoints' source (`--discovery kubernetes`; made again after a takeover), or none:
   * then only resources are served.
   */
  endpoints?: () => Resolver;
  log: Logger;
  /** How long a leader that stopped renewing keeps the Lease. Default 15. */
  leaseSeconds?: number;
  /** How often the Lease is read (and renewed by its holder). Default 1000. */
  pollMs?: number;
}

interface Informer {
  /** Replaced by a re-list after a takeover: its restarts stop. */
  dropped?: boolean;
  kind: string;
  plural: string;
  namespace: string | null;
  informer: ListWatch<KubernetesObject>;
  listed: boolean;
  attempts: number;
}

/**
 * The custom resources of a cluster as a ConfigFeed. Every replica computes the same content
 * from the same resources (kube-content.ts), and serves it only at the version the Lease gives
 * that content's hash (kube-versions.ts): one version is one content on every replica, and the
 * versions a replica serves only grow. Only the Lease's holder gives new versions and writes
 * statuses; the others serve the newest content the Lease has a version for.
 */
export class KubeStore implements ConfigFeed {
  readonly readOnly =
    "the resources are custom resources in the cluster (--store kubernetes): change them with kubectl apply -f FILE or kubectl delete";
  private informers: Informer[] = [];
  private resolver: Resolver | undefined;
  private endpoints: Endpoint[] | undefined;
  private content: Content | undefined;
  private served: FedConfig | undefined;
  private record: VersionRecord | undefined;
  private refused = 0;
  private readonly listeners = new Set<() => void>();
  private readonly lease: VersionLease;
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private again = false;
  private failures = 0;
  private closed = false;
  private customApi: unknown;
  private readonly readyWaiters: (() => void)[] = [];

  constructor(
    private readonly k8s: Client,
    private readonly o: KubeStoreOptions,
  ) {
    const coordination = o.kubeConfig.makeApiClient(k8s.CoordinationV1Api);
    const bounded = {
      middleware: [timeoutMiddleware(k8s)],
      middlewareMergeStrategy: "append" as const,
    };
    const leaseApi: LeaseApi = {
      readNamespacedLease: (p) => coordination.readNamespacedLease(p, bounded),
      createNamespacedLease: (p) => coordination.createNamespacedLease(p as never, bounded),
      replaceNamespacedLease: (p) => coordination.replaceNamespacedLease(p as never, bounded),
    };
    this.lease = new VersionLease(leaseApi, {
      namespace: o.leaseNamespace,
      identity: o.identity,
      leaseSeconds: o.leaseSeconds ?? 15,
      log: o.log,
    });
  }

  /** Load the client and start following the cluster. */
  static async start(o: KubeStoreOptions): Promise<KubeStore> {
    const k8s: Client = await import("@kubernetes/client-node");
    const store = new KubeStore(k8s, o);
    store.begin();
    return store;
  }

  current(): FedConfig | undefined {
    return this.served;
  }

  stats(): { refused: number; leader: boolean } {
    return { refused: this.refused, leader: this.record?.leader ?? false };
  }

  onChange(cb: () => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  /** Resolves once a config is served; rejects after `timeoutMs`. */
  ready(timeoutMs: number): Promise<void> {
    if (this.served) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const t = setTimeout(
        () =>
          reject(
            new Error(
              `no config after ${timeoutMs / 1000} s: the custom resources, the endpoints or the version lease could not be read (see the log)`,
            ),
          ),
        timeoutMs,
      );
      this.readyWaiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  async close(): Promise<void> {
    this.closed = true;
    clearTimeout(this.timer);
    await this.unfollow();
  }

  private begin(): void {
    const { k8s, o } = this;
    this.customApi = o.kubeConfig.makeApiClient(k8s.CustomObjectsApi);
    this.follow();
    this.o.log.info(
      {
        namespaces: o.namespaces ?? "all",
        endpoints: this.resolver?.source ?? "none",
        lease: `${o.leaseNamespace}/${this.o.identity}`,
      },
      "following lanemesh custom resources",
    );
    this.schedule(0);
  }

  private async unfollow(): Promise<void> {
    const informers = this.informers;
    const resolver = this.resolver;
    this.informers = [];
    this.resolver = undefined;
    this.endpoints = undefined;
    this.content = undefined;
    for (const i of informers) {
      i.dropped = true;
      await i.informer.stop();
    }
    await resolver?.close();
  }

  /** Start the informers (each lists first: a quorum read) and the endpoints' source. */
  private follow(): void {
    const { k8s, o } = this;
    const api = this.customApi as {
      listClusterCustomObject(p: object, opts?: object): Promise<unknown>;
      listNamespacedCustomObject(p: object, opts?: object): Promise<unknown>;
    };
    // A list that has not answered in 30 s fails and the informer is restarted.
    const bounded = {
      middleware: [timeoutMiddleware(k8s)],
      middlewareMergeStrategy: "append" as const,
    };
    const scopes = o.namespaces ?? [null];
    for (const [kind, plural] of KINDS) {
      for (const namespace of scopes) {
        const path =
          namespace === null
            ? `/apis/${GROUP}/${VERSION}/${plural}`
            : `/apis/${GROUP}/${VERSION}/namespaces/${namespace}/${plural}`;
        const list = () =>
          (namespace === null
            ? api.listClusterCustomObject({ group: GROUP, version: VERSION, plural }, bounded)
            : api.listNamespacedCustomObject(
                { group: GROUP, version: VERSION, namespace, plural },
                bounded,
              )
          ).then(
            (l) => l as { metadata?: { resourceVersion?: string }; items: KubernetesObject[] },
          );
        const entry: Informer = {
          kind,
          plural,
          namespace,
          listed: false,
          attempts: 0,
          informer: undefined as unknown as ListWatch<KubernetesObject>,
        };
        const store = this;
        class BookmarkWatch extends k8s.Watch {
          override watch(
            p: string,
            query: Record<string, string | number | boolean | undefined>,
            cb: (phase: string, obj: unknown, raw?: unknown) => void,
            done: (err: unknown) => void,
          ): Promise<AbortController> {
            if (!entry.listed) {
              entry.listed = true;
              store.changed();
            }
            entry.attempts = 0;
            const q = {
              ...query,
              allowWatchBookmarks: true,
              timeoutSeconds: 300 + Math.floor(Math.random() * 300),
            };
            return super.watch(p, q, cb, done);
          }
        }
        const informer = new k8s.ListWatch<KubernetesObject>(
          path,
          new BookmarkWatch(o.kubeConfig),
          list,
          false,
        );
        for (const verb of ["add", "update", "delete"] as const)
          informer.on(verb, () => this.changed());
        informer.on("error", (err: unknown) => this.informerFailed(entry, err));
        entry.informer = informer;
        this.informers.push(entry);
        informer.start().catch((err: unknown) => this.informerFailed(entry, err));
      }
    }
    const resolver = o.endpoints?.();
    this.resolver = resolver;
    resolver?.start(
      (eps) => {
        if (this.resolver !== resolver) return;
        this.endpoints = eps;
        this.changed();
      },
      (err) => o.log.warn({ code: err.code }, err.message),
    );
  }

  private informerFailed(i: Informer, err: unknown): void {
    if (this.closed || i.dropped) return;
    const delay = backoffDelay(i.attempts++, BACKOFF);
    const status = statusOf(err);
    this.o.log.warn(
      {
        code:
          status === 401 || status === 403
            ? "LANEMESH_STORE_FORBIDDEN"
            : "LANEMESH_STORE_UNAVAILABLE",
        resource: `${i.plural}.${GROUP}`,
        namespace: i.namespace ?? "all",
        retryMs: delay,
      },
      `cannot list/watch ${i.plural}.${GROUP}: ${firstLine(err)}; the last config stays in force`,
    );
    setTimeout(() => {
      if (!this.closed && !i.dropped)
        i.informer.start().catch((e: unknown) => this.informerFailed(i, e));
    }, delay).unref();
  }

  /** Something the content depends on changed: recompute and sync with the Lease soon. */
  private changed(): void {
    this.content = undefined;
    this.schedule(20);
  }

  private schedule(ms: number): void {
    if (this.closed) return;
    if (this.running) {
      this.again = true;
      return;
    }
    clearTimeout(this.timer);
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.running = this.round().finally(() => {
        this.running = undefined;
        const soon = this.again;
        this.again = false;
        const poll = this.o.pollMs ?? 1000;
        this.schedule(
          soon ? 20 : this.failures > 0 ? backoffDelay(this.failures - 1, BACKOFF) : poll,
        );
      });
    }, ms);
  }

  /** One round: compute the content (once all informers listed), sync the Lease, serve, statuses. */
  private async round(): Promise<void> {
    if (this.closed) return;
    const ready =
      this.informers.length > 0 &&
      this.informers.every((i) => i.listed) &&
      (this.resolver === undefined || this.endpoints !== undefined);
    if (ready && this.content === undefined) {
      this.content = assemble(this.objects(), this.endpoints ?? []);
      this.refused = this.content.refused;
    }
    const content = ready ? this.content : undefined;
    const takeovers = this.lease.takeovers;
    try {
      this.record = await this.lease.sync(content?.hash ?? null);
      this.failures = 0;
      if (this.lease.takeovers !== takeovers) {
        // This replica's watches may lag behind what the previous holder numbered: list again
        // (quorum reads) before numbering anything, so the sequence never goes back in content.
        this.o.log.info("took the version lease over: re-listing before numbering");
        await this.unfollow();
        if (!this.closed) this.follow();
        return;
      }
    } catch (err) {
      this.failures++;
      this.o.log.warn(
        { code: "LANEMESH_VERSION_LEASE" },
        `${(err as Error).message}; the last config stays in force`,
      );
      return;
    }
    if (content === undefined) return;
    this.serve(content, this.record);
    if (this.record.leader) await this.writeStatuses(content);
  }

  private objects(): WatchedObject[] {
    const out: WatchedObject[] = [];
    for (const i of this.informers)
      for (const o of i.informer.list(i.namespace ?? undefined))
        out.push({ ...(o as WatchedObject), kind: i.kind, apiVersion: `${GROUP}/${VERSION}` });
    return out;
  }

  private serve(content: Content, record: VersionRecord): void {
    const version = versionOf(record, content.hash);
    if (version === undefined) return;
    const last = this.served;
    if (last && (last.epoch !== record.epoch ? false : version <= last.version)) return;
    this.served = { version, epoch: record.epoch, resources: content.resources };
    this.o.log.info(
      {
        version,
        epoch: record.epoch,
        accepted: content.accepted,
        refused: content.refused,
        endpoints: this.endpoints?.length ?? 0,
      },
      "serving config",
    );
    for (const w of this.readyWaiters.splice(0)) w();
    for (const cb of this.listeners) cb();
  }

  /** A guard's close: `spec.enabled: false` merge-patched on the Lane custom resource of that name. */
  async closeLane(name: string): Promise<void> {
    const o = this.objects().find((x) => x.kind === "Lane" && x.metadata?.name === name);
    if (o === undefined) throw new Error(`no Lane custom resource named ${name}`);
    const api = this.customApi as { patchNamespacedCustomObject(p: object, o?: object): unknown };
    const options = this.k8s.setHeaderOptions("Content-Type", "application/merge-patch+json");
    const namespace = o.metadata?.namespace ?? "";
    const body = { spec: { enabled: false } };
    await api.patchNamespacedCustomObject(
      { group: GROUP, version: VERSION, namespace, plural: "lanes", name, body },
      {
        ...options,
        middleware: [...(options.middleware ?? []), timeoutMiddleware(this.k8s)],
        middlewareMergeStrategy: "append" as const,
      },
    );
  }

  /** Write the status of every resource whose stored status says otherwise (the leader only). */
  private async writeStatuses(content: Content): Promise<void> {
    const api = this.customApi as {
      patchNamespacedCustomObjectStatus(p: object, opts?: object): Promise<unknown>;
    };
    const options = this.k8s.setHeaderOptions("Content-Type", "application/merge-patch+json");
    for (const o of this.objects()) {
      const want = content.statuses.get(keyOf(o));
      // Skip what changed since the content was computed: the next round judges it.
      if (!want || sameStatus(o.status, want) || want.observedGeneration !== o.metadata?.generation)
        continue;
      const plural = KINDS.find(([k]) => k === o.kind)?.[1] ?? "";
      try {
        await api.patchNamespacedCustomObjectStatus(
          {
            group: GROUP,
            version: VERSION,
            namespace: o.metadata?.namespace ?? "",
            plural,
            name: o.metadata?.name ?? "",
            body: {
              status: {
                accepted: want.accepted,
                error: want.error ?? null,
                observedGeneration: want.observedGeneration ?? null,
              },
            },
          },
          {
            ...options,
            middleware: [...(options.middleware ?? []), timeoutMiddleware(this.k8s)],
            middlewareMergeStrategy: "append",
          },
        );
        if (!want.accepted)
          this.o.log.warn(
            { resource: keyOf(o), code: "LANEMESH_INVALID_CONFIG" },
            `refused: ${want.error}`,
          );
      } catch (err) {
        this.o.log.warn({ resource: keyOf(o) }, `status not written: ${firstLine(err)}`);
      }
    }
  }
}
