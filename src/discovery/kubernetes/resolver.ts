// Kubernetes discovery: EndpointSlices and the Pods behind them (for their lane label) followed with @kubernetes/client-node informers; it only emits endpoint sets, never picks, and loads the client only in start().
import type { Agent } from "node:http";
import type {
  KubeConfig,
  KubernetesListObject,
  KubernetesObject,
  ListWatch,
  RequestContext,
  ResponseContext,
} from "@kubernetes/client-node";
import type { Endpoint } from "../../config/types.js";
import { backoffDelay } from "../../runtime/backoff.js";
import { type Logger, logger } from "../../telemetry/logger.js";
import { EndpointFeed } from "../feed.js";
import type { Resolver, ResolverError } from "../types.js";
import { endpointsFromSlices, type PodLike, type PodLookup, type SliceLike } from "./slices.js";
import { type KubernetesTarget, ownNamespace } from "./target.js";

/** A list request that has not answered by then is aborted and retried with backoff. */
const LIST_TIMEOUT_MS = 30_000;
/** A watch that ends cleanly this soon after opening, with no event, counts as a quick end. */
const QUICK_END_MS = 1_000;
const BACKOFF = { initialMs: 500, maxMs: 30_000 };

type Client = typeof import("@kubernetes/client-node");
type ResourceName = "endpointslices" | "pods";

type WatchQuery = Record<string, string | number | boolean | undefined>;
type WatchCallback = (phase: string, obj: unknown, raw?: unknown) => void;
type WatchDone = (err: unknown) => void;

/** One informer (list + watch) of one resource in one namespace, and its recovery state. */
class Watched {
  informer!: ListWatch<KubernetesObject>;
  /** True once the informer has listed (its cache holds the namespace's objects). */
  listed = false;
  /** The failure reported for this feed and not yet recovered from. */
  failure: "unavailable" | "forbidden" | null = null;
  /** Consecutive failed starts, for the backoff. */
  attempts = 0;
  /** Consecutive watches that ended cleanly at once, with no event (see openWatch). */
  quickEnds = 0;
  /** The http.Agent of the latest watch request: destroyed on close (see close). */
  agent: Agent | undefined;

  constructor(
    readonly resource: ResourceName,
    readonly namespace: string,
  ) {}
}

/**
 * Endpoints from `--discovery kubernetes`: for each namespace, one informer on EndpointSlices
 * (discovery.k8s.io/v1) and one on Pods, through @kubernetes/client-node's ListWatch.
 *
 * The client's ListWatch re-watches by itself when a watch ends cleanly and re-lists after a 410
 * (HTTP status or ERROR event), but on any other error (list refused, API server unreachable,
 * watch answered with an error status) it calls its error handlers and stops for good. This
 * resolver restarts it with jittered backoff (0.5 s doubling to 30 s); a restart re-watches from
 * the last resourceVersion and re-lists only when the server says it is too old.
 *
 * Errors: a failing API server → onError LANEMESH_DISCOVERY_UNAVAILABLE once per outage (until
 * every informer is watching again); 401/403 → LANEMESH_DISCOVERY_FORBIDDEN naming the resource
 * and namespace, once per informer until it recovers. The informers' caches survive errors, so the
 * last set stays in force: an outage never empties it.
 */
