// User regexes for `regex` conditions: compiled once with re2js (linear-time RE2), size-capped; never evaluates a backtracking engine.
import { RE2JS } from "re2js";

/** Longest pattern accepted, in characters. */
export const MAX_PATTERN_LENGTH = 1024;
/**
 * Largest compiled program accepted, in RE2 instructions. Past about 480 instructions re2js can
 * leave its DFA for the NFA, which costs about 100 ms per 4 KiB value; at 400 every pattern we
 * measured stays under a millisecond. `^[a-zA-Z0-9]{32}$` is 36 instructions.
 */
export const MAX_PROGRAM_SIZE = 400;
/** Values longer than this (UTF-16 code units, ~4 KiB of ASCII) never match a regex condition. */
export const MAX_INPUT_LENGTH = 4096;

/**
 * A compiled lane regex. `test` is a search (like RegExp.test): anchor with ^…$ for a full match.
 * It remembers its last input and answer, so share one LaneRegex per pattern.
 */
export interface LaneRegex {
  readonly pattern: string;
  test(value: string): boolean;
}

export type RegexProblem = "too-long" | "unsafe" | "syntax" | "too-large";

export type RegexResult =
  | { ok: true; regex: LaneRegex }
  | { ok: false; problem: RegexProblem; message: string };

export interface RegexOptions {
  /** Override MAX_INPUT_LENGTH (tests of the engine itself); values longer than it never match. */
  maxInputLength?: number;
}

/**
 * Why a pattern needs a backtracking engine, or null. RE2 refuses these too, but with a bare
 * syntax error; naming the construct tells the user why we will not run it.
 */
export function backtrackingConstruct(pattern: string): string | null {
  let inClass = false;
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i];
    if (c === "\\") {
      const next = pattern[i + 1];
      if (next !== undefined && next >= "1" && next <= "9") return `backreference \\${next}`;
      if (next === "k" && pattern[i + 2] === "<") return "named backreference \\k<…>";
      if (next === "Q") {
        // \Q…\E quotes a literal: nothing inside is syntax.
        const end = pattern.indexOf("\\E", i + 2);
        i = end === -1 ? pattern.length : end + 1;
        continue;
      }
      i++;
      continue;
    }
    if (inClass) {
      if (c === "]") inClass = false;
      continue;
    }
    if (c === "[") {
      inClass = true;
      // A `]` right after `[` or `[^` is a literal.
      if (pattern[i + 1] === "^") i++;
      if (pattern[i + 1] === "]") i++;
      continue;
    }
    if (c === "(" && pattern[i + 1] === "?") {
      const rest = pattern.slice(i + 2, i + 4);
      if (rest.startsWith("=")) return "lookahead (?=…)";
      if (rest.startsWith("!")) return "negative lookahead (?!…)";
      if (rest === "<=") return "lookbehind (?<=…)";
      if (rest === "<!") return "negative lookbehind (?<!…)";
      if (rest.startsWith(">")) return "atomic group (?>…)";
    }
    if ((c === "+" || c === "*" || c === "?") && pattern[i + 1] === "+") {
      return "possessive quantifier";
    }
  }
  return null;
}

/** Compile a user's pattern, or say why it is refused. Never throws. */
export function compileLaneRegex(pattern: string, opts: RegexOptions = {}): RegexResult {
  if (pattern.length > MAX_PATTERN_LENGTH) {
    return {
      ok: false,
      problem: "too-long",
      message: `regex is ${pattern.length} characters; at most ${MAX_PATTERN_LENGTH} are allowed`,
    };
  }
  const construct = backtrackingConstruct(pattern);
  if (construct !== null) {
    return {
      ok: false,
      problem: "unsafe",
      message: `unsafe regex: ${construct} needs a backtracking engine; only linear-time RE2 syntax is allowed`,
    };
  }
  let re: RE2JS;
  try {
    re = RE2JS.compile(pattern);
  } catch (err) {
    const detail = err instanceof Error ? err.message : String(err);
    return { ok: false, problem: "syntax", message: `regex does not compile: ${detail}` };
  }
  const size = re.programSize();
  if (size > MAX_PROGRAM_SIZE) {
    return {
      ok: false,
      problem: "too-large",
      message: `unsafe regex: it compiles to ${size} RE2 instructions; at most ${MAX_PROGRAM_SIZE} are allowed (large bounded repeats cost time on every request)`,
    };
  }
  const maxInput = opts.maxInputLength ?? MAX_INPUT_LENGTH;
  // One-entry memo: lanes sharing a pattern on the same key cost one evaluation per request.
  let lastValue: string | undefined;
  let lastResult = false;
  return {
    ok: true,
    regex: {
      pattern,
      test(value: string): boolean {
        if (value === lastValue) return lastResult;
        const result = value.length <= maxInput && re.test(value);
        lastValue = value;
        lastResult = result;
        return result;
      },
    },
  };
}
