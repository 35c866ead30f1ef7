// The wait for a busy instance's connections: a bounded queue with a deadline, served fairly across clients, and each client's share of the connections; it never opens connections nor answers anyone.
import type { ForwardJob } from "../contract.js";

/*
 * One WaitQueue per instance (per pool). Every operation is O(1): intrusive linked lists, no
 * array shifts or scans.
 *
 * - Shares: a client (the downstream peer's address, `ForwardCall.client`) holds at most
 *   `perClient` of the instance's connections; its further requests wait even when connections are
 *   free, so one client can never take the whole pool. Requests without a client (the outbound
 *   side: its only client is the app beside it) share one unnamed share. A share is kept while its
 *   client holds a connection or waits, then forgotten.
 * - Order: a free connection goes to the clients that wait and are under their share in turn
 *   (round robin), each client's requests first come first served. A client sending many requests
 *   therefore cannot push another client's request to the back of a long queue.
 * - Bound and deadline: at most `maxPending` requests wait (then `push` refuses); the oldest waiter
 *   is first to reach the pending timeout (the pool's ticker asks `oldest()`).
 */

/** A request waiting for a connection, linked in age order and in its client's queue. */
export class Waiter {
  older: Waiter | null = null;
  newer: Waiter | null = null;
  prev: Waiter | null = null;
  next: Waiter | null = null;
  /** The client left: called by its response's `close` (rare path: one closure per waiter). */
  leave: (() => void) | null = null;

  constructor(
    readonly job: ForwardJob,
    readonly share: Share,
    /** performance.now() when it started waiting. */
    readonly since: number,
  ) {}
}

/** One client's use of an instance: connections held, requests waiting. */
export class Share {
  active = 0;
  queued = 0;
  first: Waiter | null = null;
  last: Waiter | null = null;
  /** In the round robin of shares that can take the next free connection. */
  ready = false;
  readyPrev: Share | null = null;
  readyNext: Share | null = null;

  constructor(readonly key: string | null) {}
}

export class WaitQueue {
  /** Requests waiting, all clients together. */
  size = 0;
  private readonly shares = new Map<string, Share>();
  private readonly unnamed = new Share(null);
  private oldestWaiter: Waiter | null = null;
  private newestWaiter: Waiter | null = null;
  private readyHead: Share | null = null;
  private readyTail: Share | null = null;

  constructor(
    /** Most connections one client may hold (>= the pool's size: no bound). */
    readonly perClient: number,
    readonly maxPending: number,
  ) {}

  /** The share of `client` (created on first use). */
  share(client: string | null | undefined): Share {
    if (client === null || client === undefined) return this.unnamed;
    let s = this.shares.get(client);
    if (s === undefined) {
      s = new Share(client);
      this.shares.set(client, s);
    }
    return s;
  }

  /** May this client take a connection now (under its share, and nobody waits before it)? */
  mayStart(s: Share): boolean {
    return s.active < this.perClient && this.readyHead === null;
  }

  /** Is some request waiting whose client may take a connection? */
  hasReady(): boolean {
    return this.readyHead !== null;
  }

  /** The client took a connection. */
  started(s: Share): void {
    s.active++;
    this.refresh(s);
  }

  /** The client gave a connection back. */
  released(s: Share): void {
    s.active--;
    this.refresh(s);
    this.forget(s);
  }

  /** Queue `job`; null when the queue is full (nothing queued then). */
  push(job: ForwardJob, s: Share, now: number): Waiter | null {
    if (this.size >= this.maxPending) {
      this.forget(s);
      return null;
    }
    const w = new Waiter(job, s, now);
    w.older = this.newestWaiter;
    if (this.newestWaiter === null) this.oldestWaiter = w;
    else this.newestWaiter.newer = w;
    this.newestWaiter = w;
    w.prev = s.last;
    if (s.last === null) s.first = w;
    else s.last.next = w;
    s.last = w;
    s.queued++;
    this.size++;
    this.refresh(s);
    return w;
  }

  /** The next waiter to get a free connection (its share's turn), taken off the queue; or null. */
  next(): Waiter | null {
    const s = this.readyHead;
    if (s === null) return null;
    const w = s.first as Waiter;
    this.unready(s);
    this.unlink(w);
    // Back at the end of the round when it still waits (round robin between clients).
    this.refresh(s);
    return w;
  }

  /** The waiter that has waited longest, or null. */
  oldest(): Waiter | null {
    return this.oldestWaiter;
  }

  /** Take `w` off the queue (its client left, or its time is up). */
  remove(w: Waiter): void {
    this.unlink(w);
    this.refresh(w.share);
    this.forget(w.share);
  }

  /** Every waiter, oldest first, taken off the queue (the pool is closing). */
  drain(): Waiter[] {
    const out: Waiter[] = [];
    for (let w = this.oldestWaiter; w !== null; w = this.oldestWaiter) {
      this.remove(w);
      out.push(w);
    }
    return out;
  }

  /** Clients with a share now (tests, /config). */
  clients(): number {
    return this.shares.size;
  }

  private unlink(w: Waiter): void {
    if (w.older === null) this.oldestWaiter = w.newer;
    else w.older.newer = w.newer;
    if (w.newer === null) this.newestWaiter = w.older;
    else w.newer.older = w.older;
    const s = w.share;
    if (w.prev === null) s.first = w.next;
    else w.prev.next = w.next;
    if (w.next === null) s.last = w.prev;
    else w.next.prev = w.prev;
    w.older = w.newer = w.prev = w.next = null;
    s.queued--;
    this.size--;
  }

  /** Keep `ready` ⇔ the share waits and is under its bound. */
  private refresh(s: Share): void {
    const want = s.queued > 0 && s.active < this.perClient;
    if (want === s.ready) return;
    if (!want) {
      this.unready(s);
      return;
    }
    s.ready = true;
    s.readyPrev = this.readyTail;
    s.readyNext = null;
    if (this.readyTail === null) this.readyHead = s;
    else this.readyTail.readyNext = s;
    this.readyTail = s;
  }

  private unready(s: Share): void {
    if (!s.ready) return;
    s.ready = false;
    if (s.readyPrev === null) this.readyHead = s.readyNext;
    else s.readyPrev.readyNext = s.readyNext;
    if (s.readyNext === null) this.readyTail = s.readyPrev;
    else s.readyNext.readyPrev = s.readyPrev;
    s.readyPrev = s.readyNext = null;
  }

  /** Drop a named share its client no longer uses. */
  private forget(s: Share): void {
    if (s.key !== null && s.active === 0 && s.queued === 0) this.shares.delete(s.key);
  }
}
