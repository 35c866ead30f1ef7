// The entry gateway's bounded, allocation-free table of the lane each incoming W3C trace id was given first, so that a request reusing a trace id in another lane can be given a fresh trace; it never writes headers, and forgetting an id is always safe (the sidecars' rule still holds).

/*
 * Why: clients and load tools reuse one traceparent for many requests. When two requests with
 * one trace id take different lanes at the gateway, the sidecars downstream cannot tell their
 * calls apart (trace-cache.ts makes such an id ambiguous and sends it to base, so the gray one
 * loses its lane). The gateway can prevent that: the first request of a trace id fixes the id's
 * lane; a later request with that id in another lane (base counts as a lane) gets a fresh trace
 * id, so every trace id inside the mesh carries one lane. Requests of the same lane keep their
 * trace id, and so the client's trace.
 *
 * `claim(id, tag)`: true when `id` is new here or was given the same lane (the lane is stored or
 * its TTL restarted), false when it carries another lane (nothing changes: the first lane keeps
 * the id). The TTL slides like the sidecars' (60 s by default): an id in use keeps its lane.
 *
 * Storage: 8-way set-associative typed arrays, no per-request allocation and no strings kept. A
 * slot holds a 32-bit fingerprint of the id, its expiry and its lane (0 = base, 1..1024 = a tag
 * interned in `lanes`); a bucket is chosen by a second, independent hash. A new id takes an empty
 * or expired slot of its bucket, else the one that expires first. Errors are harmless: an id
 * pushed out of its bucket (about 0.2 % of ids with `maxEntries` ids live, Poisson) or a
 * fingerprint collision (about 8 in 2^32 per lookup against a full bucket) only means a needless
 * or a missed restart, and a missed one leaves the sidecars' rule to keep base out of the lane.
 * Tags past the interning bound (1,024 distinct) are not tracked. Memory: 14 bytes per slot,
 * slots = the next power of two of 2 × `maxEntries` (262,144 slots, 3.7 MB, for the default
 * 100,000).
 */

import { hashId } from "./id-hash.js";
import { checkBounds, flat } from "./trace-cache.js";

export interface EntryTracesOptions {
  /** Trace ids remembered at once (rounded up to a power of two; default 100 000). */
  maxEntries?: number;
  /** Lifetime of a trace id's lane since its last request, in ms (default 60 000). */
  ttlMs?: number;
  /** Clock in ms; injected by tests (default Date.now). */
  now?: () => number;
}

const WAYS = 8;
const BASE = 0;
/** Distinct tags tracked (lanes are few; past this, e.g. with a trusted client tag, not tracked). */
const MAX_LANES = 1024;

export class EntryTraces {
  readonly slots: number;
  readonly ttlMs: number;
  private readonly now: () => number;
  private readonly fingerprints: Uint32Array;
  private readonly expires: Float64Array;
  private readonly laneOf: Uint16Array;
  /** Tag → lane number (1..MAX_LANES). */
  private readonly lanes = new Map<string, number>();
  private readonly hashes = new Uint32Array(2);

  constructor({ maxEntries = 100_000, ttlMs = 60_000, now = Date.now }: EntryTracesOptions = {}) {
    checkBounds("EntryTraces", maxEntries, ttlMs);
    let slots = WAYS;
    while (slots < 2 * maxEntries) slots *= 2;
    this.slots = slots;
    this.ttlMs = ttlMs;
    this.now = now;
    this.fingerprints = new Uint32Array(slots);
    this.expires = new Float64Array(slots);
    this.laneOf = new Uint16Array(slots);
  }

  /** Bytes held by the table. */
  get bytes(): number {
    return this.fingerprints.byteLength + this.expires.byteLength + this.laneOf.byteLength;
  }

  /**
   * May a request of lane `tag` (null = base) keep trace id `id`? True when the id is new or
   * already in that lane (remembered, TTL restarted); false when it carries another lane.
   */
  claim(id: string, tag: string | null): boolean {
    const lane = tag === null ? BASE : this.laneNumber(tag);
    if (lane < 0) return true;
    const now = this.now();
    hashId(id, this.hashes);
    const fingerprint = (this.hashes[0] as number) || 1;
    const first = ((this.hashes[1] as number) & (this.slots - 1) & ~(WAYS - 1)) >>> 0;
    let free = -1;
    let oldest = first;
    for (let i = first; i < first + WAYS; i++) {
      const expires = this.expires[i] as number;
      if (expires <= now) {
        if (free < 0) free = i;
        continue;
      }
      if (this.fingerprints[i] === fingerprint) {
        if (this.laneOf[i] !== lane) return false;
        this.expires[i] = now + this.ttlMs;
        return true;
      }
      if (expires < (this.expires[oldest] as number)) oldest = i;
    }
    const slot = free >= 0 ? free : oldest;
    this.fingerprints[slot] = fingerprint;
    this.laneOf[slot] = lane;
    this.expires[slot] = now + this.ttlMs;
    return true;
  }

  /** The lane number of `tag`, interned on first sight; -1 past the bound (not tracked). */
  private laneNumber(tag: string): number {
    const known = this.lanes.get(tag);
    if (known !== undefined) return known;
    if (this.lanes.size >= MAX_LANES) return -1;
    const lane = this.lanes.size + 1;
    // A flat copy: a tag read from a header may be a slice that keeps the whole value alive.
    this.lanes.set(flat(tag), lane);
    return lane;
  }
}
