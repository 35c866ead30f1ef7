// Nacos discovery (`--discovery nacos://…`): follows the instances of Nacos services through the official `nacos` client and emits whole endpoint sets; it never picks or routes.

import { TAG_METADATA_KEYS } from "../../config/lane-tag.js";
import type { Endpoint } from "../../config/types.js";
import { logger as componentLogger, type Logger } from "../../telemetry/logger.js";
import { DISCOVERY_UNAVAILABLE, EndpointFeed } from "../feed.js";
import type { Resolver, ResolverError } from "../types.js";
import { type Listener, type NamingClient, openClient, type RegisteredInstance } from "./client.js";
import { type NacosHost, nacosEndpoint, stripGroup } from "./instances.js";
import type { NacosTarget } from "./target.js";

/*
 * How the official client (nacos-naming 2.6, HTTP OpenAPI v1) delivers changes, and what we add:
 * - `subscribe` asks GET /nacos/v1/ns/instance/list with its UDP port; the server then pushes every
 *   change of the service (about 0.5-1 s after it) and the client also re-polls every
 *   `cacheMillis` (10 s on a stock server). Both only ever report a NON-EMPTY list: the client
 *   drops an empty answer (ServiceInfo.isValid), so a service that loses its last instance, or
 *   that has none yet, is never reported to a listener, and its failures are swallowed.
 * - So a sweep every `refreshMs` reads each followed service directly (the client's own
 *   `queryList`, same HTTP layer and auth) and, without `services=`, the service list: it gives
 *   every service its first answer (empty ones too), catches a service becoming empty, and is the
 *   one place that decides "Nacos is unreachable" (once per outage) and "it is back".
 * - Answers from the two paths are ordered by the server's `lastRefTime`, newest wins.
 * - Only the DEFAULT cluster is followed: the client's subscribe cannot follow "all clusters".
 */

const CLUSTER = "DEFAULT";
const TAG_KEY = TAG_METADATA_KEYS[0];
const LIST_PAGE_SIZE = 500;
const MAX_LIST_PAGES = 100;
const SWEEP_CONCURRENCY = 8;

export const NACOS_UNSUPPORTED = "LANEMESH_DISCOVERY_UNSUPPORTED";

interface Followed {
  readonly service: string;
  readonly listener: Listener;
  /** Undefined until the service's first answer. `at`: the server's lastRefTime of it. */
  answer: { at: number; endpoints: Endpoint[] } | undefined;
}

/** A coded error crossing the module boundary. */
export class NacosError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "NacosError";
  }
}

/**
 * Endpoints of Nacos services (`services=`, else every service of the namespace+group, re-listed
 * every `refreshMs`). The first set is emitted once every followed service has answered; later
 * ones on any change (bursts coalesced over 20 ms) and once after the server comes back. While
 * Nacos is unreachable the last set stays and `onError` reports LANEMESH_DISCOVERY_UNAVAILABLE
 * once per outage. A set that would be empty after a non-empty one is held (logged): a whole
 * mesh vanishing at once is a registry restart or glitch far more often than a real decommission.
 */
export class NacosResolver implements Resolver {
  readonly source: string;
  private readonly log: Logger;
  private readonly refreshMs: number;
  private client: NamingClient | undefined;
  private clientReady: Promise<NamingClient> | undefined;
  private readonly out: EndpointFeed;
  private readonly followed = new Map<string, Followed>();
  /** True once the set of services is known (given, or listed once). */
  private listed: boolean;
  private sweepTimer: NodeJS.Timeout | undefined;
  private self: { service: string; ip: string; port: number } | undefined;
  private started = false;
  private closed = false;
  private closing: Promise<void> | undefined;

  constructor(
    private readonly target: NacosTarget,
    opts: { log?: Logger; refreshMs?: number } = {},
  ) {
    const q = new URLSearchParams();
    if (target.namespace !== "") q.set("namespace", target.namespace);
    q.set("group", target.group);
    if (target.services !== null) q.set("services", target.services.join(","));
    this.source = `nacos://${target.serverAddr}?${q.toString().replaceAll("%2C", ",")}`;
    this.log = (opts.log ?? componentLogger("nacos")).child({ source: this.source });
    this.refreshMs = Math.max(50, opts.refreshMs ?? 10_000);
    this.listed = target.services !== null;
    this.out = new EndpointFeed({
      log: this.log,
      holdEmpty: true,
      collect: () => this.collect(),
    });
  }

