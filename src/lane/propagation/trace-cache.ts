// Bounded LRU + TTL map from trace id to lane tag, fed on the inbound side and read on the outbound side, where a trace id seen in two lanes is ambiguous and goes to base; it never parses headers, never does I/O, and never gives a lane to an id it saw in base within the TTL.

/*
 * Why it exists: lane-unaware apps forward only `traceparent` (or b3 / x-request-id), not the tag.
 * The inbound side remembers `trace id → tag` for each request it hands to the app; the outbound
 * side, finding no tag header and no baggage lane member, recovers the tag from the trace id the
 * app forwarded.
 *
 * The rule (issue 10, item 2): clients and load tools reuse one traceparent for many requests, so
 * one trace id can reach a sidecar in two lanes at once, and the outbound side cannot tell whose
 * call it is looking up. Base counts as a lane here. A trace id seen within the TTL in two lanes
 * is AMBIGUOUS: every outbound call that finds it goes to base. So an untagged request can never
 * be sent to a tagged instance by the cache, and a tagged request whose trace id is shared loses
 * its lane at this sidecar; that is counted (`onLaneLost`, lanemesh_lane_ambiguous_total).
 *
 * Where each fact lives:
 * - tagged ids and ambiguous marks: exact entries in this map (id string → tag or AMBIGUOUS);
 * - base sightings: a Bloom filter (base-sightings.ts), since base is most of the traffic; a
 *   false "seen" only makes a gray request ambiguous. A base request adds its ids to the filter
 *   and turns any tagged entry of those ids ambiguous.
 *
 * Transitions on the inbound side (`remember`), per id:
 *   no entry, not seen in base  + tag T  → T            (pending: 1 request of T not counted yet)
 *   no entry, seen in base      + tag T  → AMBIGUOUS    (the request is counted)
 *   T                           + tag T  → T            (pending + 1)
 *   T                           + tag U  → AMBIGUOUS    (the request is counted, and T's pending)
 *   T                           + base   → AMBIGUOUS    (T's pending requests are counted)
 *   AMBIGUOUS                   + any    → AMBIGUOUS    (a tagged request is counted)
 * Every write and every outbound hit restarts the entry's TTL, ambiguous marks included, so an
 * ambiguous mark wins over later writes of one tag for as long as the entry lives. A tagged
 * request is counted at most once per sidecar: when its trace id is ambiguous on arrival, or
 * later, when a request of another lane arrives while it is still pending in the entry. The
 * count is therefore an upper bound of the tagged requests that lost their lane here: a request
 * that had already made its calls when the other lane arrived is counted too.
 *
 * Races, all within one event loop (the inbound and outbound listeners of a sidecar share this
 * object, every operation is synchronous):
 * - a base request is remembered before its app can call out (the inbound side writes, then
 *   forwards), so its outbound calls find its ids in the filter or an ambiguous entry;
 * - a tagged entry created after a base sighting of its id finds the sighting in the filter;
 *   one created before it is turned ambiguous by it;
 * - eviction and expiry: an ambiguous entry evicted before its expiry goes into the filter, so
 *   a later single-tag write of that id is ambiguous again; the filter keeps every base sighting
 *   for at least the TTL, and an outbound lookup that finds one there refreshes it. What stays
 *   out of reach: an app that calls out for a base request more than the TTL after the last
 *   request or call of its trace at this sidecar, when a gray request reused the id in between
 *   (the same horizon after which a gray trace forgets its lane).
 *
 * Outbound (`recall`): the request's ids in order (traceparent, b3, request id); the first one
 * known decides: an entry gives its tag (AMBIGUOUS gives null), a base sighting gives null. An
 * id nobody remembered is skipped.
 *
 * Defaults and why:
 * - ttlMs = 60 s: a trace lives for milliseconds to seconds; a minute covers slow chains and
 *   retries while letting ids age out. The TTL slides: every set and every hit restarts it.
 * - maxEntries = 100 000 tagged or ambiguous ids: about 1 600 tagged requests per second for
 *   the full minute. Measured on Node 20 x64 (heapUsed after gc, 100k entries filled through
 *   `remember` with 32-hex trace ids): see README ("Lane context") for the bytes per entry. The
 *   base filter is fixed: 32 bits per entry per generation, two generations (1 MiB at 100 000).
 *   Past the bound the least recently used entry is evicted.
 *
 * Order: entries form a doubly linked list in touch order (a set or a hit moves the entry to the
 * newest end), which is LRU order and, because the TTL slides with the same touch, also expiry
 * order. So eviction takes the oldest entry, and each new entry sweeps a few expired ones from the
 * oldest end (amortized O(1)). Every operation is O(1): the list, not the Map's own order, tracks
 * age (a Map used as a queue makes V8 walk deleted slots: 7 µs per `set` at 100 000 entries).
 */

import { isLaneTag } from "../../config/lane-tag.js";
import { BaseSightings } from "./base-sightings.js";
import type { LaneContext } from "./tag.js";

