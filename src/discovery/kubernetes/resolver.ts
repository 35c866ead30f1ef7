// Kubernetes discovery: EndpointSlices and the Pods behind them (for their lane label) followed with @kubernetes/client-node informers; it only emits endpoint sets, never picks, and loads the client only in start().
import { readFileSync } from "node:fs";
import type { Agent } from "node:http";
import type {
  KubeConfig,
  KubernetesListObject,
  KubernetesObject,
  ListWatch,
  RequestContext,
  ResponseContext,
} from "@kubernetes/client-node";
import { isLaneTag } from "../../config/lane-tag.js";
import type { Endpoint } from "../../config/types.js";
import { backoffDelay } from "../../runtime/backoff.js";
import { type Logger, logger } from "../../telemetry/logger.js";
import type { Resolver, ResolverError } from "../types.js";

/** What `--discovery kubernetes[?namespace=…&port=…]` asks for. */
export interface KubernetesTarget {
  /**
   * Namespaces to follow; null = the pod's own namespace: env POD_NAMESPACE, else the service
   * account's namespace file, else "default".
   */
  namespaces: string[] | null;
  /** EndpointSlice port name to use; null = the port named "http", else the first TCP port. */
  port: string | null;
}

/** The pod label that carries an instance's lane tag (DESIGN.md §3); absent or empty = base. */
export const TAG_LABEL = "lanemesh.io/tag";
/** Pod annotation: the port of the pod's sidecar inbound listener, dialed instead of the slice port. */
export const INBOUND_PORT_ANNOTATION = "lanemesh.io/inbound-port";
/** Pod annotation: the instance's weight, 0..10000 (100 = normal). */
export const WEIGHT_ANNOTATION = "lanemesh.io/weight";
/** The label the EndpointSlice controller puts on every slice of a Service. */
export const SERVICE_NAME_LABEL = "kubernetes.io/service-name";

const SERVICE_ACCOUNT_NAMESPACE = "/var/run/secrets/kubernetes.io/serviceaccount/namespace";
/** A burst of watch events (a rollout touches pods and slices together) becomes one emission. */
const COALESCE_MS = 20;
/** A list request that has not answered by then is aborted and retried with backoff. */
const LIST_TIMEOUT_MS = 30_000;
/** A watch that ends cleanly this soon after opening, with no event, counts as a quick end. */
const QUICK_END_MS = 1_000;
const BACKOFF = { initialMs: 500, maxMs: 30_000 };

// Namespaces and Service port names are DNS-1123 labels.
const DNS_LABEL = /^[a-z0-9]([-a-z0-9]*[a-z0-9])?$/;

/** `kubernetes` | `kubernetes?namespace=mall,shop&port=http`. */
export function parseKubernetesSpec(spec: string): KubernetesTarget | { error: string } {
  const usage = `expected "kubernetes" or "kubernetes?namespace=NS[,NS…]&port=NAME"`;
  if (spec === "kubernetes") return { namespaces: null, port: null };
  if (!spec.startsWith("kubernetes?")) return { error: `${usage}, got ${JSON.stringify(spec)}` };
  const query = spec.slice("kubernetes?".length);
  if (query === "") return { error: `nothing after "?" in ${JSON.stringify(spec)}: ${usage}` };
  const target: KubernetesTarget = { namespaces: null, port: null };
  const seen = new Set<string>();
  for (const part of query.split("&")) {
    if (part === "") return { error: `empty parameter in ${JSON.stringify(spec)}: ${usage}` };
    const eq = part.indexOf("=");
    const key = eq === -1 ? part : part.slice(0, eq);
    const value = eq === -1 ? undefined : part.slice(eq + 1);
    if (key !== "namespace" && key !== "port") {
      return { error: `unknown parameter ${JSON.stringify(key)}: expected namespace or port` };
    }
    if (seen.has(key)) return { error: `parameter ${JSON.stringify(key)} given twice` };
    seen.add(key);
    if (value === undefined || value === "") {
      return {
        error: `parameter ${JSON.stringify(key)} needs a value (${key === "namespace" ? "namespace=NS[,NS…]" : "port=NAME"})`,
      };
    }
    if (key === "namespace") {
      const names = value.split(",");
      for (const ns of names) {
        if (ns === "") return { error: `empty namespace in ${JSON.stringify(value)}` };
        if (ns.length > 63 || !DNS_LABEL.test(ns)) {
          return {
            error: `bad namespace ${JSON.stringify(ns)}: a namespace is a DNS label (lower-case letters, digits and "-", at most 63 characters)`,
          };
        }
      }
      const dup = names.find((ns, i) => names.indexOf(ns) !== i);
      if (dup !== undefined) return { error: `namespace ${JSON.stringify(dup)} listed twice` };
      target.namespaces = names;
    } else {
      // Service (and so EndpointSlice) port names are DNS labels; a name made of digits only is
      // refused because it reads as a port number, which this parameter does not take.
      if (value.length > 63 || !DNS_LABEL.test(value) || !/[a-z]/.test(value)) {
        return {
          error: `bad port ${JSON.stringify(value)}: give the EndpointSlice port's name (a DNS label with a letter, e.g. http), not its number`,
        };
      }
      target.port = value;
    }
  }
  return target;
}

