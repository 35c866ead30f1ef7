// Test helper: a fake Nacos server speaking the part of the Nacos 1.x/2.x naming HTTP OpenAPI v1 that the official `nacos` npm client (nacos-naming 2.6) uses — POST/PUT/DELETE /nacos/v1/ns/instance, PUT /nacos/v1/ns/instance/beat, GET /nacos/v1/ns/instance/list, GET /nacos/v1/ns/service/list, GET /nacos/v1/ns/operator/metrics — plus its UDP push ("dom" packets, gzip from 1 KiB, "push-ack" answers), and leaving out auth and signatures, the 2.x gRPC API, the config service, selectors, health checks of persistent instances, push retries and cluster replication; no assertions here.
import { createSocket, type Socket } from "node:dgram";
import { createServer, type IncomingMessage, type Server, type ServerResponse } from "node:http";
import { isIP } from "node:net";
import { gzipSync } from "node:zlib";

/*
 * Faithful on purpose, because the resolver under test meets these in production:
 * - service names travel grouped (`GROUP@@name`); a list answer echoes `name` and `clusters` as
 *   asked (the client keys its cache on them and ignores an answer that does not match);
 * - a disabled instance (`enabled=false`) is left out of the instance list, as both 1.x
 *   (`doSrvIpxt`) and 2.x (`selectInstancesWithHealthyProtection(…, enableOnly = true)`) do;
 * - protect threshold (default 0): when no listed instance is healthy, all are returned healthy;
 * - an unknown service answers 200 with no hosts, and the push client is still remembered;
 * - push: a list request with `udpPort` > 0 from a push-capable client (User-Agent
 *   `Nacos-Java-Client:vX`, which the Node client claims to be) registers `clientIP:udpPort`; a
 *   change is pushed `pushDelayMs` later (2.x: 500 ms, 1.x: 1 s) to every client that asked within
 *   `cacheMillis` (older ones are zombies, dropped); the answer to such a list carries
 *   `cacheMillis` (10 s: the client polls that often), a pushed body `defaultCacheMillis` (3 s);
 * - a beat for an unknown ephemeral instance re-registers it from the beat ("data compensation");
 *   an ephemeral instance without beats turns unhealthy after 15 s and is removed after 30 s.
 * Deviation: the push goes to the request's source address when `clientIP` is not an IP.
 */

const DEFAULT_GROUP = "DEFAULT_GROUP";
const DEFAULT_CLUSTER = "DEFAULT";
const PUBLIC = "public";
const MAX_WEIGHT = 10_000;
const COMPRESS_FROM = 1024;

export interface FakeInstance {
  ip: string;
  port: number;
  clusterName: string;
  weight: number;
  healthy: boolean;
  enabled: boolean;
  ephemeral: boolean;
  metadata: Record<string, string>;
  /** Date.now() of the last beat (or registration). */
  lastBeat: number;
}

/** Where a service lives; namespace "" and "public" are the same. */
export interface ServiceRef {
  namespace?: string;
  group?: string;
  service: string;
}

export interface FakeNacosOptions {
  host?: string;
  port?: number;
  pushDelayMs?: number;
  /** cacheMillis of a list answer to a push client; also its zombie age (Nacos: 10 s). */
  cacheMillis?: number;
  /** cacheMillis of other answers and of pushed bodies (Nacos: 3 s). */
  defaultCacheMillis?: number;
  clientBeatIntervalMs?: number;
  beatTimeoutMs?: number;
  deleteTimeoutMs?: number;
  checkIntervalMs?: number;
}

interface Service {
  name: string;
  protectThreshold: number;
  instances: Map<string, FakeInstance>;
}

interface PushClient {
  address: string;
  port: number;
  clusters: string;
  lastRef: number;
}

class BadRequest extends Error {}

type Params = Map<string, string>;

