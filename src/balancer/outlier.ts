// Passive outlier detection: counts each instance's consecutive failed attempts and decides ejections and returns; pure (the clock is passed in), it never picks, times or forwards.

/*
 * Decisions (Envoy's outlier detection, reduced to what lanes need):
 *
 * - An instance is ejected after `consecutiveErrors` failed attempts in a row (a success resets
 *   the count). What counts as a failure is the caller's choice (see proxy/ejection.ts).
 * - The n-th ejection in a row lasts min(n × baseEjectionMs, maxEjectionMs). When it ends the
 *   instance takes traffic again; its first success clears the history (the next ejection is a
 *   first one again), new failures count from zero.
 * - Guards, checked at the moment of ejection (the "panic" rule of lanes: base is everybody's
 *   fallback, so it must never be emptied by ejection):
 *     - at least one base instance of the service stays in: the last base instance is never
 *       ejected, and neither is a tagged one when no base instance would be left to fall back to;
 *     - at most `maxEjectionPercent` % of the service's instances are out at once, but at least
 *       one may be (so a single canary beside its base can always be ejected).
 *   A failure that a guard stops from ejecting keeps the count, so the instance is ejected at its
 *   next failure once the guard allows it.
 * - Instances are known by service, address and port (the picker's identity). `retain` forgets
 *   every instance that left the config; one that comes back starts clean.
 */

/** The instance fields the detector reads (an Endpoint fits). */
export interface OutlierTarget {
  readonly service: string;
  readonly address: string;
  readonly port: number;
  readonly tag: string | null;
  readonly healthy: boolean;
}

export interface OutlierPolicy {
  /** Failed attempts in a row that eject an instance; 0 turns detection off. */
  consecutiveErrors: number;
  /** Length of a first ejection, ms; the n-th in a row lasts n times as long. */
  baseEjectionMs: number;
  /** Longest ejection, ms. */
  maxEjectionMs: number;
  /** Most of a service's instances ejected at once, 0..100 (at least one may always be). */
  maxEjectionPercent: number;
}

/** Envoy's base ejection time and cap (30 s, 300 s), a failure count between Envoy's 5 and Linkerd's 7. */
export const DEFAULT_OUTLIER_POLICY: Readonly<OutlierPolicy> = Object.freeze({
  consecutiveErrors: 5,
  baseEjectionMs: 30_000,
  maxEjectionMs: 300_000,
  maxEjectionPercent: 50,
});

/** An instance out of rotation, for logs, metrics and /config. */
export interface Ejection {
  readonly service: string;
  readonly address: string;
  readonly port: number;
  readonly tag: string | null;
  /** Ejections in a row, this one included. */
  readonly count: number;
  /** Clock time it returns at. */
  readonly until: number;
}

/** The key the picker filters on: service, address and port. */
export function outlierKey(t: { service: string; address: string; port: number }): string {
  return `${t.service}\u0000${t.address}\u0000${t.port}`;
}

interface State {
  target: OutlierTarget;
  /** Failures in a row since the last success (or return). */
  failures: number;
  /** Ejections in a row; cleared by a success after the instance returned. */
  ejections: number;
  /** 0 while in rotation. */
  until: number;
}

/** Per service: its instances in the config, and how many of them are base. */
interface Members {
  total: number;
  base: number;
}

export class OutlierDetector {
  /** Only instances with a history (a failure or an ejection) have an entry. */
  private readonly states = new Map<string, State>();
  private readonly members = new Map<string, Members>();
  private readonly out = new Set<string>();

  constructor(
    readonly policy: Readonly<OutlierPolicy>,
    private readonly now: () => number,
  ) {}

  get enabled(): boolean {
    return this.policy.consecutiveErrors > 0;
  }

  /** True when some instance has a history: until then `success` has nothing to clear. */
  get tracking(): boolean {
    return this.states.size !== 0;
  }