export interface TraceTagCacheOptions {
  /** Upper bound on stored tagged or ambiguous ids (default 100 000). */
  maxEntries?: number;
  /** Lifetime of an entry since it was last set or read, in ms (default 60 000). */
  ttlMs?: number;
  /** Clock in ms; injected by tests (default Date.now). */
  now?: () => number;
  /**
   * Called when `requests` requests of lane `tag` are found to share their trace id with
   * another lane at this sidecar (their outbound calls go to base from then on).
   */
  onLaneLost?: (tag: string, requests: number) => void;
}

/** Refuses bounds a trace table cannot work with (RangeError naming `owner`). */
export function checkBounds(owner: string, maxEntries: number, ttlMs: number): void {
  if (!Number.isInteger(maxEntries) || maxEntries < 1) {
    throw new RangeError(`${owner}: maxEntries must be an integer >= 1, got ${maxEntries}`);
  }
  if (!(ttlMs > 0)) throw new RangeError(`${owner}: ttlMs must be > 0, got ${ttlMs}`);
}

/** The stored tag of an ambiguous id: never a lane tag (isLaneTag refuses the NUL). */
const AMBIGUOUS = "\u0000ambiguous";

/** One stored id, linked in touch order (prev = older, next = newer). */
class Entry {
  prev: Entry | null = null;
  next: Entry | null = null;
  /** Requests of `tag` remembered here and not counted as lost yet. */
  pending = 0;
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
export function flat(id: string): string {
  return Buffer.from(id, "latin1").toString("latin1");
}

/** Distinct tags whose string is shared between entries. */
const MAX_SHARED_TAGS = 1024;

/** Expired entries removed from the front per new entry, beyond the one a full cache evicts. */
const SWEEP_PER_SET = 4;

export class TraceTagCache {
  readonly maxEntries: number;
  readonly ttlMs: number;
  private readonly now: () => number;
  private readonly onLaneLost: ((tag: string, requests: number) => void) | null;
  private readonly entries = new Map<string, Entry>();
  private readonly base: BaseSightings;
  /** Least recently touched entry (first to expire or be evicted), and most recent. */
  private oldest: Entry | null = null;
  private newest: Entry | null = null;
  /** One shared string per tag seen (lanes are few): entries share it instead of each holding
   *  its own copy from the request's headers. Bounded; past the bound, each entry has its own. */
  private readonly tags = new Map<string, string>();
  /** Pending requests turned ambiguous during one `remember` (the largest count, and its tag). */
  private lost = 0;
  private lostTag = "";

  constructor({
    maxEntries = 100_000,
    ttlMs = 60_000,
    now = Date.now,
    onLaneLost,
  }: TraceTagCacheOptions = {}) {
    checkBounds("TraceTagCache", maxEntries, ttlMs);
    this.maxEntries = maxEntries;
    this.ttlMs = ttlMs;
    this.now = now;
    this.onLaneLost = onLaneLost ?? null;
    this.base = new BaseSightings(maxEntries, ttlMs);
  }

  /** Store `tag` for `traceId` as is, no lane rule applied (tests; `remember` is the rule). */
  set(traceId: string, tag: string): void {
    const now = this.now();
    const entry = this.live(traceId, now);
    if (entry !== undefined) {
      entry.tag = this.shared(tag);
      this.refresh(entry, now);
    } else this.add(traceId, this.shared(tag), now);
  }

  /** The tag stored for `traceId`: undefined when none, null when ambiguous (a hit refreshes it). */
  get(traceId: string): string | null | undefined {
    const now = this.now();
    const entry = this.live(traceId, now);
    if (entry === undefined) return undefined;
    this.refresh(entry, now);
    return entry.tag === AMBIGUOUS ? null : entry.tag;
  }

  delete(traceId: string): boolean {
    const entry = this.entries.get(traceId);
    if (entry === undefined) return false;
    this.remove(entry, this.now());
    return true;
  }

  /** Stored tagged or ambiguous ids, expired ones not yet swept included; never above maxEntries. */
  size(): number {
    return this.entries.size;
  }

  /** Bytes of the base filter (fixed at construction). */
  get baseFilterBytes(): number {
    return this.base.bytes;
  }

  clear(): void {
    this.entries.clear();
    this.oldest = null;
    this.newest = null;
    this.base.clear();
  }