/** One in-memory Nacos naming server; `stop()`/`restart()` simulate an outage keeping the state. */
export class FakeNacos {
  /** Requests received, as `METHOD /path`, in order (for assertions on the client's behaviour). */
  readonly requests: string[] = [];
  /** Push packets sent and `push-ack` answers received. */
  pushesSent = 0;
  pushAcks = 0;
  private readonly namespaces = new Map<string, Map<string, Service>>();
  private readonly pushClients = new Map<string, Map<string, PushClient>>();
  private readonly pushTimers = new Map<string, NodeJS.Timeout>();
  private readonly opts: Required<Omit<FakeNacosOptions, "port">>;
  private http: Server | undefined;
  private udp: Socket | undefined;
  private checker: NodeJS.Timeout | undefined;
  private boundPort = 0;

  private constructor(opts: FakeNacosOptions) {
    this.opts = {
      host: opts.host ?? "127.0.0.1",
      pushDelayMs: opts.pushDelayMs ?? 500,
      cacheMillis: opts.cacheMillis ?? 10_000,
      defaultCacheMillis: opts.defaultCacheMillis ?? 3_000,
      clientBeatIntervalMs: opts.clientBeatIntervalMs ?? 5_000,
      beatTimeoutMs: opts.beatTimeoutMs ?? 15_000,
      deleteTimeoutMs: opts.deleteTimeoutMs ?? 30_000,
      checkIntervalMs: opts.checkIntervalMs ?? 5_000,
    };
  }

  static async start(opts: FakeNacosOptions = {}): Promise<FakeNacos> {
    const server = new FakeNacos(opts);
    await server.listen(opts.port ?? 0);
    return server;
  }

  get port(): number {
    return this.boundPort;
  }

  /** `host:port`, as the client's serverList and our nacos:// URL take it. */
  get addr(): string {
    return `${this.opts.host}:${this.boundPort}`;
  }

  /** Pushes scheduled and not sent yet (each is a pending timer). */
  get pendingPushes(): number {
    return this.pushTimers.size;
  }

  get running(): boolean {
    return this.http !== undefined;
  }

  /** Close the listeners (an outage). State is kept; push clients are forgotten, as on a crash. */
  async stop(): Promise<void> {
    const http = this.http;
    const udp = this.udp;
    this.http = undefined;
    this.udp = undefined;
    clearInterval(this.checker);
    this.checker = undefined;
    for (const t of this.pushTimers.values()) clearTimeout(t);
    this.pushTimers.clear();
    this.pushClients.clear();
    if (udp) await new Promise<void>((resolve) => udp.close(() => resolve()));
    if (http) {
      await new Promise<void>((resolve) => {
        http.close(() => resolve());
        http.closeAllConnections();
      });
    }
  }

  /** Listen again on the same port with the state of before `stop()`. */
  restart(): Promise<void> {
    return this.listen(this.boundPort);
  }

  close(): Promise<void> {
    return this.stop();
  }

  // ---- state, as the test sets it (the HTTP handlers below use the same methods) ----

  /** Add or replace an instance. Default: persistent (no beats needed), weight 1, healthy, enabled. */
  putInstance(
    ref: ServiceRef,
    inst: Partial<Omit<FakeInstance, "lastBeat">> & { ip: string; port: number },
  ): void {
    const svc = this.service(ref, true) as Service;
    const full: FakeInstance = {
      clusterName: DEFAULT_CLUSTER,
      weight: 1,
      healthy: true,
      enabled: true,
      ephemeral: false,
      metadata: {},
      ...inst,
      lastBeat: Date.now(),
    };
    svc.instances.set(instanceKey(full.clusterName, full.ip, full.port), full);
    this.changed(ref);
  }

  /** Change fields of an existing instance (the console's edit); false when there is none. */
  updateInstance(
    ref: ServiceRef,
    ip: string,
    port: number,
    patch: Partial<Omit<FakeInstance, "ip" | "port" | "clusterName" | "lastBeat">>,
    clusterName = DEFAULT_CLUSTER,
  ): boolean {
    const inst = this.service(ref, false)?.instances.get(instanceKey(clusterName, ip, port));
    if (!inst) return false;
    Object.assign(inst, patch);
    this.changed(ref);
    return true;
  }

  removeInstance(
    ref: ServiceRef,
    ip: string,
    port: number,
    clusterName = DEFAULT_CLUSTER,
  ): boolean {
    const removed =
      this.service(ref, false)?.instances.delete(instanceKey(clusterName, ip, port)) ?? false;
    if (removed) this.changed(ref);
    return removed;
  }

