// The HTTP/1.1 forwarder: one pool of keep-alive connections per upstream instance (pool.ts), a bounded wait when the pool is full, one timer for every timeout; it never picks instances nor retries.
import type {
  ForwardCall,
  Forwarder,
  ForwardJob,
  ForwardOutcome,
  ResponseSink,
  Upstream,
} from "../contract.js";
import { upstreamKey } from "../contract.js";
import type { ConnectionSettings } from "./connection.js";
import { nativeParserAvailable } from "./parser.js";
import { type PoolHost, type PoolLimits, UpstreamPool } from "./pool.js";
import { openTunnel } from "./tunnel.js";

/*
 * Defaults (constants until flags exist):
 * - KEEP_ALIVE_MS = 4 s: idle upstream connections are closed after 4 s, below the 5 s keep-alive
 *   of Node's and most servers' defaults, so we never reuse a connection the server is closing
 *   (checked again when an idle connection is taken, so the timer's period does not stretch it).
 *   A server's `Keep-Alive: timeout=N` hint can only shorten it (to N − 1 s).
 * - CONNECTIONS = 128 per instance: at most 128 requests in flight to one instance (HTTP/1.1
 *   carries one at a time, no pipelining); more wait (pool.ts, waiting.ts). Connections are opened
 *   on demand and the most recently used idle one is taken first, so a steady load keeps only as
 *   many connections as it has requests in flight.
 * - MAX_PENDING = 1024 per instance (Envoy's default pending-request circuit breaker): a burst of
 *   eight times the connections may wait; beyond, 503 LANEMESH_OVERLOADED at once.
 * - PENDING_TIMEOUT_MS = 5 s: the longest wait for a connection (then 503 LANEMESH_OVERLOADED):
 *   an instance that frees no connection in 5 s is saturated, and the client is better served by a
 *   fast 503 (retried on another instance when idempotent) than by an unbounded wait.
 * - perClient = CONNECTIONS (no bound) unless the side sets one (gateway.ts, sidecar.ts).
 * - CLIENT_BODY_TIMEOUT_MS = 60 s (nginx's client_body_timeout): a request body without progress
 *   for that long ends the attempt (408, or the response cut), freeing the connection.
 * - CONNECT_TIMEOUT_MS = 5 s: TCP connect to an instance (then `connect` failure, retryable).
 * - HEADERS_TIMEOUT_MS = 60 s: from the request completely sent to the response head (then 504).
 * - BODY_TIMEOUT_MS = 300 s: longest silence between two chunks of a response body (then the
 *   response is cut); long enough for streams with heartbeats. Not counted while the client is
 *   the slow side (the instance's socket is paused then).
 * Timeouts are checked by one timer per forwarder (every 1/8 of the shortest timeout, between
 * 10 ms and 250 ms, and only while connections exist): a request arms no timer of its own.
 */
export const KEEP_ALIVE_MS = 4_000;
export const CONNECTIONS = 128;
export const CONNECT_TIMEOUT_MS = 5_000;
export const HEADERS_TIMEOUT_MS = 60_000;
export const BODY_TIMEOUT_MS = 300_000;
export const MAX_PENDING = 1024;
export const PENDING_TIMEOUT_MS = 5_000;
export const CLIENT_BODY_TIMEOUT_MS = 60_000;

/** Overrides of the defaults above (flags, tests). */
export interface H1ForwarderOptions {
  connections?: number;
  /** Most connections to one instance one client may hold (default: `connections`, no bound). */
  perClient?: number;
  maxPending?: number;
  pendingTimeoutMs?: number;
  keepAliveMs?: number;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
  clientBodyTimeoutMs?: number;
}

/** Adapts a plain call and a promise to the job form. */
class PromiseJob implements ForwardJob {
  readonly upstream: Upstream;
  readonly method: string;
  readonly path: string;
  readonly headers: string[];
  readonly body: ForwardCall["body"];
  readonly interceptAppUnavailable: boolean;
  readonly client: string | null;
  readonly res: ResponseSink;

  constructor(
    private readonly call: ForwardCall,
    private readonly resolve: (o: ForwardOutcome) => void,
  ) {
    this.upstream = call.upstream;
    this.method = call.method;
    this.path = call.path;
    this.headers = call.headers;
    this.body = call.body;
    this.interceptAppUnavailable = call.interceptAppUnavailable;
    this.client = call.client ?? null;
    this.res = call.res;
  }

  onHead(status: number): void {
    this.call.onHead(status);
  }

  onClientTimeout(): void {
    this.call.onClientTimeout?.();
  }

  settle(outcome: ForwardOutcome): void {
    this.resolve(outcome);
  }
}

