// The HTTP/2 forwarder: a small pool of prior-knowledge h2c sessions per upstream instance, streams multiplexed on them, a new session past the peer's concurrent-stream limit, GOAWAY followed without losing unprocessed streams; it never picks instances nor decides lanes.
import { type ClientHttp2Session, connect } from "node:http2";
import { connect as netConnect } from "node:net";
import type { ForwardCall, Forwarder, ForwardJob, ForwardOutcome, Upstream } from "../contract.js";
import { upstreamKey } from "../contract.js";
import { type AttemptHost, GOAWAY_LAST, H2Attempt } from "./attempt.js";

/*
 * The instance's protocol: a request that came over HTTP/2 goes to the instance over HTTP/2 with
 * prior knowledge (h2c, no Upgrade, no TLS): gRPC servers (grpc-js, grpc-go, Netty, Dubbo's
 * Triple) and a peer sidecar's listener all take it. An instance that speaks HTTP/1.1 only cannot
 * be reached by an HTTP/2 client through the mesh (the session fails: 503/UNAVAILABLE).
 *
 * Defaults, per instance:
 * - SESSIONS = 8 sessions at most; a session carries at most STREAMS_PER_SESSION (100) streams, or
 *   fewer when the peer's SETTINGS_MAX_CONCURRENT_STREAMS says so; when every session is full, a
 *   new one opens; when all 8 are full, the request fails `overloaded` (retryable: nothing sent).
 * - CONNECT_TIMEOUT_MS = 5 s (then `connect`, retryable).
 * - IDLE_MS = 30 s: a session without streams for that long is closed (GOAWAY).
 * - REPLAY_LIMIT = 64 KiB of request body kept until the answer's head (attempt.ts).
 * GOAWAY from the instance: the session takes no new stream; streams above the GOAWAY's last
 * stream id, and those never sent, are not processed: each is sent again (twice at most) on
 * another session of the same instance, its kept body first; streams below it finish on the old
 * session. A stream the peer refuses (REFUSED_STREAM) is sent again the same way.
 * No headers timeout: a gRPC stream may wait long for its first message; the client's deadline
 * (`grpc-timeout`, passed on) bounds a call.
 */
export const H2_SESSIONS = 8;
export const H2_STREAMS_PER_SESSION = 100;
export const H2_CONNECT_TIMEOUT_MS = 5_000;
export const H2_UPSTREAM_IDLE_MS = 30_000;
export const REPLAY_LIMIT = 64 * 1024;
/** Times an unprocessed stream is sent again to the same instance before the hop decides. */
const MAX_ROUNDS = 2;

export interface H2ForwarderOptions {
  sessions?: number;
  /** Most streams one client may hold to one instance; 0 = no bound (limits.ts sets it). */
  perClient?: number;
  streamsPerSession?: number;
  connectTimeoutMs?: number;
  idleMs?: number;
  replayLimit?: number;
}

/** One session to an instance and the attempts waiting for it to connect. */
class Session {
  connected = false;
  goaway = false;
  streams = 0;
  failure: string | null = null;
  readonly waiting: H2Attempt[] = [];

  constructor(
    readonly session: ClientHttp2Session,
    private readonly cap: number,
  ) {}

  /** Streams this session may still take. */
  get room(): number {
    const s = this.session;
    if (this.goaway || s.closed || s.destroyed) return 0;
    const peer = this.connected ? (s.remoteSettings.maxConcurrentStreams ?? this.cap) : this.cap;
    return Math.min(peer, this.cap) - this.streams;
  }
}

/** The sessions to one instance. */
class Pool {
  readonly sessions: Session[] = [];
  /** Streams each client (the downstream peer's address) holds to this instance. */
  private readonly clients = new Map<string, number>();

  constructor(
    private readonly upstream: Upstream,
    private readonly opts: Required<H2ForwarderOptions>,
  ) {}

  take(attempt: H2Attempt): void {
    const client = this.opts.perClient > 0 ? (attempt.job.client ?? null) : null;
    const held = client === null ? 0 : (this.clients.get(client) ?? 0);
    if (client !== null && held >= this.opts.perClient) {
      attempt.failUnsent(
        "overloaded",
        `client ${client} holds ${held} streams to ${upstreamKey(this.upstream)}, its most`,
      );
      return;
    }
    let s = this.sessions.find((c) => c.room > 0);
    if (s === undefined) {
      if (this.sessions.length >= this.opts.sessions) {
        attempt.failUnsent(
          "overloaded",
          `${this.opts.sessions} HTTP/2 sessions to ${upstreamKey(this.upstream)} are full`,
        );
        return;
      }
      s = this.open();
    }
    s.streams++;
    if (client !== null) this.clients.set(client, held + 1);
    const on = s;
    let released = false;
    attempt.release = () => {
      if (released) return;
      released = true;
      on.streams--;
      if (client === null) return;
      const n = (this.clients.get(client) ?? 1) - 1;
      if (n <= 0) this.clients.delete(client);
      else this.clients.set(client, n);
    };
    if (s.connected) attempt.start(s.session);
    else s.waiting.push(attempt);
  }

