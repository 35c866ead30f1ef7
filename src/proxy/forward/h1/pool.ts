// The keep-alive connections to one upstream instance and the requests waiting for one (bounded, with a deadline, fair across clients); it never picks instances nor retries.
import type { ForwardJob, ForwardOutcome, Upstream } from "../contract.js";
import { upstreamKey } from "../contract.js";
import { type ConnectionOwner, type ConnectionSettings, UpstreamConnection } from "./connection.js";
import { type Share, type Waiter, WaitQueue } from "./waiting.js";

/*
 * A request takes the most recently used idle connection, else a new one while the pool holds
 * fewer than `connections`, else it waits (waiting.ts): at most `maxPending` wait, none longer than
 * `pendingTimeoutMs`; past either, the attempt fails at once as `overloaded` (503
 * LANEMESH_OVERLOADED; nothing reached the instance, so the hop may try another). A client (the
 * downstream peer's address) holds at most `perClient` of the connections; its further requests
 * wait for its own to come back even while others are free.
 */

/** The pool's bounds (forwarder.ts holds the defaults and why). */
export interface PoolLimits {
  readonly connections: number;
  readonly perClient: number;
  readonly maxPending: number;
  readonly pendingTimeoutMs: number;
}

/** What a pool tells its forwarder (the timer runs while any connection exists). */
export interface PoolHost {
  opened(): void;
  closedOne(): void;
}

export function closedOutcome(where: string): ForwardOutcome {
  return {
    ok: false,
    kind: "reset",
    detail: `connections to ${where} are closing`,
    retryable: true,
  };
}

function overloaded(detail: string): ForwardOutcome {
  return { ok: false, kind: "overloaded", detail, retryable: true };
}

const CLIENT_LEFT: ForwardOutcome = {
  ok: false,
  kind: "aborted",
  detail: "the client left",
  retryable: false,
};

/** The connections to one instance and the attempts waiting for one. */
export class UpstreamPool implements ConnectionOwner {
  readonly where: string;
  private readonly idle: UpstreamConnection[] = [];
  readonly all = new Set<UpstreamConnection>();
  private readonly waiting: WaitQueue;
  /** No new attempt is taken; idle connections close, busy ones when their response is over. */
  private closing = false;
  private onEmpty: (() => void) | null = null;

  constructor(
    readonly upstream: Upstream,
    readonly settings: ConnectionSettings,
    private readonly limits: PoolLimits,
    private readonly host: PoolHost,
  ) {
    this.where = upstreamKey(upstream);
    this.waiting = new WaitQueue(limits.perClient, limits.maxPending);
  }

  /** Requests waiting for a connection now. */
  get pending(): number {
    return this.waiting.size;
  }

  dispatch(job: ForwardJob): void {
    if (job.res.destroyed) {
      job.settle(CLIENT_LEFT);
      return;
    }
    if (this.closing) {
      job.settle(closedOutcome(this.where));
      return;
    }
    const share = this.waiting.share(job.client);
    if (this.waiting.mayStart(share)) {
      const c = this.free();
      if (c !== null) {
        this.begin(c, job, share);
        return;
      }
    }
    this.enqueue(job, share);
  }

  /** An idle connection (expired ones closed on the way), a new one if room is left, or null. */
  private free(): UpstreamConnection | null {
    const now = performance.now();
    let c = this.idle.pop();
    while (c?.expired(now)) {
      c.destroy();
      c = this.idle.pop();
    }
    if (c !== undefined) return c;
    if (this.all.size >= this.limits.connections) return null;
    const fresh = new UpstreamConnection(this);
    this.all.add(fresh);
    this.host.opened();
    return fresh;
  }

  private begin(c: UpstreamConnection, job: ForwardJob, share: Share): void {
    c.share = share;
    this.waiting.started(share);
    c.start(job);
  }

  private enqueue(job: ForwardJob, share: Share): void {
    const w = this.waiting.push(job, share, performance.now());
    if (w === null) {
      job.settle(
        overloaded(`${this.where}: all connections busy and ${this.limits.maxPending} waiting`),
      );
      return;
    }
    // Rare (pool busy): a closure per waiting job, so a client that leaves also leaves the queue.
    w.leave = () => {
      this.waiting.remove(w);
      job.settle(CLIENT_LEFT);
    };
    job.res.once("close", w.leave);
    this.serve();
  }

  /**
   * Give free connections (`c`, idle ones, or room for new ones) to waiting requests, in turn;
   * returns `c` when nobody could take it.
   */
  private serve(c: UpstreamConnection | null = null): UpstreamConnection | null {
    let conn = c;
    while (this.waiting.hasReady()) {
      conn ??= this.free();
      if (conn === null) return null;
      const w = this.waiting.next() as Waiter;
      this.unhook(w);
      this.begin(conn, w.job, w.share);
      conn = null;
    }
    return conn;
  }

  private unhook(w: Waiter): void {
    if (w.leave !== null) w.job.res.off("close", w.leave);
    w.leave = null;
  }

  /** The client's share of the connection `c` held, given back. */
  private unshare(c: UpstreamConnection): void {
    const share = c.share;
    if (share === null) return;
    c.share = null;
    this.waiting.released(share);
  }

  released(c: UpstreamConnection): void {
    this.unshare(c);
    if (this.closing) {
      c.destroy();
      return;
    }
    const left = this.serve(c);
    if (left !== null) this.idle.push(left);
  }

  closed(c: UpstreamConnection): void {
    if (!this.all.delete(c)) return;
    this.host.closedOne();
    this.unshare(c);
    const i = this.idle.lastIndexOf(c);
    if (i !== -1) this.idle.splice(i, 1);
    if (this.closing) {
      if (this.all.size === 0) this.onEmpty?.();
      return;
    }
    // A slot is free: waiting attempts get a new connection.
    const left = this.serve();
    if (left !== null) this.idle.push(left);
  }

  tick(now: number): void {
    for (const c of this.all) c.checkTimeout(now);
    const limit = this.limits.pendingTimeoutMs;
    for (let w = this.waiting.oldest(); w !== null && now - w.since >= limit; ) {
      this.waiting.remove(w);
      this.unhook(w);
      w.job.settle(
        overloaded(`${this.where}: all connections busy, no connection within ${limit} ms`),
      );
      w = this.waiting.oldest();
    }
  }

  /** Stop taking attempts; resolves when every connection is closed (`now`: cut them). */
  close(now: boolean): Promise<void> {
    this.closing = true;
    for (const w of this.waiting.drain()) {
      this.unhook(w);
      w.job.settle(closedOutcome(this.where));
    }
    const done = new Promise<void>((resolve) => {
      this.onEmpty = resolve;
    });
    for (const c of [...this.all]) if (now || c.idle) c.destroy();
    if (this.all.size === 0) return Promise.resolve();
    return done;
  }
}
