// Smooth weighted round robin over one fixed candidate list (nginx's algorithm); pure, never does I/O and never allocates per pick.

/*
 * Why smooth weighted round robin (SWRR) and not power-of-two-choices (P2C):
 *
 * - P2C is only better than random when it can compare a live load signal (in-flight requests,
 *   latency EWMA) between its two draws. Our picker is a pure snapshot with no feedback from the
 *   forwarder (ARCHITECTURE.md: pickers never do I/O), so P2C would degrade to a weighted random
 *   pick: shares right only on average, and runs of several picks on one instance.
 * - SWRR is deterministic: over every cycle of sum(weights) picks each instance gets exactly its
 *   weight, and the picks are interleaved (weights 1:3 give `b a b b`, never `a a`), which keeps a
 *   small canary fleet evenly loaded. It needs no random draw per pick.
 * - Cost: O(1) when all weights are equal (SWRR then reduces to plain round robin, which is what we
 *   run), O(n) over a typed array otherwise. The cursor state is the only mutable part of a
 *   snapshot, like grpc-js's round-robin picker keeps its index.
 *
 * Weight rules: weight <= 0 (or not a finite number) means drained: never picked. The caller
 * filters those out before building a ring. Weights may be fractions (Nacos writes 1.0, 0.5).
 */

/** What a ring needs from its items: an identity for `exclude` (same address:port = same item). */
export interface Addressed {
  readonly address: string;
  readonly port: number;
  readonly weight: number;
}

/** True when the weight makes an item pickable (a positive finite number). */
export function pickable(weight: number): boolean {
  return weight > 0 && Number.isFinite(weight);
}

/**
 * One (service, tag) candidate list with its cursor. `items` are already filtered (healthy,
 * pickable weight, no two with the same address:port) and never change after construction.
 */
export class WeightedRing<T extends Addressed> {
  /** The candidates, rotated by the starting offset. Index space of `next()`. */
  readonly items: readonly T[];
  /** null when all weights are equal: plain round robin. */
  private readonly weights: Float64Array | null;
  private readonly current: Float64Array | null;
  private readonly totalWeight: number;
  /** Item object → index, for `exclude` by identity without a scan. Empty for round robin. */
  private readonly index = new Map<T, number>();
  private cursor = 0;

  /**
   * `offset` in [0, 1) picks where the cycle starts (rotation of the list), so that many proxies
   * built from the same snapshot do not all send their first request to the same instance.
   */
  constructor(items: readonly T[], offset = 0) {
    const n = items.length;
    const start = n === 0 ? 0 : Math.min(n - 1, Math.max(0, Math.floor(offset * n)));
    this.items = start === 0 ? items.slice() : [...items.slice(start), ...items.slice(0, start)];
    let equal = true;
    let total = 0;
    for (const item of this.items) {
      total += item.weight;
      if (item.weight !== this.items[0]?.weight) equal = false;
    }
    this.totalWeight = total;
    if (equal) {
      this.weights = null;
      this.current = null;
    } else {
      this.weights = Float64Array.from(this.items, (i) => i.weight);
      this.current = new Float64Array(n);
      for (let i = 0; i < n; i++) this.index.set(this.items[i] as T, i);
    }
  }

  get size(): number {
    return this.items.length;
  }

  /** Sum of the weights (for shares in `/config` and tests). */
  get total(): number {
    return this.totalWeight;
  }

  /**
   * Index of the next candidate, skipping the item at `exclude`'s address:port (a retry must go
   * elsewhere); -1 when no candidate is left. Advances the cursor.
   */
  next(exclude?: { readonly address: string; readonly port: number }): number {
    const n = this.items.length;
    if (n === 0) return -1;
    if (this.weights === null || this.current === null) return this.nextRoundRobin(n, exclude);
    const skip = exclude === undefined ? -1 : this.indexOf(exclude);
    return this.nextSmooth(n, skip, this.weights, this.current);
  }

  /** O(1) even with `exclude`: only the candidate under the cursor can be the excluded one. */
  private nextRoundRobin(
    n: number,
    exclude: { readonly address: string; readonly port: number } | undefined,
  ): number {
    let i = this.cursor;
    this.cursor = i + 1 === n ? 0 : i + 1;
    if (exclude !== undefined && same(this.items[i] as T, exclude)) {
      if (n === 1) return -1;
      i = this.cursor;
      this.cursor = i + 1 === n ? 0 : i + 1;
    }
    return i;
  }

  /** nginx's ngx_http_upstream_get_peer: every item gains its weight, the largest pays the total. */
  private nextSmooth(
    n: number,
    skip: number,
    weights: Float64Array,
    current: Float64Array,
  ): number {
    let best = -1;
    let bestCurrent = Number.NEGATIVE_INFINITY;
    let total = 0;
    for (let i = 0; i < n; i++) {
      if (i === skip) continue;
      const w = weights[i] as number;
      const c = (current[i] as number) + w;
      current[i] = c;
      total += w;
      if (c > bestCurrent) {
        best = i;
        bestCurrent = c;
      }
    }
    if (best >= 0) current[best] = bestCurrent - total;
    return best;
  }

  /** The excluded item's index: by identity first (retries pass back the picked endpoint). */
  private indexOf(target: { readonly address: string; readonly port: number }): number {
    const byRef = this.index.get(target as T);
    if (byRef !== undefined) return byRef;
    const items = this.items;
    for (let i = 0; i < items.length; i++) if (same(items[i] as T, target)) return i;
    return -1;
  }
}

function same(a: Addressed, b: { readonly address: string; readonly port: number }): boolean {
  return a.port === b.port && a.address === b.address;
}
