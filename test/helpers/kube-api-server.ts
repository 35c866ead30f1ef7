// Test helper: a fake Kubernetes API server on 127.0.0.1 (plain HTTP) serving list and watch of GET /apis/discovery.k8s.io/v1/namespaces/{ns}/endpointslices and GET /api/v1/namespaces/{ns}/pods in the real wire format; it leaves out TLS, authentication, writes over HTTP, single-object GETs, cluster-wide paths, selectors, pagination (limit/continue are ignored: all items at once, as a server may) and protobuf; no assertions here.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import type { AddressInfo } from "node:net";

/*
 * Wire protocol, as kube-apiserver speaks it:
 * - Every write bumps one global resourceVersion (etcd's revision), shared by all resources; an
 *   object carries the revision of its last write in metadata.resourceVersion.
 * - List: 200 `{kind: "<Kind>List", apiVersion, metadata: {resourceVersion: "<current>"}, items}`,
 *   items in name order, without kind/apiVersion (as the server omits them in lists).
 * - Watch (`?watch=true|1`): 200, `Content-Type: application/json`, chunked, one JSON event per
 *   line `{"type": "ADDED"|"MODIFIED"|"DELETED"|"BOOKMARK"|"ERROR", "object": …}`; objects carry
 *   kind/apiVersion. From `resourceVersion=N`: every event after N, then live events. From "" or
 *   "0": a synthetic ADDED per existing object first. BOOKMARK (only with allowWatchBookmarks):
 *   `{kind, apiVersion, metadata: {resourceVersion}}`. The server ends the watch cleanly (final
 *   chunk) after timeoutSeconds (default 1800, as --min-request-timeout), capped by maxWatchSeconds,
 *   with a bookmark just before when bookmarks were asked for.
 * - A resourceVersion older than the last compaction is "gone": by default 200 with one
 *   `ERROR` event carrying a Status 410 "Expired" and the end of the stream (the watch cache's
 *   way); with `goneAs = "status"` an HTTP 410 with a Status body (etcd-direct / older servers).
 * - Errors are `Status` objects: 403 Forbidden with the RBAC message, 404, 405, 400.
 */

export type ResourceName = "endpointslices" | "pods";

const RESOURCES: Record<
  ResourceName,
  { prefix: string; apiVersion: string; kind: string; group: string }
> = {
  endpointslices: {
    prefix: "/apis/discovery.k8s.io/v1",
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    group: "discovery.k8s.io",
  },
  pods: { prefix: "/api/v1", apiVersion: "v1", kind: "Pod", group: "" },
};

const PATH =
  /^(\/api\/v1|\/apis\/discovery\.k8s\.io\/v1)\/namespaces\/([^/]+)\/(pods|endpointslices)$/;

/** A Kubernetes object as free-form JSON: tests reach into it as they please. */
export interface KubeObject {
  // biome-ignore lint/suspicious/noExplicitAny: free-form JSON
  metadata: { name: string; namespace: string; [k: string]: any };
  // biome-ignore lint/suspicious/noExplicitAny: free-form JSON
  [k: string]: any;
}

interface Event {
  rv: number;
  resource: ResourceName;
  namespace: string;
  type: "ADDED" | "MODIFIED" | "DELETED";
  object: KubeObject;
}

interface WatchStream {
  resource: ResourceName;
  namespace: string;
  bookmarks: boolean;
  res: ServerResponse;
  timer: NodeJS.Timeout;
}

/** One request as the server saw it. */
export interface SeenRequest {
  method: string;
  resource: ResourceName | null;
  namespace: string | null;
  watch: boolean;
  query: Record<string, string>;
  authorization: string | undefined;
}

export class FakeKubeApiServer {
  /** Requests in arrival order (a held watch is recorded when it arrives). */
  readonly requests: SeenRequest[] = [];
  /** More routes, tried first (e.g. kube-token-review.ts); one returns true when it answered. */
  readonly extensions: ((req: IncomingMessage, res: ServerResponse) => boolean)[] = [];
  /** How a watch from a compacted resourceVersion is refused. */
  goneAs: "event" | "status" = "event";
  /** Upper bound of any watch's life, in seconds (kube-apiserver: --min-request-timeout × 2). */
  maxWatchSeconds = 1800;
  private rv = 1;
  private compactedRv = 0;
  private readonly objects = new Map<string, KubeObject>();
  private history: Event[] = [];
  private readonly watches = new Set<WatchStream>();
  private readonly forbidden = new Set<string>();
  private held: (() => void)[] | null = null;
  private server: Server | undefined;
  private portNumber = 0;
  private uid = 0;

  static async start(): Promise<FakeKubeApiServer> {
    const s = new FakeKubeApiServer();
    await s.listen(0);
    return s;
  }

