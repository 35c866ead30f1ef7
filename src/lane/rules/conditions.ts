// Compiles lane conditions (header | cookie | query × == != in percentage regex) into predicates; all parsing happens here, none per request.

import { compileLaneRegex, type LaneRegex } from "../../config/regex.js";
import type { Condition } from "../../config/types.js";
import { percentBucket } from "./hash.js";
import type { RequestView } from "./request.js";

/** A compiled condition: synchronous; allocation-free. */
export type Predicate = (req: RequestView) => boolean;

/** A rule that cannot be compiled (it skipped validation). Stable code for NACKs and logs. */
export class RuleCompileError extends Error {
  readonly code = "LANEMESH_BAD_RULE";
  constructor(
    message: string,
    /** Where in the rule, e.g. `Lane/gray: spec.match.conditions[0].value`. */
    readonly where: string,
  ) {
    super(`${where}: ${message}`);
    this.name = "RuleCompileError";
  }
}

type Read = (req: RequestView) => string | undefined;

/** Advanced once per request by the Matcher; memoized reads and conditions are valid for one epoch. */
export interface RequestClock {
  epoch: number;
}

/**
 * State shared by the conditions of one compiled matcher. Always: one regex per pattern and one
 * bucket memo per key (both keyed by value, so always correct). With a `clock`: one reader per
 * key and one predicate per distinct condition, each memoized for the current epoch, so 50 lanes
 * that test the same header read it once and evaluate a shared condition once per request.
 */
export interface CompileContext {
  readonly regexes: Map<string, LaneRegex>;
  readonly buckets: Map<string, (value: string) => number>;
  readonly readers: Map<string, Read>;
  readonly predicates: Map<string, Predicate>;
  readonly clock: RequestClock | null;
}

/** A context; pass a clock only if something advances it before every request (the Matcher). */
export function newCompileContext(clock: RequestClock | null = null): CompileContext {
  return {
    regexes: new Map(),
    buckets: new Map(),
    readers: new Map(),
    predicates: new Map(),
    clock,
  };
}

function bucketMemo(): (value: string) => number {
  let last: string | undefined;
  let bucket = 0;
  return (value) => {
    if (value !== last) {
      bucket = percentBucket(value);
      last = value;
    }
    return bucket;
  };
}

function keyName(c: Condition): string {
  return c.type === "header" ? c.name.toLowerCase() : c.name;
}

function rawReader(c: Condition, where: string): Read {
  switch (c.type) {
    case "header": {
      const name = c.name.toLowerCase();
      return (req) => req.header(name);
    }
    case "cookie": {
      const name = c.name;
      return (req) => req.cookie(name);
    }
    case "query": {
      const name = c.name;
      return (req) => req.query(name);
    }
    default:
      throw new RuleCompileError(
        `unknown condition type ${JSON.stringify(c.type)}`,
        `${where}.type`,
      );
  }
}

function reader(c: Condition, where: string, ctx: CompileContext): Read {
  if (typeof c.name !== "string" || c.name === "") {
    throw new RuleCompileError("a condition needs a name", `${where}.name`);
  }
  const clock = ctx.clock;
  if (clock === null) return rawReader(c, where);
  const key = `${c.type}\u0000${keyName(c)}`;
  const known = ctx.readers.get(key);
  if (known !== undefined) return known;
  const read = rawReader(c, where);
  let seen = -1;
  let value: string | undefined;
  const memo: Read = (req) => {
    if (seen !== clock.epoch) {
      value = read(req);
      seen = clock.epoch;
    }
    return value;
  };
  ctx.readers.set(key, memo);
  return memo;
}

/**
 * Compile one condition. Semantics, all on the value of the key (exact, case-sensitive):
 * - a missing key makes every op false, `!=` included: a request without the header is not in
 *   the lane;
 * - `in`: equal to one of `values`; `percentage`: murmur3 bucket (hash.ts) below `value`;
 * - `regex`: RE2 search, so `gray` matches `x-gray-1`; anchor with `^…$` for a whole-value match.
 * Throws RuleCompileError when the condition is malformed.
 */
