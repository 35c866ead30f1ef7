// INTERFACE STUB (to be implemented): compiles a RuleSet into a synchronous lane matcher.
import type { RuleSet } from "../config/types.js";
import type { RequestView } from "./request.js";

/** The outcome of classifying one entry request. All null fields = no route / base. */
export interface LaneDecision {
  /** Name of the matched Route, null when no route matched (the gateway answers 404). */
  route: string | null;
  /** The Route's target service, null when no route matched. */
  service: string | null;
  group: string | null;
  lane: string | null;
  /** The lane tag; null = base. */
  tag: string | null;
}

export interface MatcherOptions {
  /** Gateway name whose routes are used (Route.spec.gateway, LaneGroup.spec.entry.gateway). */
  gateway: string;
  /** Ratio-mode draw source in [0, 1); Math.random by default. */
  random?: () => number;
}

export interface Matcher {
  match(req: RequestView): LaneDecision;
}

export function compileMatcher(_rules: RuleSet, _opts: MatcherOptions): Matcher {
  throw new Error("not implemented");
}
