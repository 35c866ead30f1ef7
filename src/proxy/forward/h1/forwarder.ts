// The HTTP/1.1 forwarder: one pool of keep-alive connections per upstream instance, a queue when the pool is full, one timer for every timeout; it never picks instances nor retries.
import type {
  ForwardCall,
  Forwarder,
  ForwardJob,
  ForwardOutcome,
  ResponseSink,
  Upstream,
} from "../contract.js";
import { upstreamKey } from "../contract.js";
import { type ConnectionOwner, type ConnectionSettings, UpstreamConnection } from "./connection.js";
import { nativeParserAvailable } from "./parser.js";
import { openTunnel } from "./tunnel.js";

/*
 * Defaults (constants until flags exist):
 * - KEEP_ALIVE_MS = 4 s: idle upstream connections are closed after 4 s, below the 5 s keep-alive
 *   of Node's and most servers' defaults, so we never reuse a connection the server is closing
 *   (checked again when an idle connection is taken, so the timer's period does not stretch it).
 *   A server's `Keep-Alive: timeout=N` hint can only shorten it (to N − 1 s).
 * - CONNECTIONS = 128 per instance: at most 128 requests in flight to one instance (HTTP/1.1
 *   carries one at a time, no pipelining); more wait in the pool's queue, first come first served.
 *   Connections are opened on demand and the most recently used idle one is taken first, so a
 *   steady load keeps only as many connections as it has requests in flight.
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

/** Overrides of the defaults above (tests; flags later). */
export interface H1ForwarderOptions {
  connections?: number;
  keepAliveMs?: number;
  connectTimeoutMs?: number;
  headersTimeoutMs?: number;
  bodyTimeoutMs?: number;
}

/** The connections to one instance and the attempts waiting for one. */
class UpstreamPool implements ConnectionOwner {
  readonly where: string;
  private readonly idle: UpstreamConnection[] = [];
  readonly all = new Set<UpstreamConnection>();
  private readonly queue: ForwardJob[] = [];
  /** No new attempt is taken; idle connections close, busy ones when their response is over. */
  private closing = false;
  private onEmpty: (() => void) | null = null;

  constructor(
    readonly upstream: Upstream,
    readonly settings: ConnectionSettings,
    private readonly max: number,
    private readonly forwarder: H1Forwarder,
  ) {
    this.where = upstreamKey(upstream);
  }

  dispatch(job: ForwardJob): void {
    if (job.res.destroyed) {
      job.settle({ ok: false, kind: "aborted", detail: "the client left", retryable: false });
      return;
    }
    if (this.closing) {
      job.settle(closedOutcome(this.where));
      return;
    }
    const now = performance.now();
    let c = this.idle.pop();
    while (c?.expired(now)) {
      c.destroy();
      c = this.idle.pop();
    }
    if (c !== undefined) {
      c.start(job);
      return;
    }
    if (this.all.size < this.max) {
      const fresh = new UpstreamConnection(this);
      this.all.add(fresh);
      this.forwarder.opened();
      fresh.start(job);
      return;
    }
    this.enqueue(job);
  }

  private enqueue(job: ForwardJob): void {
    // Rare (pool full): a closure per waiting job, so a client that leaves also leaves the queue.
    const gone = () => {
      const i = this.queue.indexOf(job);
      if (i === -1) return;
      this.queue.splice(i, 1);
      job.settle({ ok: false, kind: "aborted", detail: "the client left", retryable: false });
    };
    (job as QueuedJob)[LEAVE] = gone;
    job.res.once("close", gone);
    this.queue.push(job);
  }

  private dequeue(): ForwardJob | undefined {
    const job = this.queue.shift();
    if (job !== undefined) {
      const gone = (job as QueuedJob)[LEAVE];
      if (gone !== undefined) job.res.off("close", gone);
      (job as QueuedJob)[LEAVE] = undefined;
    }
    return job;
  }

  released(c: UpstreamConnection): void {
    if (this.closing) {
      c.destroy();
      return;
    }
    const next = this.dequeue();
    if (next !== undefined) c.start(next);
    else this.idle.push(c);
  }

  closed(c: UpstreamConnection): void {
    if (!this.all.delete(c)) return;
    this.forwarder.closedOne();
    const i = this.idle.lastIndexOf(c);
    if (i !== -1) this.idle.splice(i, 1);
    if (this.closing) {
      if (this.all.size === 0) this.onEmpty?.();
      return;
    }
    // A slot is free: a waiting attempt gets a new connection.
    const next = this.dequeue();
    if (next !== undefined) this.dispatch(next);
  }

  tick(now: number): void {
    for (const c of this.all) c.checkTimeout(now);
  }

  /** Stop taking attempts; resolves when every connection is closed (`now`: cut them). */
  close(now: boolean): Promise<void> {
    this.closing = true;
    for (let job = this.dequeue(); job !== undefined; job = this.dequeue()) {
      job.settle(closedOutcome(this.where));
    }
    const done = new Promise<void>((resolve) => {
      this.onEmpty = resolve;
    });
    for (const c of [...this.all]) if (now || c.idle) c.destroy();
    if (this.all.size === 0) return Promise.resolve();
    return done;
  }
}

const LEAVE = Symbol("leave");
type QueuedJob = ForwardJob & { [LEAVE]?: (() => void) | undefined };

function closedOutcome(where: string): ForwardOutcome {
  return {
    ok: false,
    kind: "reset",
    detail: `connections to ${where} are closing`,
    retryable: true,
  };
}

/** Adapts a plain call and a promise to the job form. */
class PromiseJob implements ForwardJob {
  readonly upstream: Upstream;
  readonly method: string;
  readonly path: string;
  readonly headers: string[];
  readonly body: ForwardCall["body"];
  readonly interceptAppUnavailable: boolean;
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
    this.res = call.res;
  }

  onHead(status: number): void {
    this.call.onHead(status);
  }

  settle(outcome: ForwardOutcome): void {
    this.resolve(outcome);
  }
}

export class H1Forwarder implements Forwarder {
  private readonly pools = new Map<string, UpstreamPool>();
  /** Pools of instances that left, finishing their last responses (their timeouts still run). */
  private readonly retiring = new Set<UpstreamPool>();
  private readonly settings: ConnectionSettings;
  private readonly max: number;
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
      keepAliveMs: opts.keepAliveMs ?? KEEP_ALIVE_MS,
      maxHeaderSize: 0,
    };
    this.max = opts.connections ?? CONNECTIONS;
    const s = this.settings;
    const shortest = Math.min(
      s.connectTimeoutMs,
      s.headersTimeoutMs,
      s.bodyTimeoutMs,
      s.keepAliveMs,
    );
    this.tickMs = Math.max(10, Math.min(250, Math.floor(shortest / 8)));
  }

  private pool(u: Upstream): UpstreamPool {
    const key = upstreamKey(u);
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = new UpstreamPool({ address: u.address, port: u.port }, this.settings, this.max, this);
      this.pools.set(key, pool);
    }
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

  async close(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all(pools.map((p) => this.retire(p, false)));
  }

  async destroy(): Promise<void> {
    const pools = [...this.pools.values()];
    this.pools.clear();
    await Promise.all([...pools, ...this.retiring].map((p) => this.retire(p, true)));
  }
}