export class H1Forwarder implements Forwarder, PoolHost {
  private readonly pools = new Map<string, UpstreamPool>();
  /** Pools of instances that left, finishing their last responses (their timeouts still run). */
  private readonly retiring = new Set<UpstreamPool>();
  private readonly settings: ConnectionSettings;
  private readonly limits: PoolLimits;
  private readonly tickMs: number;
  private timer: NodeJS.Timeout | null = null;
  private connections = 0;

  constructor(opts: H1ForwarderOptions = {}) {
    if (!nativeParserAvailable) {
      throw new Error("lanemesh needs Node's HTTP parser (_http_common), absent from this Node.js");
    }
    this.settings = {
      connectTimeoutMs: opts.connectTimeoutMs ?? CONNECT_TIMEOUT_MS,
      headersTimeoutMs: opts.headersTimeoutMs ?? HEADERS_TIMEOUT_MS,
      bodyTimeoutMs: opts.bodyTimeoutMs ?? BODY_TIMEOUT_MS,
      clientBodyTimeoutMs: opts.clientBodyTimeoutMs ?? CLIENT_BODY_TIMEOUT_MS,
      keepAliveMs: opts.keepAliveMs ?? KEEP_ALIVE_MS,
      maxHeaderSize: 0,
    };
    const connections = opts.connections ?? CONNECTIONS;
    this.limits = {
      connections,
      perClient: Math.min(opts.perClient ?? connections, connections),
      maxPending: opts.maxPending ?? MAX_PENDING,
      pendingTimeoutMs: opts.pendingTimeoutMs ?? PENDING_TIMEOUT_MS,
    };
    const s = this.settings;
    const shortest = Math.min(
      s.connectTimeoutMs,
      s.headersTimeoutMs,
      s.bodyTimeoutMs,
      s.clientBodyTimeoutMs,
      s.keepAliveMs,
      this.limits.pendingTimeoutMs,
    );
    this.tickMs = Math.max(10, Math.min(250, Math.floor(shortest / 8)));
  }

  /** The last upstream asked for and its pool: a sidecar's inbound side dials one app. */
  private lastUpstream: Upstream | null = null;
  private lastPool: UpstreamPool | null = null;

  private pool(u: Upstream): UpstreamPool {
    if (u === this.lastUpstream && this.lastPool !== null) return this.lastPool;
    const key = upstreamKey(u);
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = new UpstreamPool(
        { address: u.address, port: u.port },
        this.settings,
        this.limits,
        this,
      );
      this.pools.set(key, pool);
    }
    this.lastUpstream = u;
    this.lastPool = pool;
    return pool;
  }

  dispatch(job: ForwardJob): void {
    const tunnel = job.tunnel;
    if (tunnel) openTunnel(job, tunnel, this.settings.connectTimeoutMs);
    else this.pool(job.upstream).dispatch(job);
  }

  forward(call: ForwardCall): Promise<ForwardOutcome> {
    return new Promise((resolve) => this.dispatch(new PromiseJob(call, resolve)));
  }

  /** A connection was opened: the timeout timer runs while any exists. */
  opened(): void {
    this.connections++;
    if (this.timer === null) {
      this.timer = setInterval(() => this.tick(), this.tickMs);
      this.timer.unref();
    }
  }

  closedOne(): void {
    this.connections--;
    if (this.connections === 0 && this.timer !== null) {
      clearInterval(this.timer);
      this.timer = null;
    }
  }

  private tick(): void {
    const now = performance.now();
    for (const pool of this.pools.values()) pool.tick(now);
    for (const pool of this.retiring) pool.tick(now);
  }

  private retire(pool: UpstreamPool, now: boolean): Promise<void> {
    this.retiring.add(pool);
    return pool.close(now).then(() => {
      this.retiring.delete(pool);
    });
  }

  retain(keep: Iterable<Upstream>): void {
    this.lastUpstream = null;
    this.lastPool = null;
    const keys = new Set<string>();
    for (const u of keep) keys.add(upstreamKey(u));
    for (const [key, pool] of this.pools) {
      if (keys.has(key)) continue;
      this.pools.delete(key);
      void this.retire(pool, false);
    }
  }

  /** Upstreams with open pools (for tests and /config). */
  upstreams(): string[] {
    return [...this.pools.keys()];
  }

  /** Requests waiting for a connection, all instances together (tests). */
  pending(): number {
    let n = 0;
    for (const pool of this.pools.values()) n += pool.pending;
    return n;
  }

  async close(): Promise<void> {
    this.lastUpstream = null;
    this.lastPool = null;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => this.retire(p, false)));
  }

  async destroy(): Promise<void> {
    this.lastUpstream = null;
    this.lastPool = null;
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all([...pools, ...this.retiring].map((p) => this.retire(p, true)));
  }
}