  /**
   * Inbound side: remember the request's lane (`tag`, null = base) under every trace id it
   * carries (traceparent, b3, request id), since the app may forward any one of them, and under
   * the id of `freshTraceparent` when the inbound side wrote one (with `newTraceparent`). Applies
   * the rule above.
   */
  remember(ctx: LaneContext, tag: string | null, freshTraceparent?: string): void {
    const now = this.now();
    const a = ctx.traceparent ? ctx.traceId : null;
    const b = ctx.b3TraceId !== a ? ctx.b3TraceId : null;
    const c = ctx.requestId !== a && ctx.requestId !== b ? ctx.requestId : null;
    // One this proxy wrote (newTraceparent): its trace id sits at a fixed place.
    const d = freshTraceparent === undefined ? null : freshTraceparent.slice(3, 35);
    this.lost = 0;
    if (tag === null) {
      this.sightBase(a, now);
      this.sightBase(b, now);
      this.sightBase(c, now);
      this.sightBase(d, now);
    } else {
      tag = this.shared(tag);
      const shared =
        this.conflicts(a, tag, now) || this.conflicts(b, tag, now) || this.conflicts(c, tag, now);
      this.writeTag(a, tag, shared, now);
      this.writeTag(b, tag, shared, now);
      this.writeTag(c, tag, shared, now);
      this.writeTag(d, tag, shared, now);
      if (shared) this.onLaneLost?.(tag, 1);
    }
    if (this.lost > 0) this.onLaneLost?.(this.lostTag, this.lost);
  }

  /**
   * Outbound side: the lane remembered for the request's trace: a tag, null when its first known
   * id (traceparent, b3, request id) was seen in base or is ambiguous, undefined when none is known.
   */
  recall(ctx: LaneContext): string | null | undefined {
    const now = this.now();
    const a = ctx.traceparent ? ctx.traceId : null;
    let tag = this.recallId(a, now);
    if (tag !== undefined) return tag;
    if (ctx.b3TraceId !== a) {
      tag = this.recallId(ctx.b3TraceId, now);
      if (tag !== undefined) return tag;
    }
    return this.recallId(ctx.requestId, now);
  }

  private recallId(id: string | null, now: number): string | null | undefined {
    if (id === null) return undefined;
    const entry = this.live(id, now);
    if (entry !== undefined) {
      this.refresh(entry, now);
      return entry.tag === AMBIGUOUS ? null : entry.tag;
    }
    return this.base.seen(id, now) ? null : undefined;
  }

  /** Would writing `tag` under `id` meet another lane? */
  private conflicts(id: string | null, tag: string, now: number): boolean {
    if (id === null) return false;
    const entry = this.live(id, now);
    return entry === undefined ? this.base.has(id, now) : entry.tag !== tag;
  }

  /** Write `tag` under `id`; `shared`: the request met another lane under one of its ids. */
  private writeTag(id: string | null, tag: string, shared: boolean, now: number): void {
    if (id === null) return;
    const entry = this.live(id, now);
    if (entry === undefined) {
      if (shared && this.base.has(id, now)) this.add(id, AMBIGUOUS, now);
      else this.add(id, tag, now).pending = shared ? 0 : 1;
      return;
    }
    if (entry.tag === tag) {
      if (!shared) entry.pending++;
    } else if (entry.tag !== AMBIGUOUS) this.makeAmbiguous(entry);
    this.refresh(entry, now);
  }

  /** A base request carries `id`: remember it, and a tagged entry of it becomes ambiguous. */
  private sightBase(id: string | null, now: number): void {
    if (id === null) return;
    this.base.add(id, now);
    const entry = this.live(id, now);
    if (entry === undefined) return;
    if (entry.tag !== AMBIGUOUS) this.makeAmbiguous(entry);
    this.refresh(entry, now);
  }

  private makeAmbiguous(entry: Entry): void {
    if (entry.pending > this.lost) {
      this.lost = entry.pending;
      this.lostTag = entry.tag;
    }
    entry.tag = AMBIGUOUS;
    entry.pending = 0;
  }

  /** The entry of `id` if it has not expired (an expired one is removed). */
  private live(id: string, now: number): Entry | undefined {
    const entry = this.entries.get(id);
    if (entry === undefined) return undefined;
    if (entry.expires > now) return entry;
    this.remove(entry, now);
    return undefined;
  }

  private refresh(entry: Entry, now: number): void {
    entry.expires = now + this.ttlMs;
    this.touch(entry);
  }

  /** A new entry (the id is not stored yet), after making room. */
  private add(id: string, tag: string, now: number): Entry {
    this.trim(now);
    const entry = new Entry(flat(id), tag, now + this.ttlMs);
    this.entries.set(entry.id, entry);
    this.append(entry);
    return entry;
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

  /** Make room for one new entry: evict the LRU when full, and sweep a few expired ones. */
  private trim(now: number): void {
    while (this.oldest !== null && this.entries.size >= this.maxEntries) {
      this.remove(this.oldest, now);
    }
    for (let swept = 0; swept < SWEEP_PER_SET; swept++) {
      const entry = this.oldest;
      if (entry === null || entry.expires > now) return;
      this.remove(entry, now);
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

  /** Drop `entry`; an ambiguous one that has not expired is kept as a base sighting, so that
   *  eviction never turns its id back into a tagged one. */
  private remove(entry: Entry, now: number): void {
    this.entries.delete(entry.id);
    this.unlink(entry);
    if (entry.tag === AMBIGUOUS && entry.expires > now) this.base.add(entry.id, now);
  }
}