  get port(): number {
    return this.portNumber;
  }

  get url(): string {
    return `http://127.0.0.1:${this.portNumber}`;
  }

  /** The current resourceVersion (etcd revision). */
  get resourceVersion(): number {
    return this.rv;
  }

  /** Options for `KubeConfig.loadFromOptions` pointing at this server (plain http needs skipTLSVerify). */
  kubeConfigOptions() {
    return {
      clusters: [{ name: "fake", server: this.url, skipTLSVerify: true }],
      users: [{ name: "lanemesh", token: "fake-token" }],
      contexts: [{ name: "fake", cluster: "fake", user: "lanemesh" }],
      currentContext: "fake",
    };
  }

  /** A kubeconfig file's text for this server (for KUBECONFIG), with `token` as the user's. */
  kubeConfigYaml(token = "fake-token"): string {
    return `apiVersion: v1
kind: Config
clusters:
- name: fake
  cluster: { server: "${this.url}", insecure-skip-tls-verify: true }
users:
- name: lanemesh
  user: { token: ${token} }
contexts:
- name: fake
  context: { cluster: fake, user: lanemesh }
current-context: fake
`;
  }

  /** Create or replace an object (ADDED or MODIFIED); returns the stored copy. */
  apply(resource: ResourceName, object: KubeObject): KubeObject {
    const key = keyOf(resource, object.metadata.namespace, object.metadata.name);
    const old = this.objects.get(key);
    const stored: KubeObject = structuredClone(object);
    stored.metadata.resourceVersion = String(++this.rv);
    stored.metadata.uid =
      old?.metadata.uid ?? `00000000-0000-4000-8000-${String(++this.uid).padStart(12, "0")}`;
    stored.metadata.creationTimestamp = old?.metadata.creationTimestamp ?? new Date().toISOString();
    delete stored.kind;
    delete stored.apiVersion;
    this.objects.set(key, stored);
    this.record(resource, old ? "MODIFIED" : "ADDED", stored);
    return stored;
  }

  /** Change an existing object in place (MODIFIED). */
  update(
    resource: ResourceName,
    namespace: string,
    name: string,
    change: (o: KubeObject) => void,
  ): KubeObject {
    const current = this.objects.get(keyOf(resource, namespace, name));
    if (!current) throw new Error(`fake kube: no ${resource} ${namespace}/${name}`);
    const next = structuredClone(current);
    change(next);
    return this.apply(resource, next);
  }

  /** Delete an object (DELETED, carrying the deletion's resourceVersion). */
  remove(resource: ResourceName, namespace: string, name: string): void {
    const key = keyOf(resource, namespace, name);
    const old = this.objects.get(key);
    if (!old) throw new Error(`fake kube: no ${resource} ${namespace}/${name}`);
    this.objects.delete(key);
    const last = structuredClone(old);
    last.metadata.resourceVersion = String(++this.rv);
    this.record(resource, "DELETED", last);
  }

  /** The stored object (as a list item: no kind/apiVersion), if any. */
  object(resource: ResourceName, namespace: string, name: string): KubeObject | undefined {
    return this.objects.get(keyOf(resource, namespace, name));
  }

  /** Forget the event history up to now: a watch from an older resourceVersion gets 410. */
  compact(): void {
    this.compactedRv = this.rv;
    this.history = [];
  }

  /** RBAC: list and watch of `resource` in `namespace` answer 403 (until allow). */
  forbid(resource: ResourceName, namespace: string): void {
    this.forbidden.add(`${resource}/${namespace}`);
  }

  allow(resource: ResourceName, namespace: string): void {
    this.forbidden.delete(`${resource}/${namespace}`);
  }

  /** End every open watch cleanly, as the server does when timeoutSeconds runs out. */
  closeWatches(): void {
    for (const w of [...this.watches]) this.endWatch(w);
  }

  /** Send a BOOKMARK at the current resourceVersion to every watch that allowed bookmarks. */
  bookmark(): void {
    for (const w of this.watches) if (w.bookmarks) this.sendBookmark(w);
  }

  /** Open watches, optionally of one resource and namespace. */
  openWatches(resource?: ResourceName, namespace?: string): number {
    let n = 0;
    for (const w of this.watches) {
      if (
        (resource === undefined || w.resource === resource) &&
        (namespace === undefined || w.namespace === namespace)
      )
        n++;
    }
    return n;
  }

  /** New watch requests wait unanswered (headers included) until the returned release runs. */
  holdWatches(): () => void {
    this.held = [];
    return () => {
      const held = this.held ?? [];
      this.held = null;
      for (const go of held) go();
    };
  }