  /** Drop a whole service (Nacos cleans empty services up after a while). */
  removeService(ref: ServiceRef): boolean {
    const removed = this.namespaces.get(nsId(ref.namespace))?.delete(grouped(ref)) ?? false;
    if (removed) this.changed(ref);
    return removed;
  }

  /** Copies of the instances of a service, disabled ones included. */
  instances(ref: ServiceRef): FakeInstance[] {
    return [...(this.service(ref, false)?.instances.values() ?? [])].map((i) => ({
      ...i,
      metadata: { ...i.metadata },
    }));
  }

  /** How many beats reached `ip:port` (any service). */
  beatsFrom(ip: string, port: number): number {
    return this.beats.get(`${ip}:${port}`) ?? 0;
  }

  private readonly beats = new Map<string, number>();

  // ---- listeners ----

  private async listen(port: number): Promise<void> {
    const http = createServer((req, res) => this.onRequest(req, res));
    await new Promise<void>((resolve, reject) => {
      http.once("error", reject);
      http.listen(port, this.opts.host, () => resolve());
    });
    const address = http.address();
    this.boundPort = typeof address === "object" && address ? address.port : port;
    const udp = createSocket("udp4");
    udp.on("message", (msg) => this.onAck(msg));
    udp.on("error", () => {});
    await new Promise<void>((resolve) => udp.bind(0, this.opts.host, () => resolve()));
    this.http = http;
    this.udp = udp;
    this.checker = setInterval(() => this.checkBeats(), this.opts.checkIntervalMs);
    this.checker.unref();
  }

  private onRequest(req: IncomingMessage, res: ServerResponse): void {
    const chunks: Buffer[] = [];
    req.on("data", (c: Buffer) => chunks.push(c));
    req.on("end", () => {
      const url = new URL(req.url ?? "/", "http://nacos");
      const params: Params = new Map(url.searchParams);
      // Nacos reads request.getParameter(): the query string and a form body alike.
      if (String(req.headers["content-type"] ?? "").includes("application/x-www-form-urlencoded")) {
        for (const [k, v] of new URLSearchParams(Buffer.concat(chunks).toString()))
          params.set(k, v);
      }
      const method = req.method ?? "GET";
      this.requests.push(`${method} ${url.pathname}`);
      let status = 200;
      let body: string;
      try {
        body = this.route(method, url.pathname, params, req);
      } catch (err) {
        status = err instanceof BadRequest ? 400 : 500;
        body = `caused: ${(err as Error).message};`;
      }
      if (body === "") status = 404;
      res.writeHead(status, {
        "content-type": body.startsWith("{") ? "application/json" : "text/plain",
      });
      res.end(body === "" ? "not found" : body);
    });
  }

  private route(method: string, path: string, p: Params, req: IncomingMessage): string {
    switch (`${method} ${path}`) {
      case "GET /nacos/v1/ns/instance/list":
        return this.list(p, req);
      case "POST /nacos/v1/ns/instance":
        return this.register(p);
      case "PUT /nacos/v1/ns/instance":
        return this.update(p);
      case "DELETE /nacos/v1/ns/instance":
        return this.deregister(p);
      case "PUT /nacos/v1/ns/instance/beat":
        return this.beat(p);
      case "GET /nacos/v1/ns/service/list":
        return this.serviceList(p);
      case "GET /nacos/v1/ns/operator/metrics":
        return this.metrics();
      default:
        return "";
    }
  }

