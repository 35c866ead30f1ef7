// Test helper: a fake Kubernetes API server on 127.0.0.1 (plain HTTP) speaking the real wire format for EndpointSlices, Pods, lanemesh.io/v1alpha1 custom resources (with their status subresource), ConfigMaps, Secrets, Leases and MutatingWebhookConfigurations: list and watch (one namespace or all), get, create, replace and merge-patch with resourceVersion conflicts; it leaves out TLS, authentication, selectors, pagination (limit/continue are ignored: all items at once, as a server may), delete over HTTP and protobuf; no assertions here.
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
 * - Errors are `Status` objects: 403 Forbidden with the RBAC message, 404, 405, 400, 409.
 * - Writes (kubectl's and the client's): POST creates (409 AlreadyExists when the name is taken),
 *   PUT replaces (409 Conflict when metadata.resourceVersion is given and is not the stored one),
 *   PATCH takes `application/merge-patch+json` (RFC 7386) and `application/json-patch+json`
 *   (RFC 6902: add, replace, remove). For a resource with a status subresource (the lanemesh
 *   CRDs), writes to the object ignore `.status` and writes to `/status` change only `.status`;
 *   metadata.generation starts at 1 and grows when anything but metadata and status changes.
 *   A write that changes nothing is a no-op: no new resourceVersion, no event.
 */

export type ResourceName =
  | "endpointslices"
  | "pods"
  | "routes"
  | "lanegroups"
  | "lanes"
  | "configmaps"
  | "secrets"
  | "leases"
  | "mutatingwebhookconfigurations";

interface ResourceInfo {
  prefix: string;
  apiVersion: string;
  kind: string;
  group: string;
  /** The status subresource is enabled (writes to the object ignore .status). */
  status?: boolean;
}

const LANEMESH = { prefix: "/apis/lanemesh.io/v1alpha1", apiVersion: "lanemesh.io/v1alpha1" };

const RESOURCES: Record<ResourceName, ResourceInfo> = {
  endpointslices: {
    prefix: "/apis/discovery.k8s.io/v1",
    apiVersion: "discovery.k8s.io/v1",
    kind: "EndpointSlice",
    group: "discovery.k8s.io",
  },
  pods: { prefix: "/api/v1", apiVersion: "v1", kind: "Pod", group: "" },
  configmaps: { prefix: "/api/v1", apiVersion: "v1", kind: "ConfigMap", group: "" },
  secrets: { prefix: "/api/v1", apiVersion: "v1", kind: "Secret", group: "" },
  // Cluster-scoped: stored and addressed with namespace "" (left out of what is sent).
  mutatingwebhookconfigurations: {
    prefix: "/apis/admissionregistration.k8s.io/v1",
    apiVersion: "admissionregistration.k8s.io/v1",
    kind: "MutatingWebhookConfiguration",
    group: "admissionregistration.k8s.io",
  },
  leases: {
    prefix: "/apis/coordination.k8s.io/v1",
    apiVersion: "coordination.k8s.io/v1",
    kind: "Lease",
    group: "coordination.k8s.io",
  },
  routes: { ...LANEMESH, kind: "Route", group: "lanemesh.io", status: true },
  lanegroups: { ...LANEMESH, kind: "LaneGroup", group: "lanemesh.io", status: true },
  lanes: { ...LANEMESH, kind: "Lane", group: "lanemesh.io", status: true },
};

/** prefix, namespace (absent: all namespaces), resource, name, "status". */
const PATH =
  /^(\/api\/v1|\/apis\/[a-z0-9.-]+\/[a-z0-9]+)(?:\/namespaces\/([^/]+))?\/([a-z]+)(?:\/([^/]+))?(?:\/(status))?$/;

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
  /** null: every namespace. */
  namespace: string | null;
  bookmarks: boolean;
  res: ServerResponse;
  timer: NodeJS.Timeout;
  /** The Authorization header of the watch request (who is watching). */
  authorization: string | undefined;
}

/** One request as the server saw it. */
export interface SeenRequest {
  method: string;
  resource: ResourceName | null;
  /** null: a cluster-wide path (every namespace), or not a resource. */
  namespace: string | null;
  /** The object's name for single-object requests. */
  name: string | null;
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
  private lastCreation = 0;
  /** Watchers (by Authorization header) whose events are held back, and what was held. */
  private readonly lagging = new Map<string, { w: WatchStream; line: string }[]>();

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

