// A fixed-size, time-bounded Bloom filter of the trace ids a sidecar saw outside any lane (base requests, forgotten ambiguous marks); it may answer "seen" for an id it never saw, never "not seen" for one added within the horizon, and never grows.

/*
 * Why a filter: every base request must be remembered (so that a gray request reusing its trace
 * id cannot make the base request's outbound calls gray), and base is most of the traffic. An
 * exact entry costs ~170 bytes and an allocation per request; a bit in a filter costs nothing per
 * request. Its one error is a false "seen", which makes a gray request's trace ambiguous (the gray
 * request goes to base and is counted): the safe direction. The filter never says "not seen" for
 * an id added within the horizon.
 *
 * Horizon: two generations on a grid of `ttlMs` steps starting at the first call. Adds go to the
 * current one; at the next step it becomes the previous one and the old previous one is cleared.
 * An id added at time t is thus found until at least t + ttlMs and never at t + 2 × ttlMs or
 * later. Rotation is lazy (every call rotates first, by as many steps as have passed), so no timer
 * runs; a clock that goes backwards rotates nothing.
 *
 * Size: `bits` per generation (a power of two), 4 bits per id, all in one 512-bit block (see
 * `set`). With 32 bits per id expected within a generation the false "seen" rate measured is
 * about 0.05 %; at four times the expected load about 3 %; it rises towards 100 % under a flood
 * of distinct ids, which then only costs gray requests their lane (counted), never lets base
 * through.
 */

import { hashId } from "./id-hash.js";

/** Bits per generation are at least this (a tiny cache still gets a useful filter). */
const MIN_BITS = 1 << 15;

export class BaseSightings {
  /** Bits per generation (a power of two, at least one block). */
  readonly bits: number;
  /** 512-bit blocks per generation. */
  private readonly blocks: number;
  private current: Int32Array;
  private previous: Int32Array;
  /** When `current` became current (ms, the caller's clock); NaN before the first call. */
  private since = Number.NaN;
  private readonly hashes = new Uint32Array(2);

  /** `expected`: distinct ids a generation should hold at a ~0.1 % false "seen" rate. */
  constructor(
    expected: number,
    readonly ttlMs: number,
  ) {
    let bits = MIN_BITS;
    while (bits < expected * 32 && bits < 2 ** 30) bits *= 2;
    this.bits = bits;
    this.blocks = bits >>> 9;
    this.current = new Int32Array(bits >>> 5);
    this.previous = new Int32Array(bits >>> 5);
  }

  /** Bytes held by the two generations. */
  get bytes(): number {
    return this.current.byteLength + this.previous.byteLength;
  }

  /** Remember `id` as seen at `now`. */
  add(id: string, now: number): void {
    this.rotate(now);
    hashId(id, this.hashes);
    this.set(this.current);
  }

  /** Whether `id` was added within the horizon (or a false "seen"). */
  has(id: string, now: number): boolean {
    this.rotate(now);
    hashId(id, this.hashes);
    return this.test(this.current) || this.test(this.previous);
  }

  /** `has`, and when seen, seen again now: the horizon slides while the id is in use. */
  seen(id: string, now: number): boolean {
    this.rotate(now);
    hashId(id, this.hashes);
    if (this.test(this.current)) return true;
    if (!this.test(this.previous)) return false;
    this.set(this.current);
    return true;
  }

  clear(): void {
    this.current.fill(0);
    this.previous.fill(0);
    this.since = Number.NaN;
  }

  /** Generations follow a grid of `ttlMs` steps from the first call; a missed step clears more. */
  private rotate(now: number): void {
    if (Number.isNaN(this.since)) {
      this.since = now;
      return;
    }
    const age = now - this.since;
    if (!(age >= this.ttlMs)) return;
    const steps = Math.floor(age / this.ttlMs);
    const old = this.previous;
    this.previous = this.current;
    old.fill(0);
    this.current = old;
    if (steps >= 2) this.previous.fill(0);
    this.since += steps * this.ttlMs;
  }

  /*
   * Blocked Bloom filter: an id's 4 bits all lie in one 512-bit block (one 64-byte cache line),
   * so a lookup costs one cache miss per generation instead of K. The block comes from the low
   * bits of the first hash, the 4 positions inside it from 9-bit slices of the second hash and
   * the top bits of the first (blocks are at most 2^21, so those never overlap the block bits).
   */
  private set(words: Int32Array): void {
    const h1 = this.hashes[0] as number;
    const h2 = this.hashes[1] as number;
    const block = (h1 & (this.blocks - 1)) << 4;
    let p = h2 & 511;
    words[block + (p >>> 5)] = (words[block + (p >>> 5)] as number) | (1 << (p & 31));
    p = (h2 >>> 9) & 511;
    words[block + (p >>> 5)] = (words[block + (p >>> 5)] as number) | (1 << (p & 31));
    p = (h2 >>> 18) & 511;
    words[block + (p >>> 5)] = (words[block + (p >>> 5)] as number) | (1 << (p & 31));
    p = h1 >>> 23;
    words[block + (p >>> 5)] = (words[block + (p >>> 5)] as number) | (1 << (p & 31));
  }

  private test(words: Int32Array): boolean {
    const h1 = this.hashes[0] as number;
    const h2 = this.hashes[1] as number;
    const block = (h1 & (this.blocks - 1)) << 4;
    let p = h2 & 511;
    if (((words[block + (p >>> 5)] as number) & (1 << (p & 31))) === 0) return false;
    p = (h2 >>> 9) & 511;
    if (((words[block + (p >>> 5)] as number) & (1 << (p & 31))) === 0) return false;
    p = (h2 >>> 18) & 511;
    if (((words[block + (p >>> 5)] as number) & (1 << (p & 31))) === 0) return false;
    p = h1 >>> 23;
    return ((words[block + (p >>> 5)] as number) & (1 << (p & 31))) !== 0;
  }
}