/** The parts of an EndpointSlice this resolver reads (list items and watch objects alike). */
export interface SliceLike {
  metadata?: { name?: string; namespace?: string; labels?: Record<string, string> | null };
  addressType?: string;
  ports?: { name?: string | null; port?: number | null; protocol?: string | null }[] | null;
  endpoints?:
    | {
        addresses?: string[] | null;
        conditions?: {
          ready?: boolean | null;
          serving?: boolean | null;
          terminating?: boolean | null;
        } | null;
        nodeName?: string | null;
        targetRef?: { kind?: string; name?: string; namespace?: string } | null;
      }[]
    | null;
}

/** The parts of a Pod this resolver reads. */
export interface PodLike {
  metadata?: {
    labels?: Record<string, string> | null;
    annotations?: Record<string, string> | null;
  };
}

/** Pod lookup by namespace and name (the pod informers' caches). */
export type PodLookup = (namespace: string, name: string) => PodLike | undefined;

/**
 * Endpoints of a set of EndpointSlices (pure). `problems` names what was skipped or ignored and
 * why, for the caller to log once.
 *
 * - service = the slice's `kubernetes.io/service-name` label (slices without it are skipped);
 *   names are not qualified by namespace, as the outbound side strips `.ns.svc.cluster.local`:
 *   one service name followed in two namespaces is one service.
 * - IPv4 and IPv6 slices; FQDN slices (deprecated, no defined semantics) are skipped.
 * - One address per endpoint, the first: the API says the addresses of an endpoint are fungible
 *   and kube-proxy uses only the first (kubernetes/kubernetes#106267).
 * - port = the chosen slice port, unless the pod has `lanemesh.io/inbound-port: "N"`: then N, the
 *   port of that pod's sidecar inbound listener. A peer sidecar then dials the sidecar directly,
 *   which works without iptables interception of the app port.
 * - tag = the pod's `lanemesh.io/tag` label (absent or empty = base; an endpoint without a Pod
 *   targetRef is base). An endpoint whose Pod is not (yet) in the cache is kept unhealthy: its lane
 *   is unknown, and taking it for base could send base traffic to a canary.
 * - healthy = ready !== false && terminating !== true (ready unset counts as ready, as kube-proxy).
 * - Several slices of one service are merged; one address:port is listed once (a healthy copy
 *   wins, as an endpoint moving between slices may briefly sit in both).
 */