  private open(): Session {
    const key = upstreamKey(this.upstream);
    const { address, port } = this.upstream;
    const session = connect(`http://${key}`, {
      settings: { enablePush: false },
      createConnection: () => netConnect({ host: address, port, noDelay: true }),
    });
    const s = new Session(session, this.opts.streamsPerSession);
    this.sessions.push(s);
    const timer = setTimeout(() => {
      s.failure = `connect timeout ${key}`;
      session.destroy();
    }, this.opts.connectTimeoutMs);
    // Ready with the peer's first SETTINGS (its stream limit): the waiting attempts are spread
    // again, this session taking what its limit allows.
    session.once("remoteSettings", () => {
      clearTimeout(timer);
      s.connected = true;
      for (const a of s.waiting.splice(0)) {
        a.release();
        this.take(a);
      }
    });
    session.on("error", (err: Error) => {
      s.failure ??= `${err.message}`;
    });
    session.on("goaway", (_code: number, last: number) => {
      s.goaway = true;
      GOAWAY_LAST.set(session, last);
    });
    session.setTimeout(this.opts.idleMs, () => {
      if (s.streams === 0) session.close();
    });
    session.once("close", () => {
      clearTimeout(timer);
      const at = this.sessions.indexOf(s);
      if (at !== -1) this.sessions.splice(at, 1);
      const detail = s.failure ?? `session to ${key} closed`;
      for (const a of s.waiting.splice(0)) a.failUnsent("connect", detail);
    });
    return s;
  }

  close(): void {
    for (const s of this.sessions) s.session.close();
  }

  destroy(): void {
    for (const s of this.sessions.splice(0)) s.session.destroy();
  }
}

/** Adapts a plain call and a promise to the job form. */
function promiseJob(call: ForwardCall, resolve: (o: ForwardOutcome) => void): ForwardJob {
  return Object.assign(Object.create(null) as object, call, {
    replay: null,
    onHead: (status: number) => call.onHead(status),
    settle: resolve,
  }) as ForwardJob;
}

export class H2Forwarder implements Forwarder, AttemptHost {
  private readonly pools = new Map<string, Pool>();
  private readonly opts: Required<H2ForwarderOptions>;
  readonly replayLimit: number;

  constructor(opts: H2ForwarderOptions = {}) {
    this.opts = {
      sessions: opts.sessions ?? H2_SESSIONS,
      perClient: opts.perClient ?? 0,
      streamsPerSession: opts.streamsPerSession ?? H2_STREAMS_PER_SESSION,
      connectTimeoutMs: opts.connectTimeoutMs ?? H2_CONNECT_TIMEOUT_MS,
      idleMs: opts.idleMs ?? H2_UPSTREAM_IDLE_MS,
      replayLimit: opts.replayLimit ?? REPLAY_LIMIT,
    };
    this.replayLimit = this.opts.replayLimit;
  }

  forward(call: ForwardCall): Promise<ForwardOutcome> {
    return new Promise((resolve) => this.dispatch(promiseJob(call, resolve)));
  }

  dispatch(job: ForwardJob): void {
    this.attempt(job, 0);
  }

  again(job: ForwardJob, round: number): boolean {
    if (round > MAX_ROUNDS) return false;
    this.attempt(job, round);
    return true;
  }

  private attempt(job: ForwardJob, round: number): void {
    if (job.h2 === null || job.h2 === undefined) {
      job.settle({
        ok: false,
        kind: "bad-request",
        detail: "not an HTTP/2 request",
        retryable: false,
      });
      return;
    }
    const key = upstreamKey(job.upstream);
    let pool = this.pools.get(key);
    if (pool === undefined) {
      pool = new Pool(job.upstream, this.opts);
      this.pools.set(key, pool);
    }
    pool.take(new H2Attempt(job, this, round));
  }

  /** Active streams to every instance (tests, admin). */
  streams(): number {
    let n = 0;
    for (const p of this.pools.values()) for (const s of p.sessions) n += s.streams;
    return n;
  }

  retain(keep: Iterable<Upstream>): void {
    const keys = new Set<string>();
    for (const u of keep) keys.add(upstreamKey(u));
    for (const [key, pool] of this.pools) {
      if (keys.has(key)) continue;
      pool.close();
      this.pools.delete(key);
    }
  }

  async close(): Promise<void> {
    for (const p of this.pools.values()) p.close();
    this.pools.clear();
  }

  async destroy(): Promise<void> {
    for (const p of this.pools.values()) p.destroy();
    this.pools.clear();
  }
}
