// The "latest value" watch of the config in force: sources set rules and endpoints, the request path reads one compiled value synchronously; it never does I/O.
import type { Endpoint, RuleSet } from "../config/types.js";
import type { ProxyMetrics } from "../telemetry/metrics.js";
import { type Compiled, type CompileOptions, compile, withPickers } from "./compiled.js";

export type { Compiled } from "./compiled.js";

export interface LiveConfigOptions {
  /** Gateway name the matcher is compiled for (`default`). */
  gateway?: string;
  metrics?: ProxyMetrics;
  random?: () => number;
}

const EMPTY_RULES: RuleSet = { routes: [], groups: [], lanes: [] };

/**
 * A "latest value" watch: sources (files, control plane, registries) set rules and endpoints,
 * the request path reads `current()` synchronously. Listeners run synchronously after a swap.
 */
export class LiveConfig {
  private compiled: Compiled | undefined;
  private rules: RuleSet = EMPTY_RULES;
  private rulesVersion: string | undefined;
  private receivedAt = 0;
  private endpoints: Endpoint[] = [];
  private ejected: ReadonlySet<string> = new Set();
  private readonly listeners = new Set<(c: Compiled) => void>();

  constructor(private readonly opts: LiveConfigOptions = {}) {}

  /** The config in force, undefined until rules have been set once. */
  current(): Compiled | undefined {
    return this.compiled;
  }

  ready(): boolean {
    return this.compiled !== undefined;
  }

  /** Install validated rules. Throws (and changes nothing) if they cannot be compiled. */
  setRules(rules: RuleSet, version: string, receivedAt = Date.now()): void {
    this.swap(rules, version, this.endpoints, receivedAt);
  }

  /** Install a full endpoint set from discovery. Kept until rules arrive if none yet. */
  setEndpoints(endpoints: Endpoint[]): void {
    if (this.rulesVersion === undefined) {
      this.endpoints = endpoints;
      this.publishEndpointCounts(endpoints);
      return;
    }
    this.swap(this.rules, this.rulesVersion, endpoints, this.receivedAt);
  }

  /** Install rules and endpoints together (one control-plane snapshot). */
  setAll(rules: RuleSet, endpoints: Endpoint[], version: string, receivedAt = Date.now()): void {
    this.swap(rules, version, endpoints, receivedAt);
  }

  /**
   * Take instances out of rotation (keys of balancer/outlier.ts), or put them back: rebuilds the
   * pickers of the config in force (rules and matcher are kept) and applies to later configs too.
   */
  setEjected(keys: ReadonlySet<string>): void {
    this.ejected = keys;
    const c = this.compiled;
    if (c === undefined) return;
    const next = withPickers(c, this.compileOptions());
    this.compiled = next;
    for (const cb of this.listeners) cb(next);
  }

  onChange(cb: (c: Compiled) => void): () => void {
    this.listeners.add(cb);
    return () => this.listeners.delete(cb);
  }

  private swap(rules: RuleSet, version: string, endpoints: Endpoint[], receivedAt: number): void {
    const next = compile(rules, endpoints, version, receivedAt, this.compileOptions());
    this.rules = rules;
    this.rulesVersion = version;
    this.receivedAt = receivedAt;
    this.endpoints = endpoints;
    this.compiled = next;
    this.publishEndpointCounts(endpoints);
    const n = Number.parseInt(version.replace(/^\D+/, ""), 10);
    this.opts.metrics?.configVersion.set(Number.isFinite(n) ? n : 0);
    for (const cb of this.listeners) cb(next);
  }

  private compileOptions(): CompileOptions {
    return {
      gateway: this.opts.gateway ?? "default",
      ...(this.opts.random ? { random: this.opts.random } : {}),
      ejected: this.ejected,
    };
  }

  private publishEndpointCounts(endpoints: Endpoint[]): void {
    const m = this.opts.metrics;
    if (!m) return;
    const counts = new Map<string, { service: string; tag: string | null; count: number }>();
    for (const e of endpoints) {
      if (!e.healthy) continue;
      const key = `${e.service}\u0000${e.tag ?? ""}`;
      const c = counts.get(key);
      if (c) c.count++;
      else counts.set(key, { service: e.service, tag: e.tag, count: 1 });
    }
    m.setEndpointCounts(counts.values());
  }
}
