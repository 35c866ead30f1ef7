// The resources users write (docs/resources.md) as TypeScript types; no parsing or validation here.

export const API_VERSION = "lanemesh.io/v1alpha1";

export const KINDS = ["Route", "LaneGroup", "Lane", "Instance"] as const;
export type Kind = (typeof KINDS)[number];

export interface Metadata {
  name: string;
  labels?: Record<string, string>;
}

/** A base route of an entry gateway: a path match that sends traffic to one service. */
export interface Route {
  apiVersion: typeof API_VERSION;
  kind: "Route";
  metadata: Metadata;
  spec: {
    gateway: string;
    /** Exactly one of prefix or exact. */
    match: { prefix?: string; exact?: string };
    service: string;
  };
}

export type LaneMode = "content" | "ratio";

export interface LaneGroup {
  apiVersion: typeof API_VERSION;
  kind: "LaneGroup";
  metadata: Metadata;
  spec: {
    entry: { gateway: string; routes: string[] };
    apps: string[];
    mode: LaneMode;
  };
}

export type ConditionType = "header" | "cookie" | "query";
export type ConditionOp = "==" | "!=" | "in" | "percentage" | "regex";

export interface Condition {
  type: ConditionType;
  /** Header names compare case-insensitively; cookie and query names exactly. */
  name: string;
  op: ConditionOp;
  /** `==`, `!=`, `regex`: a string; `percentage`: a number 0..100. */
  value?: string | number;
  /** `in`: a non-empty list. */
  values?: string[];
}

export interface Lane {
  apiVersion: typeof API_VERSION;
  kind: "Lane";
  metadata: Metadata;
  spec: {
    group: string;
    tag: string;
    /** false = closed: its tag is ignored everywhere and traffic goes to base. Default true. */
    enabled: boolean;
    /** Apps of the group that take part; default: all of the group's apps. */
    apps?: string[];
    /** Content mode only. */
    match?: { mode: "all" | "any"; conditions: Condition[] };
    /** Ratio mode only: percent of every entry route's traffic... */
    weight?: number;
    /** ...or per route name. */
    weights?: Record<string, number>;
    /** Automatic rollback (docs/resources.md "Guarded lanes"). */
    guard?: LaneGuard;
  };
}

/** A lane's guard, defaults applied by the validator. */
export interface LaneGuard {
  /** 0..1 */
  maxErrorRate?: number;
  maxP99Ms?: number;
  minRequests: number;
  /** `30s`, `2m`: 1s..10m. */
  window: string;
}

/** A guard window (`30s`, `2m`) in milliseconds. */
export function guardWindowMs(window: string): number {
  const n = Number.parseInt(window, 10);
  return window.endsWith("m") ? n * 60_000 : n * 1000;
}

/** One instance of a service, as static discovery files write it (docs/discovery.md). */
export interface Instance {
  apiVersion: typeof API_VERSION;
  kind: "Instance";
  metadata: Metadata;
  spec: {
    service: string;
    address: string;
    port: number;
    /** Absent = base. */
    tag?: string;
    /** Default 100. */
    weight?: number;
    /** Default true. */
    healthy?: boolean;
    metadata?: Record<string, string>;
  };
}

export type Resource = Route | LaneGroup | Lane | Instance;

/** The rules a proxy routes by: every route, group and lane, in declared order. */
export interface RuleSet {
  routes: Route[];
  groups: LaneGroup[];
  lanes: Lane[];
}

/** A resolved endpoint as resolvers emit it and pickers read it. */
export interface Endpoint {
  service: string;
  address: string;
  port: number;
  /** null = base. */
  tag: string | null;
  weight: number;
  healthy: boolean;
  metadata: Record<string, string>;
}

/** Where one resource came from, for error messages. */
export interface Origin {
  file: string;
  /** 0-based index of the YAML document in its file. */
  doc: number;
}
