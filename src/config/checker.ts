// Field-level checks for one YAML document (types, ranges, unknown fields), collecting ConfigErrors; knows no resource kinds.
import type { ConfigError, RawDocument } from "./document.js";
import { lineOf } from "./source.js";

export type Path = readonly (string | number)[];

const SIMPLE_KEY = /^[A-Za-z_][A-Za-z0-9_-]*$/;

/** `spec.match.conditions[0].op`; keys that are not identifier-like print as `["a.b"]`. */
export function formatPath(path: Path): string {
  let out = "";
  for (const seg of path) {
    if (typeof seg === "number") out += `[${seg}]`;
    else if (SIMPLE_KEY.test(seg)) out += out === "" ? seg : `.${seg}`;
    else out += `[${JSON.stringify(seg)}]`;
  }
  return out;
}

export function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v) && !(v instanceof Uint8Array);
}

/** A short description of a YAML value's type for messages. */
export function typeName(v: unknown): string {
  if (v === null || v === undefined) return "empty";
  if (Array.isArray(v)) return "a list";
  if (isRecord(v)) return "a mapping";
  if (typeof v === "string")
    return `the string ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}…` : v)}`;
  if (typeof v === "number" || typeof v === "boolean") return `${typeof v} ${String(v)}`;
  return typeof v;
}

/** A value as a user wrote it: strings quoted, everything else described. */
export function shown(v: unknown): string {
  return typeof v === "string" ? JSON.stringify(v) : typeName(v);
}

function editDistance(a: string, b: string): number {
  const prev = Array.from({ length: b.length + 1 }, (_, i) => i);
  for (let i = 1; i <= a.length; i++) {
    let diag = prev[0] as number;
    prev[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const up = prev[j] as number;
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      prev[j] = Math.min(up + 1, (prev[j - 1] as number) + 1, diag + cost);
      diag = up;
    }
  }
  return prev[b.length] as number;
}

function suggestion(key: string, allowed: readonly string[]): string {
  let best: string | undefined;
  let bestD = 3;
  for (const a of allowed) {
    const d = editDistance(key.toLowerCase(), a.toLowerCase());
    if (d < bestD) {
      best = a;
      bestD = d;
    }
  }
  return best === undefined ? "" : `; did you mean "${best}"?`;
}

export interface StringRule {
  pattern?: RegExp;
  /** Message when the pattern fails, e.g. "must be a DNS-like name". */
  patternMessage?: string;
}

/** Collects the errors of one document; every check returns the value when valid, else undefined. */
export class DocChecker {
  docName: string | null = null;
  errorCount = 0;

  constructor(
    readonly raw: RawDocument,
    private readonly sink: ConfigError[],
  ) {}

  error(path: Path, message: string): void {
    this.errorCount++;
    const e: ConfigError = {
      file: this.raw.origin.file,
      doc: this.raw.origin.doc,
      docName: this.docName,
      path: formatPath(path),
      message,
    };
    const line = lineOf(this.raw, path);
    if (line !== undefined) e.line = line;
    this.sink.push(e);
  }

  /** A mapping with only `allowed` keys and every `required` key present. */
  mapping(
    v: unknown,
    path: Path,
    allowed: readonly string[],
    required: readonly string[] = [],
  ): Record<string, unknown> | undefined {
    if (!isRecord(v)) {
      this.error(path, `must be a mapping with ${allowed.join(", ")}; got ${typeName(v)}`);
      return undefined;
    }
    for (const key of Object.keys(v)) {
      if (!allowed.includes(key)) {
        this.error(
          [...path, key],
          `unknown field (allowed: ${allowed.join(", ")})${suggestion(key, allowed)}`,
        );
      }
    }
    for (const key of required) {
      if (v[key] === undefined || v[key] === null)
        this.error([...path, key], "required field is missing");
    }
    return v;
  }

  string(v: unknown, path: Path, rule: StringRule = {}): string | undefined {
    if (typeof v !== "string") {
      const hint =
        typeof v === "number" || typeof v === "boolean" ? ` (quote it: "${String(v)}")` : "";
      this.error(path, `must be a string; got ${typeName(v)}${hint}`);
      return undefined;
    }
    if (v === "") {
      this.error(path, "must not be empty");
      return undefined;
    }
    if (rule.pattern && !rule.pattern.test(v)) {
      this.error(
        path,
        `${rule.patternMessage ?? `must match ${rule.pattern}`}; got ${JSON.stringify(v)}`,
      );
      return undefined;
    }
    return v;
  }

  number(v: unknown, path: Path, min: number, max: number, integer = false): number | undefined {
    if (typeof v !== "number" || !Number.isFinite(v)) {
      this.error(path, `must be a number ${min}..${max}; got ${typeName(v)}`);
      return undefined;
    }
    if (integer && !Number.isInteger(v)) {
      this.error(path, `must be a whole number ${min}..${max}; got ${v}`);
      return undefined;
    }
    if (v < min || v > max) {
      this.error(path, `must be between ${min} and ${max}; got ${v}`);
      return undefined;
    }
    return v;
  }

  boolean(v: unknown, path: Path): boolean | undefined {
    if (typeof v !== "boolean") {
      this.error(path, `must be true or false; got ${typeName(v)}`);
      return undefined;
    }
    return v;
  }

  /** A list of valid strings, optionally non-empty and without duplicates. */
  stringList(
    v: unknown,
    path: Path,
    opts: StringRule & { nonEmpty?: boolean; unique?: boolean } = {},
  ): string[] | undefined {
    if (!Array.isArray(v)) {
      this.error(path, `must be a list of strings; got ${typeName(v)}`);
      return undefined;
    }
    if (opts.nonEmpty && v.length === 0) {
      this.error(path, "must not be empty");
      return undefined;
    }
    const out: string[] = [];
    const seen = new Set<string>();
    let bad = false;
    v.forEach((item, i) => {
      const s = this.string(item, [...path, i], opts);
      if (s === undefined) {
        bad = true;
        return;
      }
      if (opts.unique && seen.has(s)) {
        this.error([...path, i], `duplicate entry ${JSON.stringify(s)}`);
        bad = true;
        return;
      }
      seen.add(s);
      out.push(s);
    });
    return bad ? undefined : out;
  }

  /** A mapping of string keys to string values (labels, instance metadata). */
  stringMap(v: unknown, path: Path): Record<string, string> | undefined {
    if (!isRecord(v)) {
      this.error(path, `must be a mapping of strings; got ${typeName(v)}`);
      return undefined;
    }
    const out: Record<string, string> = {};
    let bad = false;
    for (const [k, item] of Object.entries(v)) {
      if (typeof item !== "string") {
        const hint =
          typeof item === "number" || typeof item === "boolean"
            ? ` (quote it: "${String(item)}")`
            : "";
        this.error([...path, k], `must be a string; got ${typeName(item)}${hint}`);
        bad = true;
      } else {
        out[k] = item;
      }
    }
    return bad ? undefined : out;
  }
}
