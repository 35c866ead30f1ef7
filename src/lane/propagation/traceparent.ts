// W3C trace-context `traceparent`: strict parsing to a trace id and generation of fresh values; it never reads or writes headers.

/*
 * Parsing follows W3C Trace Context level 1 §3.2 strictly:
 * - `version-traceid-parentid-flags`, lower-case hex only (upper case is invalid per the spec);
 * - version: 2 hex, never `ff`; version `00` must be exactly 55 characters; a higher version may be
 *   longer, in which case the character right after the flags must be `-` (the rest is ignored);
 * - trace id: 32 hex, not all zeros; parent id: 16 hex, not all zeros; flags: 2 hex.
 * Anything else → null: the caller treats the request as having no (valid) traceparent.
 *
 * Generation: 16 random bytes of trace id + 8 of parent id from `crypto.randomFillSync`, drawn
 * from a pool refilled 4 KiB at a time so a request does not pay a syscall. Flags are `00`
 * (not sampled) by default: the sidecar does no tracing and should not make a sampling decision
 * that costs the apps' tracing backends; pass `sampled = true` to set `01`.
 */

import { randomFillSync } from "node:crypto";

/** Length of a version-00 traceparent: 2 + 1 + 32 + 1 + 16 + 1 + 2. */
export const TRACEPARENT_LENGTH = 55;

/** 0..15 for a lower-case hex digit, else -1. */
function hexDigit(code: number): number {
  if (code >= 0x30 && code <= 0x39) return code - 0x30;
  if (code >= 0x61 && code <= 0x66) return code - 0x57;
  return -1;
}

/** OR of the hex digits in value[start, end), or -1 when one is not lower-case hex. */
function hexRun(value: string, start: number, end: number): number {
  let bits = 0;
  for (let i = start; i < end; i++) {
    const digit = hexDigit(value.charCodeAt(i));
    if (digit < 0) return -1;
    bits |= digit;
  }
  return bits;
}

const DASH = 0x2d;

/** The trace id (32 lower-case hex) of a valid traceparent value, else null. */
export function parseTraceparent(value: string): string | null {
  const length = value.length;
  if (length < TRACEPARENT_LENGTH) return null;
  if (
    value.charCodeAt(2) !== DASH ||
    value.charCodeAt(35) !== DASH ||
    value.charCodeAt(52) !== DASH
  ) {
    return null;
  }
  const version = hexRun(value, 0, 2);
  if (version < 0) return null;
  if (value.charCodeAt(0) === 0x66 && value.charCodeAt(1) === 0x66) return null; // "ff"
  if (value.charCodeAt(0) === 0x30 && value.charCodeAt(1) === 0x30) {
    if (length !== TRACEPARENT_LENGTH) return null; // version 00: exact length
  } else if (length > TRACEPARENT_LENGTH && value.charCodeAt(TRACEPARENT_LENGTH) !== DASH) {
    return null;
  }
  if (hexRun(value, 3, 35) <= 0) return null; // not hex, or all zero
  if (hexRun(value, 36, 52) <= 0) return null;
  if (hexRun(value, 53, 55) < 0) return null;
  return value.slice(3, 35);
}

/** Fills and returns `size` random bytes; injected by tests. */
export type RandomBytes = (size: number) => Uint8Array;

const POOL_SIZE = 4096;
const pool = Buffer.allocUnsafe(POOL_SIZE);
let poolOffset = POOL_SIZE;

/** Default source: slices of a pooled buffer refilled with `randomFillSync`. */
function pooledRandom(size: number): Uint8Array {
  if (poolOffset + size > POOL_SIZE) {
    randomFillSync(pool);
    poolOffset = 0;
  }
  const bytes = pool.subarray(poolOffset, poolOffset + size);
  poolOffset += size;
  return bytes;
}

/** "00".."ff" by byte value. */
const HEX: readonly string[] = Array.from({ length: 256 }, (_, i) =>
  i.toString(16).padStart(2, "0"),
);

/** Lower-case hex of bytes[start, end); all zeros → the last digit set to 1 (never a null id). */
function hexId(bytes: Uint8Array, start: number, end: number): string {
  let text = "";
  let any = 0;
  for (let i = start; i < end; i++) {
    const b = bytes[i] as number;
    any |= b;
    text += HEX[b] as string;
  }
  return any === 0 ? `${"0".repeat(2 * (end - start) - 1)}1` : text;
}

/**
 * A fresh version-00 traceparent (`00-<32 hex>-<16 hex>-00|01`). Its trace id is
 * `value.slice(3, 35)`. An all-zero id drawn from the source (only possible with an injected one)
 * gets its last bit set, so the result is always valid.
 */
export function newTraceparent(random: RandomBytes = pooledRandom, sampled = false): string {
  const bytes = random(24);
  if (bytes.length < 24) throw new RangeError("newTraceparent: random source returned < 24 bytes");
  return `00-${hexId(bytes, 0, 16)}-${hexId(bytes, 16, 24)}-${sampled ? "01" : "00"}`;
}
