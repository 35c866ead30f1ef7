// Two 32-bit hashes of a trace id for the fixed-size tables of the lane context; pure and allocation-free, never a security boundary (a collision may only cost a lane, never grant one).

/*
 * One FNV-1a pass over the UTF-16 units (one multiply per unit: ids are short, 32 hex for
 * traceparent, 16 or 32 for b3, at most 128 characters for x-request-id), then two different
 * finishers (MurmurHash3's fmix32, once on the state and once on a scrambled copy) so that every
 * output bit depends on every input unit and the two outputs look unrelated. Both derive from one
 * 32-bit state: two ids collide in both or in neither, about one pair in 2^32, which the tables
 * using them tolerate (a Bloom filter's false "seen" comes from bit overlaps long before that).
 * The results go to the caller's own two-slot array: no allocation, no shared module state.
 */

import { fmix32 } from "../rules/hash.js";

/** Writes two unsigned 32-bit hashes of `id` to out[0] and out[1]. */
export function hashId(id: string, out: Uint32Array): void {
  let a = 0x811c9dc5 | 0;
  const n = id.length;
  for (let i = 0; i < n; i++) a = Math.imul(a ^ id.charCodeAt(i), 0x01000193);
  out[0] = fmix32(a ^ n);
  out[1] = fmix32(Math.imul(a, 0x9e3779b1) ^ 0x5bd1e995);
}
