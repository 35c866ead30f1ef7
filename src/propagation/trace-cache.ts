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
 *   trace ids): about 140 bytes per entry, so ~14 MB at the bound; ~220 bytes if keys were kept
 *   as sliced strings (see `flat`). Past the bound the least recently used entry is evicted.
 *
 * Order: the Map is kept in touch order (delete + re-insert on set and on hit), which is LRU order
 * and, because the TTL slides with the same touch, also expiry order. So eviction takes the first
 * entry, and `set` sweeps a few expired entries from the front (amortized O(1)) so that the cache
 * shrinks when traffic stops. Base requests are not stored: `remember(ctx, null)` deletes the ids,
 * so a trace that turns base never keeps a stale lane, and base traffic cannot evict lane entries.
 */

import { isLaneTag } from "./lane-tag.js";
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

interface Entry {
  tag: string;
  expires: number;
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
      this.entries.delete(traceId);
      entry.tag = tag;
      entry.expires = now + this.ttlMs;
      this.entries.set(traceId, entry);
      return;
    }
    this.trim(now);
    this.entries.set(traceId, { tag, expires: now + this.ttlMs });
  }

  /** The tag remembered for `traceId`, if not expired (a hit refreshes its TTL and LRU place). */
  get(traceId: string): string | undefined {
    const entry = this.entries.get(traceId);
    if (entry === undefined) return undefined;
    const now = this.now();
    this.entries.delete(traceId);
    if (entry.expires <= now) return undefined;
    entry.expires = now + this.ttlMs;
    this.entries.set(traceId, entry);
    return entry.tag;
  }

  delete(traceId: string): boolean {
    return this.entries.delete(traceId);
  }

  /** Stored ids, expired ones not yet swept included; never above maxEntries. */
  size(): number {
    return this.entries.size;
  }

  clear(): void {
    this.entries.clear();
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
    if (tag === null) this.entries.delete(id);
    else if (this.entries.has(id)) this.set(id, tag);
    else this.set(flat(id), tag);
  }

  /** Make room for one new entry: evict the LRU when full, and sweep a few expired ones. */
  private trim(now: number): void {
    let swept = 0;
    for (const key of this.entries.keys()) {
      if (this.entries.size >= this.maxEntries) {
        this.entries.delete(key);
        continue;
      }
      const entry = this.entries.get(key) as Entry;
      if (swept >= SWEEP_PER_SET || entry.expires > now) break;
      this.entries.delete(key);
      swept++;
    }
  }
}