  /** Keys of the ejected instances (a new set each call; the picker keeps it). */
  ejectedKeys(): Set<string> {
    return new Set(this.out);
  }

  /** The instances out of rotation now. */
  ejections(): Ejection[] {
    const list: Ejection[] = [];
    for (const key of this.out) {
      const s = this.states.get(key) as State;
      list.push(describe(s));
    }
    return list;
  }

  /** Clock time of the next return, or null when nothing is ejected. */
  nextReturn(): number | null {
    let next: number | null = null;
    for (const key of this.out) {
      const until = (this.states.get(key) as State).until;
      if (next === null || until < next) next = until;
    }
    return next;
  }

  /**
   * The instances of the config in force (healthy ones count for the guards). Forgets every
   * instance not in it; returns true when that took an ejected one out of the ejected set.
   */
  retain(targets: Iterable<OutlierTarget>): boolean {
    this.members.clear();
    const present = new Set<string>();
    for (const t of targets) {
      if (!t.healthy) continue;
      const key = outlierKey(t);
      if (present.has(key)) continue;
      present.add(key);
      let m = this.members.get(t.service);
      if (m === undefined) {
        m = { total: 0, base: 0 };
        this.members.set(t.service, m);
      }
      m.total++;
      if (t.tag === null || t.tag === "") m.base++;
    }
    let changed = false;
    for (const key of this.states.keys()) {
      if (present.has(key)) continue;
      this.states.delete(key);
      if (this.out.delete(key)) changed = true;
    }
    return changed;
  }

  /** A successful attempt: the failure count and, once returned, the ejection history clear. */
  success(t: OutlierTarget): void {
    if (this.states.size === 0) return;
    const key = outlierKey(t);
    const s = this.states.get(key);
    if (s !== undefined && s.until === 0) this.states.delete(key);
  }

  /** A failed attempt. Returns the ejection it caused, or null. */
  failure(t: OutlierTarget): Ejection | null {
    if (!this.enabled) return null;
    const key = outlierKey(t);
    let s = this.states.get(key);
    if (s === undefined) {
      s = { target: t, failures: 0, ejections: 0, until: 0 };
      this.states.set(key, s);
    }
    if (s.until !== 0) return null; // already out: answers of attempts made before the ejection
    s.failures++;
    if (s.failures < this.policy.consecutiveErrors || !this.mayEject(t)) return null;
    s.failures = 0;
    s.ejections++;
    const p = this.policy;
    s.until = this.now() + Math.min(s.ejections * p.baseEjectionMs, p.maxEjectionMs);
    this.out.add(key);
    return describe(s);
  }

  /** Return every instance whose ejection has ended; returns them (empty when none). */
  expire(): Ejection[] {
    const now = this.now();
    const back: Ejection[] = [];
    for (const key of this.out) {
      const s = this.states.get(key) as State;
      if (s.until > now) continue;
      back.push(describe(s));
      s.until = 0;
      s.failures = 0;
      this.out.delete(key);
    }
    return back;
  }

  private mayEject(t: OutlierTarget): boolean {
    const m = this.members.get(t.service);
    if (m === undefined) return false; // not in the config in force: nothing to take out
    let outTotal = 0;
    let outBase = 0;
    for (const key of this.out) {
      const o = (this.states.get(key) as State).target;
      if (o.service !== t.service) continue;
      outTotal++;
      if (o.tag === null || o.tag === "") outBase++;
    }
    const isBase = t.tag === null || t.tag === "";
    const baseLeft = m.base - outBase - (isBase ? 1 : 0);
    if (baseLeft < 1) return false;
    const cap = Math.max(1, Math.floor((m.total * this.policy.maxEjectionPercent) / 100));
    return outTotal < cap;
  }
}

function describe(s: State): Ejection {
  const t = s.target;
  return {
    service: t.service,
    address: t.address,
    port: t.port,
    tag: t.tag === "" ? null : t.tag,
    count: s.ejections,
    until: s.until,
  };
}