  private list(p: Params, req: IncomingMessage): string {
    const ref = refOf(p);
    const clusters = p.get("clusters") ?? "";
    const udpPort = Number(p.get("udpPort") ?? "0");
    let cacheMillis = this.opts.defaultCacheMillis;
    if (udpPort > 0 && pushCapable(String(req.headers["user-agent"] ?? ""))) {
      const clientIP = p.get("clientIP") ?? "";
      const address = isIP(clientIP) === 4 ? clientIP : (req.socket.remoteAddress ?? "127.0.0.1");
      const key = pushKey(ref);
      let clients = this.pushClients.get(key);
      if (!clients) {
        clients = new Map();
        this.pushClients.set(key, clients);
      }
      clients.set(`${address}:${udpPort}:${clusters}`, {
        address: address.replace(/^::ffff:/, ""),
        port: udpPort,
        clusters,
        lastRef: Date.now(),
      });
      cacheMillis = this.opts.cacheMillis;
    }
    return JSON.stringify(
      this.serviceJson(
        ref,
        p.get("serviceName") as string,
        clusters,
        cacheMillis,
        p.get("healthyOnly") === "true",
      ),
    );
  }

  /** The list answer, 2.x field set (1.x adds `dom` and per-host `valid`/`marked`, kept here too). */
  private serviceJson(
    ref: ServiceRef,
    name: string,
    clusters: string,
    cacheMillis: number,
    healthyOnly: boolean,
  ): Record<string, unknown> {
    const svc = this.service(ref, false);
    const groupedName = grouped(ref);
    if (!svc) return { name, dom: name, clusters, cacheMillis, hosts: [] };
    const wanted = clusters.split(",").filter((c) => c !== "");
    let listed = [...svc.instances.values()].filter(
      (i) => i.enabled && (wanted.length === 0 || wanted.includes(i.clusterName)),
    );
    const healthyCount = listed.filter((i) => i.healthy).length;
    const protect = listed.length > 0 && healthyCount / listed.length <= svc.protectThreshold;
    if (healthyOnly && !protect) listed = listed.filter((i) => i.healthy);
    const hosts = listed.map((i) => {
      const healthy = protect || i.healthy;
      return {
        instanceId: `${i.ip}#${i.port}#${i.clusterName}#${groupedName}`,
        ip: i.ip,
        port: i.port,
        weight: i.weight,
        healthy,
        valid: healthy,
        marked: false,
        enabled: i.enabled,
        ephemeral: i.ephemeral,
        clusterName: i.clusterName,
        serviceName: groupedName,
        metadata: i.metadata,
        instanceHeartBeatInterval: this.opts.clientBeatIntervalMs,
        instanceHeartBeatTimeOut: this.opts.beatTimeoutMs,
        ipDeleteTimeout: this.opts.deleteTimeoutMs,
        instanceIdGenerator: "simple",
      };
    });
    return {
      name,
      dom: name,
      groupName: ref.group ?? DEFAULT_GROUP,
      clusters,
      cacheMillis,
      hosts,
      lastRefTime: Date.now(),
      checksum: "",
      allIPs: false,
      reachProtectionThreshold: protect,
      valid: true,
    };
  }

  private register(p: Params): string {
    const ref = refOf(p);
    this.putInstance(ref, { ...instanceOf(p), ephemeral: bool(p.get("ephemeral"), true) });
    return "ok";
  }

  /** PUT /instance replaces the instance's fields (Nacos 1.x parses a whole instance, defaults included). */
  private update(p: Params): string {
    const ref = refOf(p);
    const inst = instanceOf(p);
    const old = this.service(ref, false)?.instances.get(
      instanceKey(inst.clusterName, inst.ip, inst.port),
    );
    if (!old) throw new BadRequest(`instance not exist: ${inst.ip}:${inst.port}`);
    this.putInstance(ref, { ...inst, ephemeral: old.ephemeral });
    return "ok";
  }

  private deregister(p: Params): string {
    const ref = refOf(p);
    const ip = required(p, "ip");
    this.removeInstance(ref, ip, port(p.get("port")), p.get("clusterName") || DEFAULT_CLUSTER);
    return "ok";
  }

