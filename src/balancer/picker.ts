// Immutable per-service picker snapshots (same tag, else base fallback) built once per config change; pure, never does I/O.

/*
 * Decisions (docs/routing.md, "Which instance"), all taken at build time so that `pick()` only reads a map,
 * advances one cursor and returns a preallocated result:
 *
 * - A service "takes part" in a tag when an ENABLED lane with that tag lists it: `lane.spec.apps`
 *   when given, else the apps of the lane's group. A tag may be used by lanes of several groups;
 *   any enabled one that includes the service is enough.
 * - Untagged requests (tag null or "") only ever get base instances: a canary never receives base
 *   traffic, even when no base instance is left (then the answer is an error, not a canary).
 * - Tagged request, in this order: the service takes part and a healthy instance of the tag is
 *   left → that instance. Otherwise base, `fallback: true`, with the reason:
 *     `unknown-tag`        no lane of these rules has the tag (e.g. a sidecar in file mode with no
 *                          lanes: a tag is only honoured when its lane is known and enabled);
 *     `lane-closed`        lanes with the tag exist but none that includes this service is enabled
 *                          (or all of them are closed);
 *     `not-in-lane`        an enabled lane has the tag but this service does not take part, even if
 *                          an instance carries the tag;
 *     `no-tagged-instance` takes part, but no healthy instance with the tag (or only the excluded).
 * - Errors: no base left → `LANEMESH_NO_BASE_ENDPOINT` when the service still has usable tagged
 *   instances, else `LANEMESH_NO_ENDPOINT`.
 * - Instances: unhealthy, ejected (outlier.ts) or weight <= 0 (drained) instances are never
 *   picked. Two endpoints of one service with the same address:port count once (the first healthy
 *   one wins). An ejected canary is "no healthy instance of the tag": its traffic goes to base.
 * - Results are frozen and shared between picks: callers must not mutate them.
 */

import type { Endpoint, RuleSet } from "../config/types.js";
import { outlierKey } from "./outlier.js";
import { pickable, WeightedRing } from "./weighted.js";

export type FallbackReason = "lane-closed" | "not-in-lane" | "no-tagged-instance" | "unknown-tag";

export type PickResult =
  | {
      ok: true;
      endpoint: Endpoint;
      /** True when a tag was wanted but a base instance was chosen. */
      fallback: boolean;
      /** Why it fell back, when it did. */
      reason?: FallbackReason;
    }
  | { ok: false; code: "LANEMESH_NO_ENDPOINT" | "LANEMESH_NO_BASE_ENDPOINT"; service: string };

export interface Picker {
  readonly service: string;
  /** Synchronous. `tag` null = base request. `exclude` skips one endpoint (retry elsewhere). */
  pick(tag: string | null, exclude?: Endpoint): PickResult;
}

export interface PickerTable {
  /** undefined when the service is unknown (no endpoints at all). */
  get(service: string): Picker | undefined;
  services(): Iterable<string>;
  /** Reverse lookup of `address:port` to the endpoint (outbound calls that dialed an instance). */
  byAddress(address: string, port: number): Endpoint | undefined;
}

export interface PickerOptions {
  /** Source in [0, 1) of each candidate list's starting offset; Math.random by default. */
  random?: () => number;
  /** Instances out of rotation, by `outlierKey` (service, address, port). */
  ejected?: ReadonlySet<string>;
}

/** Index into the base results: 0 = a base request (no fallback), then one per reason. */
const REASONS: readonly (FallbackReason | undefined)[] = [
  undefined,
  "unknown-tag",
  "lane-closed",
  "not-in-lane",
  "no-tagged-instance",
];
const NO_FALLBACK = 0;
const UNKNOWN_TAG = 1;
const LANE_CLOSED = 2;
const NOT_IN_LANE = 3;
const NO_TAGGED_INSTANCE = 4;

type OkResult = Extract<PickResult, { ok: true }>;

/** How one service answers one tag that some lane uses. */
interface TagRoute {
  /** Same-tag candidates when the service takes part; null = go to base with `reason`. */
  readonly ring: WeightedRing<Endpoint> | null;
  readonly reason: number;
  readonly results: OkResult[];
}

/** The lanes using one tag, reduced to what membership needs: the apps of each kind, joined. */
interface TagLanes {
  /** Apps taking part in an enabled lane of the tag. */
  readonly enabled: ReadonlySet<string>;
  /** Apps taking part in a closed lane of the tag. */
  readonly closed: ReadonlySet<string>;
  /** Some lane of the tag is enabled. */
  readonly anyEnabled: boolean;
}

class ServicePicker implements Picker {
  /** results[reason][i]: the frozen result for base candidate i, made on first use. */
  private readonly baseResults: OkResult[][];
  private readonly noBase: PickResult;

  constructor(
    readonly service: string,
    private readonly base: WeightedRing<Endpoint>,
    private readonly routes: ReadonlyMap<string, TagRoute>,
    hasTagged: boolean,
  ) {
    this.baseResults = REASONS.map(() => new Array<OkResult>(base.size));
    this.noBase = Object.freeze({
      ok: false,
      code: hasTagged ? "LANEMESH_NO_BASE_ENDPOINT" : "LANEMESH_NO_ENDPOINT",
      service,
    });
  }

  pick(tag: string | null, exclude?: Endpoint): PickResult {
    if (tag === null || tag === "") return this.pickBase(NO_FALLBACK, exclude);
    const route = this.routes.get(tag);
    if (route === undefined) return this.pickBase(UNKNOWN_TAG, exclude);
    if (route.ring === null) return this.pickBase(route.reason, exclude);
    const i = route.ring.next(exclude);
    if (i < 0) return this.pickBase(NO_TAGGED_INSTANCE, exclude);
    return route.results[i] ?? cache(route.results, i, route.ring, NO_FALLBACK);
  }