  start(onEndpoints: (endpoints: Endpoint[]) => void, onError: (err: ResolverError) => void): void {
    if (this.started || this.closed)
      throw new Error("NacosResolver.start called twice or after close");
    this.started = true;
    this.out.connect(onEndpoints, onError);
    void this.boot();
  }

  /**
   * Register this sidecar's instance (ephemeral: heartbeats every 5 s keep it; deregistered by
   * close()). If Nacos does not answer, this rejects with LANEMESH_DISCOVERY_UNAVAILABLE, but the
   * heartbeats go on and re-create the instance once it answers (Nacos registers an unknown
   * instance from its beat). No-op when the target says register=false.
   */
  async register(self: {
    service: string;
    address: string;
    port: number;
    tag: string | null;
  }): Promise<void> {
    if (!this.target.register) return;
    if (this.closed) throw new Error("NacosResolver.register called after close");
    const client = await this.ready();
    if (this.self && (this.self.ip !== self.address || this.self.port !== self.port)) {
      throw new Error("NacosResolver.register: this sidecar's instance is already registered");
    }
    const instance: RegisteredInstance = {
      ip: self.address,
      port: self.port,
      weight: 1,
      healthy: true,
      enabled: true,
      ephemeral: true,
      metadata: self.tag === null ? {} : { [TAG_KEY]: self.tag },
    };
    this.self = { service: self.service, ip: self.address, port: self.port };
    try {
      await client.registerInstance(self.service, instance, this.target.group);
      this.log.info(
        { service: self.service, address: `${self.address}:${self.port}`, tag: self.tag },
        "registered in Nacos",
      );
    } catch (err) {
      throw new NacosError(
        DISCOVERY_UNAVAILABLE,
        `${this.source}: could not register ${self.service} ${self.address}:${self.port} (${errText(err)}); heartbeats will register it when Nacos answers`,
      );
    }
  }

  close(): Promise<void> {
    if (!this.closing) {
      this.closed = true;
      this.closing = this.shutdown();
    }
    return this.closing;
  }

  private async shutdown(): Promise<void> {
    this.out.close();
    clearTimeout(this.sweepTimer);
    const client = this.client;
    if (!client) return;
    if (this.self) {
      const { service, ip, port } = this.self;
      try {
        await client.deregisterInstance(service, { ip, port, ephemeral: true }, this.target.group);
      } catch (err) {
        this.log.warn(
          { service, address: `${ip}:${port}` },
          "could not deregister from Nacos (%s); it expires without heartbeats",
          errText(err),
        );
      }
    }
    for (const f of this.followed.values())
      client.unSubscribe(this.subscription(f.service), f.listener);
    this.followed.clear();
    await client.close();
  }

  /** The client, built once and ready (its UDP push port bound). */
  private ready(): Promise<NamingClient> {
    if (!this.clientReady) {
      this.clientReady = (async () => {
        const client = openClient(this.target, this.log);
        this.client = client;
        await client.ready();
        return client;
      })();
    }
    return this.clientReady;
  }

  private async boot(): Promise<void> {
    let client: NamingClient;
    try {
      client = await this.ready();
    } catch (err) {
      if (this.closed) return;
      this.out.report(NACOS_UNSUPPORTED, `${this.source}: ${errText(err)}`, "error");
      return;
    }
    if (this.closed) return;
    for (const s of this.target.services ?? []) this.follow(client, s);
    await this.sweep(client);
  }

  private subscription(service: string) {
    return { serviceName: service, groupName: this.target.group, clusters: CLUSTER };
  }

  private follow(client: NamingClient, service: string): void {
    const f: Followed = {
      service,
      answer: undefined,
      // The client calls back with (hosts, serviceInfo) on a change, and with hosts alone when a
      // subscription replays its cache: that replay may be stale, the sweep answers instead.
      listener: (hosts, info) => {
        if (info === undefined || this.closed || this.followed.get(service) !== f) return;
        this.answer(f, info.hosts ?? hosts, info.lastRefTime ?? 0);
      },
    };
    this.followed.set(service, f);
    client.subscribe(this.subscription(service), f.listener);
  }