  private beat(p: Params): string {
    const ref = refOf(p);
    const raw = p.get("beat");
    const beat = raw ? (JSON.parse(raw) as Record<string, unknown>) : undefined;
    const ip = String(beat?.ip ?? p.get("ip") ?? "");
    const portNo = port(String(beat?.port ?? p.get("port") ?? ""));
    const cluster = String(beat?.cluster || p.get("clusterName") || DEFAULT_CLUSTER);
    this.beats.set(`${ip}:${portNo}`, (this.beats.get(`${ip}:${portNo}`) ?? 0) + 1);
    const answer = {
      clientBeatInterval: this.opts.clientBeatIntervalMs,
      code: 10200,
      lightBeatEnabled: true,
    };
    const inst = this.service(ref, false)?.instances.get(instanceKey(cluster, ip, portNo));
    if (!inst) {
      if (!beat) return JSON.stringify({ ...answer, code: 20404 });
      // Nacos: "The instance has been removed for health mechanism, perform data compensation".
      this.putInstance(ref, {
        ip,
        port: portNo,
        clusterName: cluster,
        weight: Number(beat.weight ?? 1),
        metadata: stringRecord(beat.metadata),
        ephemeral: true,
      });
      return JSON.stringify(answer);
    }
    inst.lastBeat = Date.now();
    if (!inst.healthy && inst.ephemeral) {
      inst.healthy = true;
      this.changed(ref);
    }
    return JSON.stringify(answer);
  }

  private serviceList(p: Params): string {
    const pageNo = Number(required(p, "pageNo"));
    const pageSize = Number(required(p, "pageSize"));
    const group = p.get("groupName") || DEFAULT_GROUP;
    const prefix = `${group}@@`;
    const names = [...(this.namespaces.get(nsId(p.get("namespaceId"))) ?? new Map()).keys()]
      .filter((n) => n.startsWith(prefix))
      .map((n) => n.slice(prefix.length))
      .sort();
    const start = Math.max(0, (pageNo - 1) * pageSize);
    return JSON.stringify({ count: names.length, doms: names.slice(start, start + pageSize) });
  }

  private metrics(): string {
    let services = 0;
    let instances = 0;
    for (const ns of this.namespaces.values()) {
      services += ns.size;
      for (const s of ns.values()) instances += s.instances.size;
    }
    return JSON.stringify({
      status: "UP",
      serviceCount: services,
      instanceCount: instances,
      responsibleServiceCount: services,
      responsibleInstanceCount: instances,
      load: 0,
      cpu: 0,
      mem: 0,
    });
  }

  // ---- push ----

  /** A service changed: push it once, `pushDelayMs` later (changes in between merge). */
  private changed(ref: ServiceRef): void {
    const key = pushKey(ref);
    if (!this.udp || this.pushTimers.has(key)) return;
    const timer = setTimeout(() => {
      this.pushTimers.delete(key);
      this.push(ref);
    }, this.opts.pushDelayMs);
    this.pushTimers.set(key, timer);
  }

  private push(ref: ServiceRef): void {
    const udp = this.udp;
    const clients = this.pushClients.get(pushKey(ref));
    if (!udp || !clients) return;
    const name = grouped(ref);
    for (const [id, c] of clients) {
      if (Date.now() - c.lastRef > this.opts.cacheMillis) {
        clients.delete(id); // a zombie: it stopped asking
        continue;
      }
      const data = JSON.stringify(
        this.serviceJson(ref, name, c.clusters, this.opts.defaultCacheMillis, false),
      );
      const packet = Buffer.from(
        JSON.stringify({ type: "dom", data, lastRefTime: Number(process.hrtime.bigint()) }),
      );
      udp.send(packet.length < COMPRESS_FROM ? packet : gzipSync(packet), c.port, c.address);
      this.pushesSent++;
    }
  }

  private onAck(msg: Buffer): void {
    try {
      const ack = JSON.parse(msg.toString()) as { type?: string };
      if (ack.type === "push-ack") this.pushAcks++;
    } catch {
      // not an ack: ignored, as Nacos does
    }
  }

  private checkBeats(): void {
    const now = Date.now();
    for (const [ns, services] of this.namespaces) {
      for (const svc of services.values()) {
        const [group, service] = svc.name.split("@@") as [string, string];
        const ref = { namespace: ns, group, service };
        for (const [key, i] of svc.instances) {
          if (!i.ephemeral) continue;
          if (now - i.lastBeat > this.opts.deleteTimeoutMs) {
            svc.instances.delete(key);
            this.changed(ref);
          } else if (i.healthy && now - i.lastBeat > this.opts.beatTimeoutMs) {
            i.healthy = false;
            this.changed(ref);
          }
        }
      }
    }
  }