  private pickBase(reason: number, exclude: Endpoint | undefined): PickResult {
    const i = this.base.next(exclude);
    if (i < 0) return this.noBase;
    const results = this.baseResults[reason] as OkResult[];
    return results[i] ?? cache(results, i, this.base, reason);
  }
}

/** Makes, freezes and remembers the result for candidate i (once per snapshot, not per pick). */
function cache(
  results: OkResult[],
  i: number,
  ring: WeightedRing<Endpoint>,
  reason: number,
): OkResult {
  const endpoint = ring.items[i] as Endpoint;
  const why = REASONS[reason];
  const result: OkResult = Object.freeze(
    why === undefined
      ? { ok: true as const, endpoint, fallback: false }
      : { ok: true as const, endpoint, fallback: true, reason: why },
  );
  results[i] = result;
  return result;
}

class Table implements PickerTable {
  constructor(
    private readonly pickers: ReadonlyMap<string, Picker>,
    private readonly names: readonly string[],
    private readonly addresses: ReadonlyMap<number, ReadonlyMap<string, Endpoint>>,
  ) {}

  get(service: string): Picker | undefined {
    return this.pickers.get(service);
  }

  services(): Iterable<string> {
    return this.names;
  }

  byAddress(address: string, port: number): Endpoint | undefined {
    return this.addresses.get(port)?.get(address);
  }
}

/**
 * Builds the snapshot the request path reads until the next config change. Endpoints of every
 * health are accepted (unhealthy ones still name their service for `byAddress` and `get`).
 */
export function buildPickers(
  endpoints: readonly Endpoint[],
  rules: RuleSet,
  opts: PickerOptions = {},
): PickerTable {
  const random = opts.random ?? Math.random;
  const lanes = indexLanes(rules);
  const byService = new Map<string, Endpoint[]>();
  const addresses = new Map<number, Map<string, Endpoint>>();
  for (const e of endpoints) {
    let list = byService.get(e.service);
    if (list === undefined) {
      list = [];
      byService.set(e.service, list);
    }
    list.push(e);
    let ports = addresses.get(e.port);
    if (ports === undefined) {
      ports = new Map();
      addresses.set(e.port, ports);
    }
    const seen = ports.get(e.address);
    if (seen === undefined || (!seen.healthy && e.healthy)) ports.set(e.address, e);
  }

  const pickers = new Map<string, Picker>();
  for (const [service, list] of byService) {
    const byTag = groupUsable(list, opts.ejected);
    const base = new WeightedRing(byTag.get(null) ?? [], random());
    const routes = new Map<string, TagRoute>();
    for (const [tag, tagLanes] of lanes) {
      const reason = membership(service, tagLanes);
      const tagged = reason === NO_FALLBACK ? byTag.get(tag) : undefined;
      const ring = tagged === undefined ? null : new WeightedRing(tagged, random());
      routes.set(tag, {
        ring,
        reason: reason === NO_FALLBACK ? NO_TAGGED_INSTANCE : reason,
        results: new Array<OkResult>(ring?.size ?? 0),
      });
    }
    const hasTagged = byTag.size > (byTag.has(null) ? 1 : 0);
    pickers.set(service, new ServicePicker(service, base, routes, hasTagged));
  }
  const names = [...pickers.keys()].sort();
  return new Table(pickers, names, addresses);
}

/** Healthy, pickable, not ejected endpoints of one service by tag (null = base), one per address:port. */
function groupUsable(
  list: readonly Endpoint[],
  ejected: ReadonlySet<string> | undefined,
): Map<string | null, Endpoint[]> {
  const byTag = new Map<string | null, Endpoint[]>();
  const seen = new Set<string>();
  const skip = ejected !== undefined && ejected.size > 0 ? ejected : null;
  for (const e of list) {
    if (!e.healthy || !pickable(e.weight)) continue;
    if (skip?.has(outlierKey(e))) continue;
    const key = `${e.address}\u0000${e.port}`;
    if (seen.has(key)) continue;
    seen.add(key);
    const tag = e.tag === "" ? null : e.tag;
    let group = byTag.get(tag);
    if (group === undefined) {
      group = [];
      byTag.set(tag, group);
    }
    group.push(e);
  }
  return byTag;
}

/** Every tag some lane uses, with the apps of its enabled and of its closed lanes. */
function indexLanes(rules: RuleSet): Map<string, TagLanes> {
  const groupApps = new Map<string, readonly string[]>();
  for (const g of rules.groups) groupApps.set(g.metadata.name, g.spec.apps);
  const index = new Map<
    string,
    { enabled: Set<string>; closed: Set<string>; anyEnabled: boolean }
  >();
  for (const lane of rules.lanes) {
    let entry = index.get(lane.spec.tag);
    if (entry === undefined) {
      entry = { enabled: new Set(), closed: new Set(), anyEnabled: false };
      index.set(lane.spec.tag, entry);
    }
    const open = lane.spec.enabled !== false;
    if (open) entry.anyEnabled = true;
    const into = open ? entry.enabled : entry.closed;
    for (const app of lane.spec.apps ?? groupApps.get(lane.spec.group) ?? []) into.add(app);
  }
  return index;
}

/** NO_FALLBACK when the service takes part in an enabled lane of the tag, else the reason. */
function membership(service: string, lanes: TagLanes): number {
  if (lanes.enabled.has(service)) return NO_FALLBACK;
  if (lanes.closed.has(service)) return LANE_CLOSED;
  return lanes.anyEnabled ? NOT_IN_LANE : LANE_CLOSED;
}