  private unfollow(client: NamingClient, service: string): void {
    const f = this.followed.get(service);
    if (!f) return;
    this.followed.delete(service);
    // The client has no way to stop polling a service once asked; it only drops our listener.
    client.unSubscribe(this.subscription(service), f.listener);
  }

  /** Re-list (without services=), read every followed service directly, judge reachability. */
  private async sweep(client: NamingClient): Promise<void> {
    try {
      if (this.target.services === null) {
        const names = await this.listServices(client);
        if (this.closed) return;
        const wanted = new Set(names);
        for (const s of [...this.followed.keys()]) if (!wanted.has(s)) this.unfollow(client, s);
        for (const s of names) if (!this.followed.has(s)) this.follow(client, s);
        this.listed = true;
        this.out.changed();
      }
      await inParallel([...this.followed.values()], SWEEP_CONCURRENCY, async (f) => {
        const raw = await client._serverProxy.queryList(this.grouped(f.service), CLUSTER, 0, false);
        if (this.closed || this.followed.get(f.service) !== f) return;
        const info = (raw === "" ? {} : JSON.parse(raw)) as {
          hosts?: NacosHost[];
          lastRefTime?: number;
        };
        this.answer(f, info.hosts ?? [], info.lastRefTime ?? 0);
      });
      if (!this.closed) this.reachable();
    } catch (err) {
      if (!this.closed) this.unreachable(err);
    }
    if (!this.closed) this.sweepTimer = setTimeout(() => void this.sweep(client), this.refreshMs);
  }

  private async listServices(client: NamingClient): Promise<string[]> {
    const names: string[] = [];
    for (let page = 1; page <= MAX_LIST_PAGES; page++) {
      const { count, data = [] } = await client._serverProxy.getServiceList(
        page,
        LIST_PAGE_SIZE,
        this.target.group,
      );
      names.push(...data);
      if (data.length < LIST_PAGE_SIZE || names.length >= count) break;
    }
    return [...new Set(names.map(stripGroup))];
  }

  private grouped(service: string): string {
    return `${this.target.group}@@${service}`;
  }

  /** One answer for one service, from a push, the client's poll, or the sweep. */
  private answer(f: Followed, hosts: NacosHost[], lastRefTime: number): void {
    // An unknown service's answer carries no lastRefTime: it is taken, and keeps the order mark.
    if (f.answer && lastRefTime > 0 && lastRefTime < f.answer.at) return;
    const endpoints: Endpoint[] = [];
    for (const h of hosts) {
      const e = nacosEndpoint(f.service, h);
      if (e) endpoints.push(e);
      else this.log.debug({ service: f.service, host: h }, "instance without a usable address");
    }
    endpoints.sort(byAddress);
    const first = f.answer === undefined;
    const changed = first || JSON.stringify(endpoints) !== JSON.stringify(f.answer?.endpoints);
    f.answer = { at: Math.max(lastRefTime, f.answer?.at ?? 0), endpoints };
    if (changed) this.out.changed();
  }

  private unreachable(err: unknown): void {
    this.out.unavailable(
      `${this.source}: Nacos is unreachable (${errText(err)}); the last endpoints stay in force`,
    );
  }

  private reachable(): void {
    if (this.out.available(true)) this.log.info("Nacos is reachable again");
  }

  /** The whole set, once the services are known and every one has answered. */
  private collect(): Endpoint[] | undefined {
    if (this.closed || !this.listed) return undefined;
    for (const f of this.followed.values()) if (f.answer === undefined) return undefined;
    return [...this.followed.values()]
      .sort((a, b) => (a.service < b.service ? -1 : a.service > b.service ? 1 : 0))
      .flatMap((f) => f.answer?.endpoints ?? []);
  }
}

function byAddress(a: Endpoint, b: Endpoint): number {
  return a.address < b.address ? -1 : a.address > b.address ? 1 : a.port - b.port;
}

/** Run `fn` over `items`, at most `limit` at a time; rejects with the first failure. */
async function inParallel<T>(
  items: T[],
  limit: number,
  fn: (item: T) => Promise<void>,
): Promise<void> {
  let next = 0;
  let failure: unknown;
  const worker = async () => {
    while (next < items.length && failure === undefined) {
      const item = items[next++] as T;
      try {
        await fn(item);
      } catch (err) {
        failure ??= err;
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  if (failure !== undefined) throw failure;
}

function errText(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
