// Bounded LRU + TTL map from trace id to lane tag, fed on the inbound side and read on the outbound side; it never parses headers and never does I/O.

/*
 * Why it exists: lane-unaware apps forward only `traceparent` (or b3 / x-request-id), not the tag.
 * The inbound side remembers `trace id → tag` for each tagged request it hands to the app; the
 * outbound side, finding no tag header and no baggage lane member, recovers the tag from the trace
 * id the app forwarded.
 *
 * Defaults and why:
 * - ttlMs = 60 s: a trace lives for milliseconds to seconds; a minute covers slow chains and
 *   retries while letting ids age out. The TTL slides: every set and every hit restarts it, so a
 *   long trace that keeps calling out keeps its tag.
 * - maxEntries = 100 000: about 1 600 tagged requests per second for the full minute. Measured
 *   roughly on Node 20 x64 (heapUsed after gc, 100k entries filled through `remember` with 32-hex
 *   trace ids): about 165 bytes per entry, so ~17 MB at the bound; about 80 bytes
 *   more if keys were kept as sliced strings (see `flat`). Past the bound the least recently used
 *   entry is evicted.
 *
 * Order: entries form a doubly linked list in touch order (a set or a hit moves the entry to the
 * newest end), which is LRU order and, because the TTL slides with the same touch, also expiry
 * order. So eviction takes the oldest entry, and `set` sweeps a few expired entries from the
 * oldest end (amortized O(1)) so that the cache shrinks when traffic stops. Every operation is
 * O(1): the list, not the Map's own order, tracks age, because a Map used as a queue (delete the
 * first key, iterate from the start) makes V8 walk over the deleted slots at the front on every
 * iteration — measured at 7 µs per `set` with 100 000 entries, growing with the bound. Base
 * requests are not stored: `remember(ctx, null)` deletes the ids, so a trace that turns base
 * never keeps a stale lane, and base traffic cannot evict lane entries.
 */

import { isLaneTag } from "../../config/lane-tag.js";
import type { LaneContext } from "./tag.js";
import { parseTraceparent } from "./traceparent.js";

export interface TraceTagCacheOptions {
  /** Upper bound on stored ids (default 100 000). */
  maxEntries?: number;
  /** Lifetime of an entry since it was last set or read, in ms (default 60 000). */
  ttlMs?: number;
  /** Clock in ms; injected by tests (default Date.now). */
  now?: () => number;
}

/** One stored id, linked in touch order (prev = older, next = newer). */
class Entry {
  prev: Entry | null = null;
  next: Entry | null = null;
  constructor(
    readonly id: string,
    public tag: string,
    public expires: number,
  ) {}
}

/**
 * A flat copy of an ASCII id. A trace id sliced from a traceparent is a V8 sliced string that keeps
 * the whole header value alive (~80 bytes more per entry); copying once per new entry (~0.2 µs)
 * is cheaper than that memory. Only ASCII strings come through (ids read by TagReader, lane tags).
 */
function flat(id: string): string {
  return Buffer.from(id, "latin1").toString("latin1");
}

/** Distinct tags whose string is shared between entries. */
const MAX_SHARED_TAGS = 1024;

/** Expired entries removed from the front per `set`, beyond the one a full cache evicts. */
const SWEEP_PER_SET = 4;

export class TraceTagCache {
  readonly maxEntries: number;
  readonly ttlMs: number;
  private readonly now: () => number;
  private readonly entries = new Map<string, Entry>();
  /** Least recently touched entry (first to expire or be evicted), and most recent. */
  private oldest: Entry | null = null;
  private newest: Entry | null = null;
  /** One shared string per tag seen (lanes are few): entries share it instead of each holding
   *  its own copy from the request's headers. Bounded; past the bound, each entry has its own. */
  private readonly tags = new Map<string, string>();

  constructor({ maxEntries = 100_000, ttlMs = 60_000, now = Date.now }: TraceTagCacheOptions = {}) {
    if (!Number.isInteger(maxEntries) || maxEntries < 1) {
      throw new RangeError(`TraceTagCache: maxEntries must be an integer >= 1, got ${maxEntries}`);
    }
    if (!(ttlMs > 0)) throw new RangeError(`TraceTagCache: ttlMs must be > 0, got ${ttlMs}`);
    this.maxEntries = maxEntries;
    this.ttlMs = ttlMs;
    this.now = now;
  }