  private service(ref: ServiceRef, create: boolean): Service | undefined {
    const id = nsId(ref.namespace);
    let ns = this.namespaces.get(id);
    if (!ns) {
      if (!create) return undefined;
      ns = new Map();
      this.namespaces.set(id, ns);
    }
    const name = grouped(ref);
    let svc = ns.get(name);
    if (!svc && create) {
      svc = { name, protectThreshold: 0, instances: new Map() };
      ns.set(name, svc);
    }
    return svc;
  }
}

function nsId(namespace: string | undefined): string {
  return namespace === undefined || namespace === "" ? PUBLIC : namespace;
}

function grouped(ref: ServiceRef): string {
  return `${ref.group || DEFAULT_GROUP}@@${ref.service}`;
}

function pushKey(ref: ServiceRef): string {
  return `${nsId(ref.namespace)}##${grouped(ref)}`;
}

function instanceKey(cluster: string, ip: string, port: number): string {
  return `${cluster}#${ip}#${port}`;
}

/** namespaceId, serviceName (`GROUP@@name`, or bare with groupName) of a request. */
function refOf(p: Params): ServiceRef {
  const serviceName = required(p, "serviceName");
  const at = serviceName.indexOf("@@");
  if (at >= 0) {
    return {
      namespace: nsId(p.get("namespaceId")),
      group: serviceName.slice(0, at),
      service: serviceName.slice(at + 2),
    };
  }
  return {
    namespace: nsId(p.get("namespaceId")),
    group: p.get("groupName") || DEFAULT_GROUP,
    service: serviceName,
  };
}

function required(p: Params, name: string): string {
  const v = p.get(name);
  if (v === undefined || v === "") throw new BadRequest(`Param '${name}' is required.`);
  return v;
}

function port(v: string | undefined): number {
  const n = Number(v);
  if (!Number.isInteger(n) || n < 0 || n > 65535) throw new BadRequest(`illegal port: ${v}`);
  return n;
}

function bool(v: string | undefined, dflt: boolean): boolean {
  return v === undefined || v === "" ? dflt : v.toLowerCase() === "true";
}

/** The instance fields of a register/update request, with Nacos's defaults. */
function instanceOf(p: Params): Omit<FakeInstance, "lastBeat" | "ephemeral"> {
  const weight = Number(p.get("weight") || "1");
  if (!Number.isFinite(weight) || weight < 0 || weight > MAX_WEIGHT) {
    throw new BadRequest(`instance format invalid: The weights range from 0 to ${MAX_WEIGHT}`);
  }
  return {
    ip: required(p, "ip"),
    port: port(p.get("port")),
    clusterName: p.get("clusterName") || DEFAULT_CLUSTER,
    weight,
    healthy: bool(p.get("healthy"), true),
    // 1.x reads `enabled`, and `enable` (what the Node client sends) when it is absent.
    enabled: bool(p.get("enabled") ?? p.get("enable"), true),
    metadata: parseMetadata(p.get("metadata")),
  };
}

/** Metadata as Nacos takes it: JSON, or `k=v,k2=v2`. */
function parseMetadata(v: string | undefined): Record<string, string> {
  if (v === undefined || v === "") return {};
  try {
    return stringRecord(JSON.parse(v));
  } catch {
    const out: Record<string, string> = {};
    for (const pair of v.split(",")) {
      const eq = pair.indexOf("=");
      if (eq <= 0) throw new BadRequest(`metadata format incorrect: ${v}`);
      out[pair.slice(0, eq)] = pair.slice(eq + 1);
    }
    return out;
  }
}

function stringRecord(v: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (v && typeof v === "object") {
    for (const [k, x] of Object.entries(v)) out[k] = String(x);
  }
  return out;
}

/** PushService.canEnablePush: Java ≥ 0.1.0 (the Node client says `Nacos-Java-Client:v1.0.0`), Go, C, C#. */
function pushCapable(agent: string): boolean {
  return /^Nacos-(Java|Go|C|CSharp)-Client:v\d/.test(agent);
}