  /** Like an API server going down: the listener closes and every connection is cut. State stays. */
  async stop(): Promise<void> {
    const server = this.server;
    this.server = undefined;
    for (const w of this.watches) clearTimeout(w.timer);
    this.watches.clear();
    if (!server) return;
    await new Promise<void>((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    });
  }

  /** Back on the same port, with the same objects and history (as etcd kept them). */
  async restart(): Promise<void> {
    await this.listen(this.portNumber);
  }

  close(): Promise<void> {
    return this.stop();
  }

  private listen(port: number): Promise<void> {
    const server = createServer((req, res) => this.handle(req, res));
    this.server = server;
    return new Promise((resolve, reject) => {
      server.once("error", reject);
      server.listen(port, "127.0.0.1", () => {
        this.portNumber = (server.address() as AddressInfo).port;
        resolve();
      });
    });
  }

  private record(resource: ResourceName, type: Event["type"], object: KubeObject): void {
    const event: Event = {
      rv: this.rv,
      resource,
      namespace: object.metadata.namespace,
      type,
      object,
    };
    this.history.push(event);
    for (const w of this.watches) {
      if (w.resource === resource && w.namespace === event.namespace)
        this.sendEvent(w, type, object);
    }
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    for (const extension of this.extensions) if (extension(req, res)) return;
    const url = new URL(req.url ?? "/", "http://fake");
    const query = Object.fromEntries(url.searchParams);
    const m = PATH.exec(url.pathname);
    const resource =
      m && RESOURCES[m[3] as ResourceName].prefix === m[1] ? (m[3] as ResourceName) : null;
    const namespace = resource ? (m?.[2] ?? null) : null;
    const watch = query.watch === "true" || query.watch === "1";
    this.requests.push({
      method: req.method ?? "",
      resource,
      namespace,
      watch,
      query,
      authorization: req.headers.authorization,
    });
    if (resource === null || namespace === null) {
      status(res, 404, "NotFound", `the server could not find the requested resource`);
      return;
    }
    if (req.method !== "GET") {
      status(res, 405, "MethodNotAllowed", `${req.method} is not supported by this fake server`);
      return;
    }
    const serve = () => {
      if (res.destroyed) return;
      if (this.forbidden.has(`${resource}/${namespace}`)) {
        const { group } = RESOURCES[resource];
        const qualified = group === "" ? resource : `${resource}.${group}`;
        status(
          res,
          403,
          "Forbidden",
          `${qualified} is forbidden: User "system:serviceaccount:${namespace}:lanemesh" cannot ${watch ? "watch" : "list"} resource "${resource}" in API group "${group}" in the namespace "${namespace}"`,
          { group, kind: resource },
        );
        return;
      }
      if (watch) this.startWatch(resource, namespace, query, res);
      else this.list(resource, namespace, res);
    };
    if (watch && this.held !== null) this.held.push(serve);
    else serve();
  }

  private list(resource: ResourceName, namespace: string, res: ServerResponse): void {
    const { apiVersion, kind } = RESOURCES[resource];
    const items = [...this.objects.entries()]
      .filter(([k]) => k.startsWith(`${resource}/${namespace}/`))
      .sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
      .map(([, o]) => o);
    const body = JSON.stringify({
      kind: `${kind}List`,
      apiVersion,
      metadata: { resourceVersion: String(this.rv) },
      items,
    });
    res.writeHead(200, {
      "content-type": "application/json",
      "content-length": Buffer.byteLength(body),
    });
    res.end(body);
  }

  private startWatch(
    resource: ResourceName,
    namespace: string,
    query: Record<string, string>,
    res: ServerResponse,
  ): void {
    const from = query.resourceVersion ?? "";
    const fromRv = from === "" || from === "0" ? null : Number(from);
    if (fromRv !== null && !(Number.isInteger(fromRv) && fromRv >= 0)) {
      status(res, 400, "BadRequest", `invalid resourceVersion ${JSON.stringify(from)}`);
      return;
    }
    const gone = fromRv !== null && fromRv < this.compactedRv;
    const goneStatus = {
      kind: "Status",
      apiVersion: "v1",
      metadata: {},
      status: "Failure",
      message: `too old resource version: ${fromRv} (${this.compactedRv + 1})`,
      reason: "Expired",
      code: 410,
    };
    if (gone && this.goneAs === "status") {
      status(res, 410, "Gone", goneStatus.message);
      return;
    }
    res.writeHead(200, {
      "content-type": "application/json",
      "cache-control": "no-cache, private",
      "transfer-encoding": "chunked",
    });
    res.flushHeaders();
    if (gone) {
      res.end(`${JSON.stringify({ type: "ERROR", object: goneStatus })}\n`);
      return;
    }
    const requested = query.timeoutSeconds === undefined ? 1800 : Number(query.timeoutSeconds);
    const seconds = Math.min(
      Number.isFinite(requested) && requested > 0 ? requested : 1800,
      this.maxWatchSeconds,
    );
    const w: WatchStream = {
      resource,
      namespace,
      bookmarks: query.allowWatchBookmarks === "true",
      res,
      timer: setTimeout(() => {
        if (w.bookmarks) this.sendBookmark(w);
        this.endWatch(w);
      }, seconds * 1000),
    };
    this.watches.add(w);
    res.on("close", () => {
      clearTimeout(w.timer);
      this.watches.delete(w);
    });
    if (fromRv === null) {
      for (const [k, o] of this.objects) {
        if (k.startsWith(`${resource}/${namespace}/`)) this.sendEvent(w, "ADDED", o);
      }
    } else {
      for (const e of this.history) {
        if (e.rv > fromRv && e.resource === resource && e.namespace === namespace)
          this.sendEvent(w, e.type, e.object);
      }
    }
  }