  /** Remember `tag` for `traceId` (refreshes its TTL and makes it most recently used). */
  set(traceId: string, tag: string): void {
    tag = this.shared(tag);
    const now = this.now();
    const entry = this.entries.get(traceId);
    if (entry !== undefined) {
      entry.tag = tag;
      entry.expires = now + this.ttlMs;
      this.touch(entry);
      return;
    }
    this.trim(now);
    const fresh = new Entry(traceId, tag, now + this.ttlMs);
    this.entries.set(traceId, fresh);
    this.append(fresh);
  }

  /** The tag remembered for `traceId`, if not expired (a hit refreshes its TTL and LRU place). */
  get(traceId: string): string | undefined {
    const entry = this.entries.get(traceId);
    if (entry === undefined) return undefined;
    const now = this.now();
    if (entry.expires <= now) {
      this.remove(entry);
      return undefined;
    }
    entry.expires = now + this.ttlMs;
    this.touch(entry);
    return entry.tag;
  }

  delete(traceId: string): boolean {
    const entry = this.entries.get(traceId);
    if (entry === undefined) return false;
    this.remove(entry);
    return true;
  }

  /** Stored ids, expired ones not yet swept included; never above maxEntries. */
  size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
    this.oldest = null;
    this.newest = null;
  }

  /**
   * Inbound side: remember `tag` under every trace id of the request (traceparent, b3, request
   * id), since the app may forward any one of them, and under the id of `freshTraceparent` when
   * the inbound side wrote one; with `tag` null, forget them instead.
   */
  remember(ctx: LaneContext, tag: string | null, freshTraceparent?: string): void {
    const traceparentId = ctx.traceparent ? ctx.traceId : null;
    this.rememberId(traceparentId, tag);
    if (ctx.b3TraceId !== traceparentId) this.rememberId(ctx.b3TraceId, tag);
    this.rememberId(ctx.requestId, tag);
    if (freshTraceparent !== undefined) this.rememberId(parseTraceparent(freshTraceparent), tag);
  }

  /** Outbound side: the tag remembered under the request's traceparent, b3 or request id. */
  recall(ctx: LaneContext): string | undefined {
    if (ctx.traceparent && ctx.traceId !== null) {
      const tag = this.get(ctx.traceId);
      if (tag !== undefined) return tag;
    }
    if (ctx.b3TraceId !== null) {
      const tag = this.get(ctx.b3TraceId);
      if (tag !== undefined) return tag;
    }
    return ctx.requestId === null ? undefined : this.get(ctx.requestId);
  }

  /** The stored form of a tag: shared when seen before, else a flat copy (a tag read from
   *  baggage may be a slice that would keep the whole baggage value alive). */
  private shared(tag: string): string {
    const known = this.tags.get(tag);
    if (known !== undefined) return known;
    const copy = isLaneTag(tag) ? flat(tag) : tag;
    if (this.tags.size < MAX_SHARED_TAGS) this.tags.set(copy, copy);
    return copy;
  }

  private rememberId(id: string | null, tag: string | null): void {
    if (id === null) return;
    if (tag === null) this.delete(id);
    else if (this.entries.has(id)) this.set(id, tag);
    else this.set(flat(id), tag);
  }

  /** Make room for one new entry: evict the LRU when full, and sweep a few expired ones. */
  private trim(now: number): void {
    while (this.oldest !== null && this.entries.size >= this.maxEntries) this.remove(this.oldest);
    for (let swept = 0; swept < SWEEP_PER_SET; swept++) {
      const entry = this.oldest;
      if (entry === null || entry.expires > now) return;
      this.remove(entry);
    }
  }

  private append(entry: Entry): void {
    entry.prev = this.newest;
    entry.next = null;
    if (this.newest === null) this.oldest = entry;
    else this.newest.next = entry;
    this.newest = entry;
  }

  private unlink(entry: Entry): void {
    if (entry.prev === null) this.oldest = entry.next;
    else entry.prev.next = entry.next;
    if (entry.next === null) this.newest = entry.prev;
    else entry.next.prev = entry.prev;
    entry.prev = null;
    entry.next = null;
  }

  /** Make `entry` the most recently used. */
  private touch(entry: Entry): void {
    if (this.newest === entry) return;
    this.unlink(entry);
    this.append(entry);
  }

  private remove(entry: Entry): void {
    this.entries.delete(entry.id);
    this.unlink(entry);
  }
}
