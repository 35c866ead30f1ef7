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

/** No slot: the end of a list. */
const NONE = -1;

/** Slots allocated at first; the arrays double as entries come, up to maxEntries. */
const FIRST_SLOTS = 1024;

/** The largest pending count a slot holds (it saturates there). */
const MAX_PENDING = 0xffff_ffff;

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

/*
 * Storage: each stored id has a slot, a small integer. The id's string and its tag are kept in two
 * arrays; the touch-order links, the expiry and the pending count in typed arrays indexed by slot;
 * the Map takes an id to its slot. So an entry is its id string and a Map entry, and a new entry
 * allocates only the flat copy of its id: no object per entry for the young generation to scan
 * and promote. Freed slots are reused (a free list through `next`).
 */
export class TraceTagCache {
  readonly maxEntries: number;
  readonly ttlMs: number;
  private readonly now: () => number;
  private readonly onLaneLost: ((tag: string, requests: number) => void) | null;
  /** Id → its slot. */
  private readonly slots = new Map<string, number>();
  /** Slot → its id and its tag (AMBIGUOUS for an ambiguous id); undefined when free. */
  private ids: (string | undefined)[] = [];
  private tagOf: (string | undefined)[] = [];
  /** Slot → the next older and newer slot in touch order (NONE at the ends; `next` also links
   *  the free slots). */
  private prev = new Int32Array(0);
  private next = new Int32Array(0);
  /** Slot → when it expires (ms, the clock's) and its requests not yet counted as lost. */
  private expires = new Float64Array(0);
  private pending = new Uint32Array(0);
  /** Slots ever used (the next new one), and the first free slot. */
  private used = 0;
  private free = NONE;
  private readonly base: BaseSightings;
  /** Least recently touched slot (first to expire or be evicted), and most recent. */
  private oldest = NONE;
  private newest = NONE;
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
    const slot = this.live(traceId, now);
    if (slot !== NONE) {
      this.tagOf[slot] = this.shared(tag);
      this.refresh(slot, now);
    } else this.add(traceId, this.shared(tag), now);
  }

  /** The tag stored for `traceId`: undefined when none, null when ambiguous (a hit refreshes it). */
  get(traceId: string): string | null | undefined {
    const now = this.now();
    const slot = this.live(traceId, now);
    if (slot === NONE) return undefined;
    this.refresh(slot, now);
    const tag = this.tagOf[slot] as string;
    return tag === AMBIGUOUS ? null : tag;
  }

  delete(traceId: string): boolean {
    const slot = this.slots.get(traceId);
    if (slot === undefined) return false;
    this.remove(slot, this.now());
    return true;
  }

  /** Stored tagged or ambiguous ids, expired ones not yet swept included; never above maxEntries. */
  size(): number {
    return this.slots.size;
  }

  /** Bytes of the base filter (fixed at construction). */
  get baseFilterBytes(): number {
    return this.base.bytes;
  }

  clear(): void {
    this.slots.clear();
    this.ids = [];
    this.tagOf = [];
    this.prev = new Int32Array(0);
    this.next = new Int32Array(0);
    this.expires = new Float64Array(0);
    this.pending = new Uint32Array(0);
    this.used = 0;
    this.free = NONE;
    this.oldest = NONE;
    this.newest = NONE;
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
    const slot = this.live(id, now);
    if (slot !== NONE) {
      this.refresh(slot, now);
      const tag = this.tagOf[slot] as string;
      return tag === AMBIGUOUS ? null : tag;
    }
    return this.base.seen(id, now) ? null : undefined;
  }

  /** Would writing `tag` under `id` meet another lane? */
  private conflicts(id: string | null, tag: string, now: number): boolean {
    if (id === null) return false;
    const slot = this.live(id, now);
    return slot === NONE ? this.base.has(id, now) : this.tagOf[slot] !== tag;
  }

  /** Write `tag` under `id`; `shared`: the request met another lane under one of its ids. */
  private writeTag(id: string | null, tag: string, shared: boolean, now: number): void {
    if (id === null) return;
    const slot = this.live(id, now);
    if (slot === NONE) {
      if (shared && this.base.has(id, now)) this.add(id, AMBIGUOUS, now);
      else {
        // Not `this.pending[this.add(…)]`: add may grow the arrays after `this.pending` is read.
        const slot = this.add(id, tag, now);
        this.pending[slot] = shared ? 0 : 1;
      }
      return;
    }
    const held = this.tagOf[slot];
    if (held === tag) {
      const p = this.pending[slot] as number;
      if (!shared && p < MAX_PENDING) this.pending[slot] = p + 1;
    } else if (held !== AMBIGUOUS) this.makeAmbiguous(slot);
    this.refresh(slot, now);
  }

  /** A base request carries `id`: remember it, and a tagged entry of it becomes ambiguous. */
  private sightBase(id: string | null, now: number): void {
    if (id === null) return;
    this.base.add(id, now);
    const slot = this.live(id, now);
    if (slot === NONE) return;
    if (this.tagOf[slot] !== AMBIGUOUS) this.makeAmbiguous(slot);
    this.refresh(slot, now);
  }

  private makeAmbiguous(slot: number): void {
    const p = this.pending[slot] as number;
    if (p > this.lost) {
      this.lost = p;
      this.lostTag = this.tagOf[slot] as string;
    }
    this.tagOf[slot] = AMBIGUOUS;
    this.pending[slot] = 0;
  }

  /** The slot of `id` if it has not expired (an expired one is removed), else NONE. */
  private live(id: string, now: number): number {
    const slot = this.slots.get(id);
    if (slot === undefined) return NONE;
    if ((this.expires[slot] as number) > now) return slot;
    this.remove(slot, now);
    return NONE;
  }

  private refresh(slot: number, now: number): void {
    this.expires[slot] = now + this.ttlMs;
    this.touch(slot);
  }

  /** A new entry (the id is not stored yet), after making room; its slot, pending 0. */
  private add(id: string, tag: string, now: number): number {
    this.trim(now);
    const slot = this.allocate();
    const stored = flat(id);
    this.ids[slot] = stored;
    this.tagOf[slot] = tag;
    this.expires[slot] = now + this.ttlMs;
    this.pending[slot] = 0;
    this.slots.set(stored, slot);
    this.append(slot);
    return slot;
  }

  /** A free slot: a freed one, else the next unused one (the typed arrays grow by doubling). */
  private allocate(): number {
    const freed = this.free;
    if (freed !== NONE) {
      this.free = this.next[freed] as number;
      return freed;
    }
    if (this.used === this.prev.length) this.grow();
    this.ids.push(undefined);
    this.tagOf.push(undefined);
    return this.used++;
  }

  private grow(): void {
    const size = Math.min(this.maxEntries, Math.max(FIRST_SLOTS, this.used * 2));
    const widen = <T extends Int32Array | Float64Array | Uint32Array>(old: T, made: T): T => {
      made.set(old);
      return made;
    };
    this.prev = widen(this.prev, new Int32Array(size));
    this.next = widen(this.next, new Int32Array(size));
    this.expires = widen(this.expires, new Float64Array(size));
    this.pending = widen(this.pending, new Uint32Array(size));
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
    while (this.oldest !== NONE && this.slots.size >= this.maxEntries) {
      this.remove(this.oldest, now);
    }
    for (let swept = 0; swept < SWEEP_PER_SET; swept++) {
      const slot = this.oldest;
      if (slot === NONE || (this.expires[slot] as number) > now) return;
      this.remove(slot, now);
    }
  }

  private append(slot: number): void {
    this.prev[slot] = this.newest;
    this.next[slot] = NONE;
    if (this.newest === NONE) this.oldest = slot;
    else this.next[this.newest] = slot;
    this.newest = slot;
  }

  private unlink(slot: number): void {
    const before = this.prev[slot] as number;
    const after = this.next[slot] as number;
    if (before === NONE) this.oldest = after;
    else this.next[before] = after;
    if (after === NONE) this.newest = before;
    else this.prev[after] = before;
  }

  /** Make `slot` the most recently used. */
  private touch(slot: number): void {
    if (this.newest === slot) return;
    this.unlink(slot);
    this.append(slot);
  }

  /** Drop the entry in `slot`; an ambiguous one that has not expired is kept as a base sighting,
   *  so that eviction never turns its id back into a tagged one. */
  private remove(slot: number, now: number): void {
    const id = this.ids[slot] as string;
    this.slots.delete(id);
    this.unlink(slot);
    if (this.tagOf[slot] === AMBIGUOUS && (this.expires[slot] as number) > now) {
      this.base.add(id, now);
    }
    this.ids[slot] = undefined;
    this.tagOf[slot] = undefined;
    this.next[slot] = this.free;
    this.free = slot;
  }
}
