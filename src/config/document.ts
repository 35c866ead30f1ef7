// Parsed resource documents and the one error format every command prints; no parsing or validation here.
import type { Instance, Origin, RuleSet } from "./types.js";

/** One validation error: where it is (file, document index and name, field path) and what is wrong. */
export interface ConfigError {
  file: string;
  /** 0-based document index in the file; -1 when the error is about the file as a whole. */
  doc: number;
  /** `Kind/name` of the document when known, else null. */
  docName: string | null;
  /** Dotted field path, e.g. `spec.match.conditions[0].op`; "" for the whole document. */
  path: string;
  message: string;
  /** 1-based line in the file, when the document was parsed from text by parseDocuments. */
  line?: number;
}

export interface RawDocument {
  origin: Origin;
  value: unknown;
}

export type Validated =
  | { ok: true; rules: RuleSet; instances: Instance[] }
  | { ok: false; errors: ConfigError[] };

/**
 * `FILE: document N (Kind/name): FIELD: MESSAGE (line L)` — the one format every command prints.
 * N is 1-based here (the first document of a file is document 1); ConfigError.doc stays 0-based.
 * Parts that are unknown are left out: `FILE: MESSAGE` for a file that cannot be read.
 */
export function formatError(e: ConfigError): string {
  let out = e.file;
  if (e.doc >= 0) {
    out += `: document ${e.doc + 1}`;
    if (e.docName !== null) out += ` (${e.docName})`;
  }
  if (e.path !== "") out += `: ${e.path}`;
  out += `: ${e.message}`;
  if (e.line !== undefined) out += ` (line ${e.line})`;
  return out;
}