  private sendEvent(w: WatchStream, type: string, object: KubeObject): void {
    const { apiVersion, kind } = RESOURCES[w.resource];
    w.res.write(`${JSON.stringify({ type, object: { kind, apiVersion, ...object } })}\n`);
  }

  private sendBookmark(w: WatchStream): void {
    const { apiVersion, kind } = RESOURCES[w.resource];
    w.res.write(
      `${JSON.stringify({ type: "BOOKMARK", object: { kind, apiVersion, metadata: { resourceVersion: String(this.rv) } } })}\n`,
    );
  }

  private endWatch(w: WatchStream): void {
    clearTimeout(w.timer);
    this.watches.delete(w);
    w.res.end();
  }
}

function keyOf(resource: ResourceName, namespace: string, name: string): string {
  return `${resource}/${namespace}/${name}`;
}

/** Answer with a `Status` object, as the API server does for errors. */
export function status(
  res: ServerResponse,
  code: number,
  reason: string,
  message: string,
  details?: Record<string, string>,
): void {
  const body = JSON.stringify({
    kind: "Status",
    apiVersion: "v1",
    metadata: {},
    status: "Failure",
    message,
    reason,
    ...(details ? { details } : {}),
    code,
  });
  res.writeHead(code, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

/** An EndpointSlice as the EndpointSlice controller writes it for Service `service`. */
export function endpointSlice(o: {
  namespace: string;
  name: string;
  service: string;
  addressType?: "IPv4" | "IPv6" | "FQDN";
  ports: { name?: string; port: number; protocol?: "TCP" | "UDP" | "SCTP" }[];
  endpoints: {
    address: string;
    pod?: string;
    node?: string;
    /** Default true; null leaves the condition unset (unknown), as some controllers do. */
    ready?: boolean | null;
    terminating?: boolean;
  }[];
}): KubeObject {
  return {
    metadata: {
      name: o.name,
      namespace: o.namespace,
      labels: {
        "kubernetes.io/service-name": o.service,
        "endpointslice.kubernetes.io/managed-by": "endpointslice-controller.k8s.io",
      },
    },
    addressType: o.addressType ?? "IPv4",
    // An empty Go slice comes back from etcd as nil: the API server writes `null`.
    endpoints:
      o.endpoints.length === 0
        ? null
        : o.endpoints.map((e) => ({
            addresses: [e.address],
            conditions: {
              ...(e.ready === null ? {} : { ready: e.ready ?? true, serving: e.ready ?? true }),
              terminating: e.terminating ?? false,
            },
            ...(e.pod ? { targetRef: { kind: "Pod", namespace: o.namespace, name: e.pod } } : {}),
            ...(e.node ? { nodeName: e.node } : {}),
          })),
    ports: o.ports.map((p) => ({
      name: p.name ?? "",
      protocol: p.protocol ?? "TCP",
      port: p.port,
    })),
  };
}

/** A running Pod with `ip`, its labels and annotations. */
export function pod(o: {
  namespace: string;
  name: string;
  ip: string;
  labels?: Record<string, string>;
  annotations?: Record<string, string>;
  node?: string;
}): KubeObject {
  return {
    metadata: {
      name: o.name,
      namespace: o.namespace,
      labels: { app: o.name.replace(/-[^-]*$/, ""), ...(o.labels ?? {}) },
      ...(o.annotations ? { annotations: o.annotations } : {}),
    },
    spec: { nodeName: o.node ?? "node-1", containers: [{ name: "app", image: "app:1" }] },
    status: {
      phase: "Running",
      podIP: o.ip,
      podIPs: [{ ip: o.ip }],
      conditions: [{ type: "Ready", status: "True" }],
    },
  };
}
