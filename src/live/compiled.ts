// The config in force as one immutable value (rules, matcher, pickers, service names), compiled once per change; pure, it never does I/O.
import { buildPickers, type PickerTable } from "../balancer/picker.js";
import type { Endpoint, RuleSet } from "../config/types.js";
import { compileMatcher, type Matcher } from "../lane/rules/matcher.js";
import { ServiceNames } from "./service-names.js";

/** Everything the request path reads, built at config time. Replaced whole, never mutated. */
export interface Compiled {
  /** Version of the rules in force (control plane's version, or `file:<hash>`). */
  readonly version: string;
  readonly rules: RuleSet;
  readonly endpoints: readonly Endpoint[];
  readonly matcher: Matcher;
  readonly pickers: PickerTable;
  /** The names outbound requests may give services (route stage). */
  readonly names: ServiceNames;
  /** Every tag the config knows (its lanes' and instances'): the only tags metrics may label. */
  readonly knownTags: ReadonlySet<string>;
  /** Date.now() when the rules were received from their source. */
  readonly receivedAt: number;
}

export interface CompileOptions {
  /** Gateway name the matcher is compiled for (`default`). */
  gateway: string;
  random?: () => number;
  /** Instances out of rotation (keys of balancer/outlier.ts). */
  ejected: ReadonlySet<string>;
}

/** Compile rules and endpoints. Throws (RuleCompileError) when the rules cannot be compiled. */
export function compile(
  rules: RuleSet,
  endpoints: readonly Endpoint[],
  version: string,
  receivedAt: number,
  opts: CompileOptions,
): Compiled {
  const matcher = compileMatcher(rules, {
    gateway: opts.gateway,
    ...(opts.random ? { random: opts.random } : {}),
  });
  return withPickers({ version, rules, endpoints, matcher, receivedAt }, opts);
}

/** The same rules with pickers (and names) rebuilt, e.g. after an ejection. */
export function withPickers(
  c: Pick<Compiled, "version" | "rules" | "endpoints" | "matcher" | "receivedAt">,
  opts: CompileOptions,
): Compiled {
  const pickers = buildPickers(c.endpoints, c.rules, {
    ...(opts.random ? { random: opts.random } : {}),
    ejected: opts.ejected,
  });
  return {
    version: c.version,
    rules: c.rules,
    endpoints: c.endpoints,
    matcher: c.matcher,
    pickers,
    names: new ServiceNames(c.rules, pickers),
    knownTags: tagsOf(c.rules, c.endpoints),
    receivedAt: c.receivedAt,
  };
}

function tagsOf(rules: RuleSet, endpoints: readonly Endpoint[]): ReadonlySet<string> {
  const tags = new Set<string>();
  for (const lane of rules.lanes) tags.add(lane.spec.tag);
  for (const e of endpoints) if (e.tag !== null) tags.add(e.tag);
  return tags;
}