export function compileCondition(
  c: Condition,
  where: string,
  ctx: CompileContext = newCompileContext(),
): Predicate {
  const clock = ctx.clock;
  if (clock === null) return compileRaw(c, where, ctx);
  const key = JSON.stringify([
    c.type,
    typeof c.name === "string" ? keyName(c) : c.name,
    c.op,
    c.value,
    c.values,
  ]);
  const known = ctx.predicates.get(key);
  if (known !== undefined) return known;
  const test = compileRaw(c, where, ctx);
  let seen = -1;
  let result = false;
  const memo: Predicate = (req) => {
    if (seen !== clock.epoch) {
      result = test(req);
      seen = clock.epoch;
    }
    return result;
  };
  ctx.predicates.set(key, memo);
  return memo;
}

function compileRaw(c: Condition, where: string, ctx: CompileContext): Predicate {
  const read = reader(c, where, ctx);
  switch (c.op) {
    case "==": {
      const want = requireString(c, where);
      return (req) => read(req) === want;
    }
    case "!=": {
      const want = requireString(c, where);
      return (req) => {
        const v = read(req);
        return v !== undefined && v !== want;
      };
    }
    case "in": {
      const values = c.values;
      if (!Array.isArray(values) || values.length === 0) {
        throw new RuleCompileError("`in` needs a non-empty `values` list", `${where}.values`);
      }
      if (values.length <= 4) {
        const list = values.slice();
        return (req) => {
          const v = read(req);
          return v !== undefined && list.includes(v);
        };
      }
      const set = new Set(values);
      return (req) => {
        const v = read(req);
        return v !== undefined && set.has(v);
      };
    }
    case "percentage": {
      const percent = c.value;
      if (typeof percent !== "number" || !(percent >= 0 && percent <= 100)) {
        throw new RuleCompileError("percentage needs a number 0..100", `${where}.value`);
      }
      if (percent === 0) return () => false;
      const key = `${c.type}\u0000${keyName(c)}`;
      let bucketOf = ctx.buckets.get(key);
      if (bucketOf === undefined) {
        bucketOf = bucketMemo();
        ctx.buckets.set(key, bucketOf);
      }
      const bucket = bucketOf;
      return (req) => {
        const v = read(req);
        return v !== undefined && bucket(v) < percent;
      };
    }
    case "regex": {
      const pattern = requireString(c, where);
      let re = ctx.regexes.get(pattern);
      if (re === undefined) {
        const result = compileLaneRegex(pattern);
        if (!result.ok) throw new RuleCompileError(result.message, `${where}.value`);
        re = result.regex;
        ctx.regexes.set(pattern, re);
      }
      const regex = re;
      return (req) => {
        const v = read(req);
        return v !== undefined && regex.test(v);
      };
    }
    default:
      throw new RuleCompileError(`unknown op ${JSON.stringify(c.op)}`, `${where}.op`);
  }
}

function requireString(c: Condition, where: string): string {
  if (typeof c.value !== "string") {
    throw new RuleCompileError(`op ${c.op} needs a string value`, `${where}.value`);
  }
  return c.value;
}

/** Combine compiled conditions: `all` (Meet All Conditions) or `any` (Meet Any Condition). */
export function combine(mode: "all" | "any", preds: Predicate[]): Predicate {
  if (preds.length === 1) return preds[0] as Predicate;
  const list = preds.slice();
  const n = list.length;
  if (mode === "all") {
    return (req) => {
      for (let i = 0; i < n; i++) if (!(list[i] as Predicate)(req)) return false;
      return true;
    };
  }
  return (req) => {
    for (let i = 0; i < n; i++) if ((list[i] as Predicate)(req)) return true;
    return false;
  };
}