  /**
   * Create or replace an object (ADDED or MODIFIED) as an administrator would, status included;
   * returns the stored copy. A write that changes nothing is a no-op (no new resourceVersion).
   */
  apply(resource: ResourceName, object: KubeObject): KubeObject {
    const key = keyOf(resource, object.metadata.namespace, object.metadata.name);
    const old = this.objects.get(key);
    const stored: KubeObject = structuredClone(object);
    delete stored.kind;
    delete stored.apiVersion;
    stored.metadata.uid =
      old?.metadata.uid ?? `00000000-0000-4000-8000-${String(++this.uid).padStart(12, "0")}`;
    stored.metadata.creationTimestamp = old?.metadata.creationTimestamp ?? this.timestamp();
    if (RESOURCES[resource].status) {
      const specChanged = old === undefined || !sameJson(bodyOf(old), bodyOf(stored));
      stored.metadata.generation = (old?.metadata.generation ?? 0) + (specChanged ? 1 : 0) || 1;
    }
    if (old) {
      const { resourceVersion: _, ...was } = old.metadata;
      const { resourceVersion: __, ...now } = stored.metadata;
      if (sameJson({ ...old, metadata: was }, { ...stored, metadata: now })) return old;
    }
    stored.metadata.resourceVersion = String(++this.rv);
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

  /** RBAC: every request on `resource` in `namespace` ("" = cluster-wide paths) answers 403 (until allow). */
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

  /**
   * The watches of the client sending `authorization` fall behind (as a slow watch cache or a
   * congested connection): their events are held, in order, until the returned release sends them.
   */
  lagWatches(authorization: string): () => void {
    this.lagging.set(authorization, []);
    return () => {
      const held = this.lagging.get(authorization) ?? [];
      this.lagging.delete(authorization);
      for (const { w, line } of held) if (!w.res.destroyed) w.res.write(line);
    };
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
      if (w.resource === resource && (w.namespace === null || w.namespace === event.namespace))
        this.sendEvent(w, type, object);
    }
  }

  /** Creation timestamps one second apart, so creation order is visible in them. */
  private timestamp(): string {
    const now = Math.floor(Date.now() / 1000) * 1000;
    this.lastCreation = Math.max(now, this.lastCreation + 1000);
    return new Date(this.lastCreation).toISOString().replace(/\.\d{3}Z$/, "Z");
  }

  private handle(req: IncomingMessage, res: ServerResponse): void {
    for (const extension of this.extensions) if (extension(req, res)) return;
    const url = new URL(req.url ?? "/", "http://fake");
    const query = Object.fromEntries(url.searchParams);
    const m = PATH.exec(url.pathname);
    const info = m
      ? (RESOURCES as Record<string, ResourceInfo | undefined>)[m[3] ?? ""]
      : undefined;
    const resource = m && info?.prefix === m[1] ? (m[3] as ResourceName) : null;
    const namespace = resource ? (m?.[2] ?? null) : null;
    const name = resource ? (m?.[4] ?? null) : null;
    const sub = resource ? (m?.[5] ?? null) : null;
    const watch = query.watch === "true" || query.watch === "1";
    this.requests.push({
      method: req.method ?? "",
      resource,
      namespace,
      name,
      watch,
      query,
      authorization: req.headers.authorization,
    });
    if (resource === null || (name === null && sub !== null)) {
      status(res, 404, "NotFound", `the server could not find the requested resource`);
      return;
    }
    if (sub !== null && !RESOURCES[resource].status) {
      status(res, 404, "NotFound", `the server could not find the requested resource`);
      return;
    }
    const method = req.method ?? "GET";
    const collection = name === null;
    const allowed = collection ? ["GET", "POST"] : ["GET", "PUT", "PATCH"];
    if (!allowed.includes(method) || (method === "POST" && namespace === null)) {
      status(res, 405, "MethodNotAllowed", `${method} is not supported by this fake server`);
      return;
    }
    const verb = watch
      ? "watch"
      : method === "GET"
        ? collection
          ? "list"
          : "get"
        : method === "POST"
          ? "create"
          : method === "PUT"
            ? "update"
            : "patch";
    const serve = (body: string) => {
      if (res.destroyed) return;
      if (this.forbidden.has(`${resource}/${namespace ?? ""}`)) {
        const { group } = RESOURCES[resource];
        const qualified = group === "" ? resource : `${resource}.${group}`;
        const where =
          namespace === null ? "at the cluster scope" : `in the namespace "${namespace}"`;
        status(
          res,
          403,
          "Forbidden",
          `${qualified} is forbidden: User "system:serviceaccount:${namespace ?? "lanemesh-system"}:lanemesh" cannot ${verb} resource "${resource}" in API group "${group}" ${where}`,
          { group, kind: resource },
        );
        return;
      }
      if (watch) this.startWatch(resource, namespace, query, res, req.headers.authorization);
      else if (method === "GET" && collection) this.list(resource, namespace, res);
      else if (method === "GET") this.getOne(resource, namespace ?? "", name ?? "", sub, res);
      else {
        const type =
          String(req.headers["content-type"] ?? "")
            .split(";")[0]
            ?.trim() ?? "";
        this.write(method, resource, namespace ?? "", name, sub, body, type, res);
      }
    };
    if (method === "GET") {
      if (watch && this.held !== null) this.held.push(() => serve(""));
      else serve("");
      return;
    }
    let body = "";
    req.setEncoding("utf8");
    req.on("data", (d: string) => {
      body += d;
      if (body.length > 3 * 1024 * 1024) req.destroy();
    });
    req.on("end", () => serve(body));
  }