export function endpointsFromSlices(
  slices: readonly SliceLike[],
  pods: PodLookup,
  portName: string | null,
): { endpoints: Endpoint[]; problems: string[] } {
  const byKey = new Map<string, Endpoint>();
  const problems: string[] = [];
  for (const slice of slices) {
    const namespace = slice.metadata?.namespace ?? "";
    const where = `EndpointSlice ${namespace}/${slice.metadata?.name ?? "?"}`;
    const service = slice.metadata?.labels?.[SERVICE_NAME_LABEL];
    if (service === undefined || service === "") continue;
    if (slice.addressType !== "IPv4" && slice.addressType !== "IPv6") continue;
    const slicePort = chooseSlicePort(slice.ports, portName);
    if (slicePort === null) {
      problems.push(
        `${where}: no ${portName === null ? 'TCP port (none named "http" either)' : `TCP port named ${JSON.stringify(portName)}`}; its endpoints are skipped`,
      );
      continue;
    }
    for (const ep of slice.endpoints ?? []) {
      const address = ep.addresses?.[0];
      if (address === undefined || address === "") continue;
      const metadata: Record<string, string> = { namespace };
      let tag: string | null = null;
      let port = slicePort;
      let weight = 100;
      let healthy = ep.conditions?.ready !== false && ep.conditions?.terminating !== true;
      const ref = ep.targetRef;
      if (ref?.kind === "Pod" && ref.name) {
        const podNamespace = ref.namespace || namespace;
        metadata.pod = ref.name;
        const pod = pods(podNamespace, ref.name);
        if (pod === undefined) {
          healthy = false;
        } else {
          const podWhere = `Pod ${podNamespace}/${ref.name}`;
          const label = pod.metadata?.labels?.[TAG_LABEL];
          if (label !== undefined && label !== "") {
            if (!isLaneTag(label)) {
              problems.push(
                `${podWhere}: label ${TAG_LABEL}=${JSON.stringify(label)} is not a lane tag; the pod is skipped`,
              );
              continue;
            }
            // "base" is the reserved name of untagged instances, as static and Nacos read it.
            tag = label.toLowerCase() === "base" ? null : label;
          }
          const annotations = pod.metadata?.annotations ?? {};
          const inbound = annotations[INBOUND_PORT_ANNOTATION];
          if (inbound !== undefined) {
            const n = intIn(inbound, 1, 65535);
            if (n === null)
              problems.push(
                `${podWhere}: annotation ${INBOUND_PORT_ANNOTATION}=${JSON.stringify(inbound)} is not a port (1..65535); the slice port is used`,
              );
            else port = n;
          }
          const w = annotations[WEIGHT_ANNOTATION];
          if (w !== undefined) {
            const n = intIn(w, 0, 10000);
            if (n === null)
              problems.push(
                `${podWhere}: annotation ${WEIGHT_ANNOTATION}=${JSON.stringify(w)} is not a weight (0..10000); 100 is used`,
              );
            else weight = n;
          }
        }
      }
      if (ep.nodeName) metadata.node = ep.nodeName;
      const endpoint: Endpoint = { service, address, port, tag, weight, healthy, metadata };
      const key = `${service}\u0000${address}\u0000${port}`;
      const had = byKey.get(key);
      if (had === undefined || (!had.healthy && healthy)) byKey.set(key, endpoint);
    }
  }
  const endpoints = [...byKey.values()].sort(
    (a, b) => cmp(a.service, b.service) || cmp(a.address, b.address) || a.port - b.port,
  );
  return { endpoints, problems };
}

function cmp(a: string, b: string): number {
  return a < b ? -1 : a > b ? 1 : 0;
}

function intIn(text: string, min: number, max: number): number | null {
  if (!/^\d{1,5}$/.test(text)) return null;
  const n = Number(text);
  return n >= min && n <= max ? n : null;
}

/** The named TCP port; with no name, the TCP port named "http", else the first TCP port. */
function chooseSlicePort(ports: SliceLike["ports"], name: string | null): number | null {
  const tcp = (ports ?? []).filter(
    (p) => (p.protocol ?? "TCP") === "TCP" && typeof p.port === "number" && p.port > 0,
  );
  const chosen =
    name !== null
      ? tcp.find((p) => (p.name ?? "") === name)
      : (tcp.find((p) => p.name === "http") ?? tcp[0]);
  return chosen?.port ?? null;
}

/** The namespace this process runs in, when the target names none. */
export function ownNamespace(): string {
  const env = process.env.POD_NAMESPACE?.trim();
  if (env && DNS_LABEL.test(env)) return env;
  try {
    const file = readFileSync(SERVICE_ACCOUNT_NAMESPACE, "utf8").trim();
    if (DNS_LABEL.test(file)) return file;
  } catch {
    // Not in a pod (or no service account mounted): fall through to "default".
  }
  return "default";
}

type Client = typeof import("@kubernetes/client-node");
type ResourceName = "endpointslices" | "pods";

type WatchQuery = Record<string, string | number | boolean | undefined>;
type WatchCallback = (phase: string, obj: unknown, raw?: unknown) => void;
type WatchDone = (err: unknown) => void;

/** One informer (list + watch) of one resource in one namespace, and its recovery state. */
class Feed {
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
  private readonly feeds: Feed[] = [];
  private readonly timers = new Set<NodeJS.Timeout>();
  /** Aborts list requests in flight at close. */
  private readonly closing = new AbortController();
  private onEndpoints: ((endpoints: Endpoint[]) => void) | undefined;
  private onError: ((err: ResolverError) => void) | undefined;
  private emitTimer: NodeJS.Timeout | undefined;
  private lastEmitted: string | undefined;
  private outage = false;
  private server = "";
  private readonly warned = new Set<string>();
  private started = false;
  private closed = false;

  constructor(
    private readonly target: KubernetesTarget,
    private readonly opts: { kubeConfig?: KubeConfig; log?: Logger } = {},
  ) {
    const params: string[] = [];
    if (target.namespaces !== null) params.push(`namespace=${target.namespaces.join(",")}`);
    if (target.port !== null) params.push(`port=${target.port}`);
    this.source = params.length === 0 ? "kubernetes" : `kubernetes?${params.join("&")}`;
    this.log = opts.log ?? logger("kubernetes");
  }