export class KubernetesResolver implements Resolver {
  readonly source: string;
  private readonly log: Logger;
  private readonly feeds: Watched[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Aborts list requests in flight at close. */
  private readonly closing = new AbortController();
  private readonly out: EndpointFeed;
  private server = "";
  private readonly warned = new Set<string>();
  private started = false;
  private closed = false;

  constructor(
    private readonly target: KubernetesTarget,
    private readonly opts: {
      kubeConfig?: KubeConfig;
      log?: Logger;
      /** A target naming no namespace follows every namespace (the control plane's way). */
      allNamespaces?: boolean;
    } = {},
  ) {
    const params: string[] = [];
    if (target.namespaces !== null) params.push(`namespace=${target.namespaces.join(",")}`);
    if (target.port !== null) params.push(`port=${target.port}`);
    this.source = params.length === 0 ? "kubernetes" : `kubernetes?${params.join("&")}`;
    this.log = opts.log ?? logger("kubernetes");
    this.out = new EndpointFeed({ log: this.log, collect: () => this.collect() });
  }

  start(onEndpoints: (endpoints: Endpoint[]) => void, onError: (err: ResolverError) => void): void {
    if (this.started || this.closed)
      throw new Error("KubernetesResolver.start called twice or after close");
    this.started = true;
    this.out.connect(onEndpoints, onError);
    // boot() awaits the client's import first, so no callback runs synchronously from start().
    this.boot().catch((err: unknown) =>
      this.report("LANEMESH_DISCOVERY_UNAVAILABLE", `${this.source}: ${detail(err)}`),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    this.out.close();
    for (const t of this.timers) clearTimeout(t);
    this.timers.clear();
    for (const feed of this.feeds) {
      await feed.informer.stop();
      // A watch request still waiting for its response headers is out of the informer's reach
      // (the client returns the request's AbortController only once headers arrived).
      feed.agent?.destroy();
    }
  }

  private async boot(): Promise<void> {
    const k8s: Client = await import("@kubernetes/client-node");
    if (this.closed) return;
    let kc: KubeConfig;
    try {
      kc = this.opts.kubeConfig ?? defaultKubeConfig(k8s);
    } catch (err) {
      this.report(
        "LANEMESH_DISCOVERY_UNAVAILABLE",
        `${this.source}: no usable kubeconfig: ${detail(err)}`,
      );
      return;
    }
    const cluster = kc.getCurrentCluster();
    if (cluster === null) {
      this.report(
        "LANEMESH_DISCOVERY_UNAVAILABLE",
        `${this.source}: the kubeconfig has no current cluster`,
      );
      return;
    }
    this.server = cluster.server;
    const slicesApi = kc.makeApiClient(k8s.DiscoveryV1Api);
    const coreApi = kc.makeApiClient(k8s.CoreV1Api);
    // "" = every namespace: one cluster-wide informer per resource.
    const namespaces =
      this.target.namespaces ?? (this.opts.allNamespaces ? [""] : [ownNamespace()]);
    this.log.info(
      { server: this.server, namespaces, port: this.target.port },
      "following EndpointSlices and Pods",
    );
    for (const namespace of namespaces) {
      const scope = namespace === "" ? "" : `/namespaces/${namespace}`;
      this.feeds.push(
        this.makeFeed(
          k8s,
          kc,
          "endpointslices",
          namespace,
          `/apis/discovery.k8s.io/v1${scope}/endpointslices`,
          () =>
            namespace === ""
              ? slicesApi.listEndpointSliceForAllNamespaces({}, this.listOptions(k8s))
              : slicesApi.listNamespacedEndpointSlice({ namespace }, this.listOptions(k8s)),
        ),
        this.makeFeed(k8s, kc, "pods", namespace, `/api/v1${scope}/pods`, () =>
          namespace === ""
            ? coreApi.listPodForAllNamespaces({}, this.listOptions(k8s))
            : coreApi.listNamespacedPod({ namespace }, this.listOptions(k8s)),
        ),
      );
    }
    for (const feed of this.feeds) this.startFeed(feed);
  }

  private makeFeed(
    k8s: Client,
    kc: KubeConfig,
    resource: ResourceName,
    namespace: string,
    path: string,
    list: () => Promise<KubernetesListObject<KubernetesObject>>,
  ): Watched {
    const feed = new Watched(resource, namespace);
    // The watch requests go through a view of the KubeConfig that remembers each request's agent.
    const watchConfig: KubeConfig = Object.create(kc);
    watchConfig.applyToFetchOptions = async (opts) => {
      const init = await kc.applyToFetchOptions(opts);
      feed.agent = init.agent as Agent | undefined;
      return init;
    };
    const resolver = this;
    class FeedWatch extends k8s.Watch {
      override watch(
        watchPath: string,
        query: WatchQuery,
        callback: WatchCallback,
        done: WatchDone,
      ): Promise<AbortController> {
        return resolver.openWatch(
          feed,
          query,
          done,
          (q, cb, d) => super.watch(watchPath, q, cb, d),
          callback,
        );
      }
    }
    const informer = new k8s.ListWatch<KubernetesObject>(
      path,
      new FeedWatch(watchConfig),
      list,
      false,
    );
    informer.on("add", () => this.schedule());
    informer.on("update", () => this.schedule());
    informer.on("delete", () => this.schedule());
    informer.on("error", (err: unknown) => this.failed(feed, err));
    feed.informer = informer;
    return feed;
  }

  /** Options of a list call: aborted at close, and after LIST_TIMEOUT_MS (the client sets none). */
  private listOptions(k8s: Client) {
    const signal = AbortSignal.any([this.closing.signal, AbortSignal.timeout(LIST_TIMEOUT_MS)]);
    return {
      middleware: [
        {
          pre: (ctx: RequestContext) => {
            ctx.setSignal(signal);
            return new k8s.Observable(Promise.resolve(ctx));
          },
          post: (rsp: ResponseContext) => new k8s.Observable(Promise.resolve(rsp)),
        },
      ],
      middlewareMergeStrategy: "append" as const,
    };
  }

  /**
   * Every watch request of a feed passes here (the informer calls it after each list, and again
   * each time a watch ends cleanly). It marks the feed listed, adds what client-go sends and
   * client-node does not (allowWatchBookmarks, a timeoutSeconds of 5 to 10 minutes so the server
   * ends the watch before any middlebox silently drops it), paces a server that keeps ending
   * watches at once (the informer would re-watch in a hot loop), and records recovery.
   */
  private async openWatch(
    feed: Watched,
    query: WatchQuery,
    done: WatchDone,
    open: (query: WatchQuery, callback: WatchCallback, done: WatchDone) => Promise<AbortController>,
    callback: WatchCallback,
  ): Promise<AbortController> {
    if (!feed.listed) {
      feed.listed = true;
      this.schedule();
    }
    if (feed.quickEnds > 0) await this.sleep(backoffDelay(feed.quickEnds - 1, BACKOFF));
    if (this.closed) return new AbortController();
    const openedAt = Date.now();
    let events = 0;
    let failed = false;
    const controller = await open(
      {
        ...query,
        allowWatchBookmarks: true,
        timeoutSeconds: 300 + Math.floor(Math.random() * 300),
      },
      (phase, obj, raw) => {
        events++;
        callback(phase, obj, raw);
      },
      (err) => {
        failed = true;
        if (err == null)
          feed.quickEnds =
            events === 0 && Date.now() - openedAt < QUICK_END_MS ? feed.quickEnds + 1 : 0;
        done(err);
      },
    ).catch((err: unknown) => {
      // The client throws (instead of calling done) when it cannot even build the request, e.g.
      // no current cluster or plain http without skipTLSVerify; the informer would not recover.
      failed = true;
      done(err);
      return new AbortController();
    });
    if (this.closed) controller.abort();
    else if (!failed) this.recovered(feed);
    return controller;
  }

  private startFeed(feed: Watched): void {
    if (this.closed) return;
    feed.informer.start().catch((err: unknown) => this.failed(feed, err));
  }

  /** The informer stopped on an error: report it (once) and restart it after a backoff. */
  private failed(feed: Watched, err: unknown): void {
    if (this.closed) return;
    const status = statusOf(err);
    const what = `${feed.resource === "pods" ? "pods" : "endpointslices.discovery.k8s.io"} ${feed.namespace === "" ? "in every namespace" : `in namespace ${JSON.stringify(feed.namespace)}`}`;
    if (status === 401 || status === 403) {
      if (feed.failure !== "forbidden") {
        feed.failure = "forbidden";
        this.report(
          "LANEMESH_DISCOVERY_FORBIDDEN",
          `${this.source}: ${status === 401 ? "unauthorized (401) for" : "forbidden (403) to list/watch"} ${what}: ${detail(err)}; grant get, list and watch on ${feed.resource} to the service account`,
        );
      }
    } else {
      feed.failure = "unavailable";
      this.out.unavailable(
        `${this.source}: the Kubernetes API server ${this.server} failed on ${what}: ${detail(err)}; the last endpoints stay in force while it retries`,
      );
    }
    const delay = backoffDelay(feed.attempts++, BACKOFF);
    this.log.debug(
      { resource: feed.resource, namespace: feed.namespace, delayMs: delay, err: detail(err) },
      "informer stopped; restarting",
    );
    this.later(delay, () => this.startFeed(feed));
  }

  /** A feed's watch is open again: clear its failure, and the outage once no feed is failing. */
  private recovered(feed: Watched): void {
    feed.attempts = 0;
    if (feed.failure === null) return;
    this.log.info({ resource: feed.resource, namespace: feed.namespace }, "watching again");
    feed.failure = null;
    if (!this.feeds.some((f) => f.failure === "unavailable")) this.out.available();
  }

  private report(code: string, message: string): void {
    if (!this.closed) this.out.report(code, message);
  }

  private schedule(): void {
    if (!this.closed) this.out.changed();
  }

  /** The whole set, once every informer has listed; problems are logged once each. */
  private collect(): Endpoint[] | undefined {
    if (this.closed || this.feeds.length === 0 || !this.feeds.every((f) => f.listed)) return;
    const slices: SliceLike[] = [];
    const pods = new Map<string, Watched>();
    for (const feed of this.feeds) {
      if (feed.resource === "endpointslices")
        slices.push(...(feed.informer.list(feed.namespace || undefined) as SliceLike[]));
      else pods.set(feed.namespace, feed);
    }
    const lookup: PodLookup = (namespace, name) =>
      (pods.get(namespace) ?? pods.get(""))?.informer.get(name, namespace) as PodLike | undefined;
    const { endpoints, problems } = endpointsFromSlices(slices, lookup, this.target.port);
    for (const p of problems) {
      if (this.warned.has(p)) continue;
      this.warned.add(p);
      this.log.warn(p);
    }
    return endpoints;
  }

  private later(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.timers.delete(t);
      if (!this.closed) fn();
    }, ms);
    this.timers.add(t);
  }