  private getOne(
    resource: ResourceName,
    namespace: string,
    name: string,
    _sub: string | null,
    res: ServerResponse,
  ): void {
    const o = this.objects.get(keyOf(resource, namespace, name));
    if (!o) {
      notFound(res, resource, name);
      return;
    }
    sendObject(res, 200, resource, o);
  }

  /** POST, PUT and PATCH, on the object or its /status. */
  private write(
    method: string,
    resource: ResourceName,
    namespace: string,
    name: string | null,
    sub: string | null,
    text: string,
    contentType: string,
    res: ServerResponse,
  ): void {
    let body: KubeObject;
    try {
      body = JSON.parse(text) as KubeObject;
    } catch (err) {
      status(res, 400, "BadRequest", `invalid JSON: ${(err as Error).message}`);
      return;
    }
    const info = RESOURCES[resource];
    const qualified = info.group === "" ? resource : `${resource}.${info.group}`;
    if (method === "POST") {
      const n = body?.metadata?.name;
      if (typeof n !== "string" || n === "") {
        status(res, 422, "Invalid", `${info.kind} is invalid: metadata.name: Required value`);
        return;
      }
      if (this.objects.has(keyOf(resource, namespace, n))) {
        status(res, 409, "AlreadyExists", `${qualified} "${n}" already exists`, {
          name: n,
          group: info.group,
          kind: resource,
        });
        return;
      }
      const fresh = structuredClone(body);
      fresh.metadata = { ...fresh.metadata, namespace };
      delete fresh.metadata.resourceVersion;
      if (info.status) delete fresh.status;
      sendObject(res, 201, resource, this.apply(resource, fresh));
      return;
    }
    const key = keyOf(resource, namespace, name ?? "");
    const current = this.objects.get(key);
    if (!current) {
      notFound(res, resource, name ?? "");
      return;
    }
    let next: KubeObject;
    if (method === "PUT") {
      const given = body?.metadata?.resourceVersion;
      if (given !== undefined && given !== current.metadata.resourceVersion) {
        status(
          res,
          409,
          "Conflict",
          `Operation cannot be fulfilled on ${qualified} "${name}": the object has been modified; please apply your changes to the latest version and try again`,
          { name: name ?? "", group: info.group, kind: resource },
        );
        return;
      }
      next = structuredClone(body);
    } else {
      const patched = applyPatch(current, body, contentType);
      if (typeof patched === "string") {
        status(res, 415, "UnsupportedMediaType", patched);
        return;
      }
      next = patched;
    }
    // Identity and server-owned fields are the stored ones, whatever the request said.
    next.metadata = {
      ...next.metadata,
      name: current.metadata.name,
      namespace: current.metadata.namespace,
    };
    if (info.status) {
      if (sub === "status") next = { ...structuredClone(current), status: next.status };
      else next.status = structuredClone(current.status);
      if (next.status === undefined) delete next.status;
    }
    sendObject(res, 200, resource, this.apply(resource, next));
  }