  start(onEndpoints: (endpoints: Endpoint[]) => void, onError: (err: ResolverError) => void): void {
    if (this.started || this.closed)
      throw new Error("KubernetesResolver.start called twice or after close");
    this.started = true;
    this.onEndpoints = onEndpoints;
    this.onError = onError;
    // boot() awaits the client's import first, so no callback runs synchronously from start().
    this.boot().catch((err: unknown) =>
      this.report("LANEMESH_DISCOVERY_UNAVAILABLE", `${this.source}: ${detail(err)}`),
    );
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.closing.abort();
    if (this.emitTimer) clearTimeout(this.emitTimer);
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
    const namespaces = this.target.namespaces ?? [ownNamespace()];
    this.log.info(
      { server: this.server, namespaces, port: this.target.port },
      "following EndpointSlices and Pods",
    );
    for (const namespace of namespaces) {
      this.feeds.push(
        this.makeFeed(
          k8s,
          kc,
          "endpointslices",
          namespace,
          `/apis/discovery.k8s.io/v1/namespaces/${namespace}/endpointslices`,
          () => slicesApi.listNamespacedEndpointSlice({ namespace }, this.listOptions(k8s)),
        ),
        this.makeFeed(k8s, kc, "pods", namespace, `/api/v1/namespaces/${namespace}/pods`, () =>
          coreApi.listNamespacedPod({ namespace }, this.listOptions(k8s)),
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
  ): Feed {
    const feed = new Feed(resource, namespace);
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
    feed: Feed,
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

  private startFeed(feed: Feed): void {
    if (this.closed) return;
    feed.informer.start().catch((err: unknown) => this.failed(feed, err));
  }

  /** The informer stopped on an error: report it (once) and restart it after a backoff. */
  private failed(feed: Feed, err: unknown): void {
    if (this.closed) return;
    const status = statusOf(err);
    const what = `${feed.resource === "pods" ? "pods" : "endpointslices.discovery.k8s.io"} in namespace ${JSON.stringify(feed.namespace)}`;
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
      if (!this.outage) {
        this.outage = true;
        this.report(
          "LANEMESH_DISCOVERY_UNAVAILABLE",
          `${this.source}: the Kubernetes API server ${this.server} failed on ${what}: ${detail(err)}; the last endpoints stay in force while it retries`,
        );
      }
    }
    const delay = backoffDelay(feed.attempts++, BACKOFF);
    this.log.debug(
      { resource: feed.resource, namespace: feed.namespace, delayMs: delay, err: detail(err) },
      "informer stopped; restarting",
    );
    this.later(delay, () => this.startFeed(feed));
  }

  /** A feed's watch is open again: clear its failure, and the outage once no feed is failing. */
  private recovered(feed: Feed): void {
    feed.attempts = 0;
    if (feed.failure === null) return;
    this.log.info({ resource: feed.resource, namespace: feed.namespace }, "watching again");
    feed.failure = null;
    if (this.outage && !this.feeds.some((f) => f.failure === "unavailable")) this.outage = false;
  }

  private report(code: string, message: string): void {
    if (this.closed) return;
    this.log.warn({ code }, message);
    this.onError?.({ code, message });
  }

  private schedule(): void {
    if (this.closed || this.emitTimer !== undefined) return;
    this.emitTimer = setTimeout(() => {
      this.emitTimer = undefined;
      this.flush();
    }, COALESCE_MS);
  }

  /** Emit the whole set, once every informer has listed, and only when it changed. */
  private flush(): void {
    if (this.closed || this.feeds.length === 0 || !this.feeds.every((f) => f.listed)) return;
    const slices: SliceLike[] = [];
    const pods = new Map<string, Feed>();
    for (const feed of this.feeds) {
      if (feed.resource === "endpointslices")
        slices.push(...(feed.informer.list(feed.namespace) as SliceLike[]));
      else pods.set(feed.namespace, feed);
    }
    const lookup: PodLookup = (namespace, name) =>
      pods.get(namespace)?.informer.get(name, namespace) as PodLike | undefined;
    const { endpoints, problems } = endpointsFromSlices(slices, lookup, this.target.port);
    for (const p of problems) {
      if (this.warned.has(p)) continue;
      this.warned.add(p);
      this.log.warn(p);
    }
    const key = JSON.stringify(endpoints);
    if (key === this.lastEmitted) return;
    this.lastEmitted = key;
    this.log.debug({ endpoints: endpoints.length }, "endpoints changed");
    this.onEndpoints?.(endpoints);
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
