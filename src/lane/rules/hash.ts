// The percentage-condition hash: MurmurHash3 x86_32 over UTF-8, pure and allocation-free; no state kept between calls.
//
// Definition (pinned by test vectors in test/rules-hash.test.ts):
//   hash(value)   = MurmurHash3_x86_32(utf8(value), seed = 0), an unsigned 32-bit integer
//   bucket(value) = hash(value) mod 100, in 0..99
//   a `percentage` condition with value P holds when bucket(value) < P.
// MurmurHash3 is Austin Appleby's public-domain hash (SMHasher); Guava's
// Hashing.murmur3_32_fixed() and Python's mmh3.hash(value, 0, signed=False) give the same numbers,
// so any proxy or tool can compute the same bucket. utf8() is the WHATWG/TextEncoder encoding: a lone surrogate encodes as
// U+FFFD. The seed is fixed, so a key lands in the same bucket on every proxy and after restarts,
// and raising P only adds buckets: the cohort of a 10 % lane stays inside the 20 % lane.

const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;

// Streaming state of one hash call. Calls are synchronous and never re-entrant, so module state is
// safe and keeps the hot path free of allocations (no TextEncoder buffer per request).
let h = 0;
let k = 0;
let shift = 0;

function pushByte(b: number): void {
  k |= b << shift;
  shift += 8;
  if (shift === 32) {
    let k1 = Math.imul(k, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    k1 = Math.imul(k1, C2);
    h ^= k1;
    h = (h << 13) | (h >>> 19);
    h = (Math.imul(h, 5) + 0xe6546b64) | 0;
    k = 0;
    shift = 0;
  }
}

function finish(length: number): number {
  if (shift !== 0) {
    let k1 = Math.imul(k, C1);
    k1 = (k1 << 15) | (k1 >>> 17);
    k1 = Math.imul(k1, C2);
    h ^= k1;
  }
  return fmix32(h ^ length);
}

/** MurmurHash3's 32-bit finalizer: every output bit depends on every input bit. */
export function fmix32(value: number): number {
  let x = value;
  x ^= x >>> 16;
  x = Math.imul(x, 0x85ebca6b);
  x ^= x >>> 13;
  x = Math.imul(x, 0xc2b2ae35);
  x ^= x >>> 16;
  return x >>> 0;
}

/** MurmurHash3 x86_32 of the UTF-8 bytes of `value`; `seed` exists for the reference vectors only. */
export function murmur3(value: string, seed = 0): number {
  h = seed | 0;
  k = 0;
  shift = 0;
  let length = 0;
  const n = value.length;
  for (let i = 0; i < n; i++) {
    let c = value.charCodeAt(i);
    if (c < 0x80) {
      pushByte(c);
      length += 1;
    } else if (c < 0x800) {
      pushByte(0xc0 | (c >> 6));
      pushByte(0x80 | (c & 0x3f));
      length += 2;
    } else if (c < 0xd800 || c > 0xdfff) {
      pushByte(0xe0 | (c >> 12));
      pushByte(0x80 | ((c >> 6) & 0x3f));
      pushByte(0x80 | (c & 0x3f));
      length += 3;
    } else {
      const next = i + 1 < n ? value.charCodeAt(i + 1) : 0;
      if (c <= 0xdbff && next >= 0xdc00 && next <= 0xdfff) {
        c = 0x10000 + ((c - 0xd800) << 10) + (next - 0xdc00);
        i++;
        pushByte(0xf0 | (c >> 18));
        pushByte(0x80 | ((c >> 12) & 0x3f));
        pushByte(0x80 | ((c >> 6) & 0x3f));
        pushByte(0x80 | (c & 0x3f));
        length += 4;
      } else {
        // Lone surrogate: U+FFFD, as TextEncoder writes it.
        pushByte(0xef);
        pushByte(0xbf);
        pushByte(0xbd);
        length += 3;
      }
    }
  }
  return finish(length);
}

/** MurmurHash3 x86_32 of raw bytes: the textbook form, kept as the reference the tests compare to. */
export function murmur3Bytes(bytes: Uint8Array, seed = 0): number {
  h = seed | 0;
  k = 0;
  shift = 0;
  for (let i = 0; i < bytes.length; i++) pushByte(bytes[i] as number);
  return finish(bytes.length);
}

/** The percentage bucket of a key: murmur3(value) mod 100, in 0..99. */
export function percentBucket(value: string): number {
  return murmur3(value) % 100;
}