  private list(resource: ResourceName, namespace: string | null, res: ServerResponse): void {
    const { apiVersion, kind } = RESOURCES[resource];
    const prefix = namespace === null ? `${resource}/` : `${resource}/${namespace}/`;
    const items = [...this.objects.entries()]
      .filter(([k]) => k.startsWith(prefix))
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
    namespace: string | null,
    query: Record<string, string>,
    res: ServerResponse,
    authorization?: string,
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
      authorization,
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
    const inScope = (ns: string) => namespace === null || ns === namespace;
    if (fromRv === null) {
      for (const [k, o] of this.objects) {
        if (k.startsWith(`${resource}/`) && inScope(o.metadata.namespace))
          this.sendEvent(w, "ADDED", o);
      }
    } else {
      for (const e of this.history) {
        if (e.rv > fromRv && e.resource === resource && inScope(e.namespace))
          this.sendEvent(w, e.type, e.object);
      }
    }
  }

  private sendEvent(w: WatchStream, type: string, object: KubeObject): void {
    const { apiVersion, kind } = RESOURCES[w.resource];
    const line = `${JSON.stringify({ type, object: { kind, apiVersion, ...object } })}\n`;
    const held = this.lagging.get(w.authorization ?? "");
    if (held) held.push({ w, line });
    else w.res.write(line);
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

function sameJson(a: unknown, b: unknown): boolean {
  return JSON.stringify(a) === JSON.stringify(b);
}

/** What metadata.generation follows: everything but metadata and status. */
function bodyOf(o: KubeObject): unknown {
  const { metadata: _m, status: _s, kind: _k, apiVersion: _a, ...rest } = o;
  return rest;
}

function sendObject(res: ServerResponse, code: number, resource: ResourceName, o: KubeObject) {
  const { apiVersion, kind } = RESOURCES[resource];
  const { namespace, ...metadata } = o.metadata;
  const body = JSON.stringify({
    kind,
    apiVersion,
    ...o,
    metadata: namespace === "" ? metadata : o.metadata,
  });
  res.writeHead(code, {
    "content-type": "application/json",
    "content-length": Buffer.byteLength(body),
  });
  res.end(body);
}

function notFound(res: ServerResponse, resource: ResourceName, name: string): void {
  const { group } = RESOURCES[resource];
  const qualified = group === "" ? resource : `${resource}.${group}`;
  status(res, 404, "NotFound", `${qualified} "${name}" not found`, {
    name,
    group,
    kind: resource,
  });
}

/** A PATCH body applied to a copy of `current`, or why the content type is refused. */
function applyPatch(current: KubeObject, patch: unknown, contentType: string): KubeObject | string {
  if (contentType === "application/merge-patch+json")
    return mergePatch(structuredClone(current), patch) as KubeObject;
  if (contentType === "application/json-patch+json" && Array.isArray(patch)) {
    const doc = structuredClone(current) as Record<string, unknown>;
    for (const op of patch as { op: string; path: string; value?: unknown }[]) {
      const keys = op.path
        .split("/")
        .slice(1)
        .map((k) => k.replace(/~1/g, "/").replace(/~0/g, "~"));
      const last = keys.pop() ?? "";
      let at = doc as Record<string, unknown>;
      for (const k of keys) at = at[k] as Record<string, unknown>;
      if (op.op === "remove") delete at[last];
      else if (op.op === "add" || op.op === "replace") at[last] = op.value;
      else return `json-patch op ${op.op} is not supported by this fake server`;
    }
    return doc as KubeObject;
  }
  return `the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json (got ${JSON.stringify(contentType)})`;
}

/** RFC 7386 JSON merge patch. */
export function mergePatch(target: unknown, patch: unknown): unknown {
  if (typeof patch !== "object" || patch === null || Array.isArray(patch)) return patch;
  const out: Record<string, unknown> =
    typeof target === "object" && target !== null && !Array.isArray(target)
      ? { ...(target as Record<string, unknown>) }
      : {};
  for (const [k, v] of Object.entries(patch)) {
    if (v === null) delete out[k];
    else out[k] = mergePatch(out[k], v);
  }
  return out;
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