  /** Resolves after `ms`, or never when closed first (its timer is cleared: nothing is held). */
  private sleep(ms: number): Promise<void> {
    return new Promise((resolve) => this.later(ms, resolve));
  }
}

/** In a pod: the service account (loadFromDefault finds it); elsewhere KUBECONFIG or ~/.kube/config. */
function defaultKubeConfig(k8s: Client): KubeConfig {
  const kc = new k8s.KubeConfig();
  kc.loadFromDefault();
  return kc;
}

/** The HTTP status of a client error: ApiException.code (lists) or statusCode (watches). */
function statusOf(err: unknown): number | undefined {
  if (typeof err !== "object" || err === null) return undefined;
  const e = err as { code?: unknown; statusCode?: unknown };
  if (typeof e.statusCode === "number") return e.statusCode;
  if (typeof e.code === "number") return e.code;
  return undefined;
}

/** One line about an error: the API server's Status message when it sent one. */
function detail(err: unknown): string {
  if (typeof err !== "object" || err === null) return String(err);
  const e = err as { body?: unknown; message?: unknown; code?: unknown };
  const status = statusOf(err);
  const message = statusMessage(e.body);
  if (message !== undefined) return `${status ?? ""} ${message}`.trim();
  const first = typeof e.message === "string" ? (e.message.split("\n")[0] ?? "") : String(err);
  if (status !== undefined && !first.includes(String(status))) return `${status} ${first}`;
  if (typeof e.code === "string" && !first.includes(e.code)) return `${e.code} ${first}`;
  return first;
}

/** The `message` of a Status body: ApiException carries the response text, unparsed. */
function statusMessage(body: unknown): string | undefined {
  let parsed = body;
  if (typeof body === "string") {
    try {
      parsed = JSON.parse(body);
    } catch {
      return undefined;
    }
  }
  const message = (parsed as { message?: unknown } | null)?.message;
  return typeof message === "string" ? message.slice(0, 500) : undefined;
}
