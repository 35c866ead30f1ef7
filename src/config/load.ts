// YAML loading of resources (multi-document files) and the one error format; all errors, nothing partial. Validation rules live in validate.ts.
import { readFileSync } from "node:fs";
import { LineCounter, parseAllDocuments } from "yaml";
import { rememberSource } from "./source.js";
import type { Endpoint, Instance, Origin, RuleSet } from "./types.js";
import { TAG_METADATA_KEYS, validateBatch } from "./validate.js";

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

/** Split YAML text into documents; syntax errors become ConfigErrors. */
export function parseDocuments(
  text: string,
  file: string,
): { docs: RawDocument[]; errors: ConfigError[] } {
  const lines = new LineCounter();
  const docs: RawDocument[] = [];
  const errors: ConfigError[] = [];
  const parsed = parseAllDocuments(text, { lineCounter: lines, prettyErrors: false });
  if ("empty" in parsed) {
    // An EmptyStream: comments only, or nothing at all.
    for (const e of parsed.errors) {
      errors.push({
        file,
        doc: -1,
        docName: null,
        path: "",
        message: e.message,
        line: lines.linePos(e.pos[0]).line || 1,
      });
    }
    return { docs, errors };
  }
  parsed.forEach((doc, i) => {
    if (doc.errors.length > 0) {
      for (const e of doc.errors) {
        const line = lines.linePos(e.pos[0]).line || 1;
        errors.push({
          file,
          doc: i,
          docName: null,
          path: "",
          message: `YAML syntax: ${e.message}`,
          line,
        });
      }
      return;
    }
    let value: unknown;
    try {
      value = doc.toJS({ maxAliasCount: 100 });
    } catch (err) {
      errors.push({
        file,
        doc: i,
        docName: null,
        path: "",
        message: `YAML: ${(err as Error).message}`,
      });
      return;
    }
    const raw: RawDocument = { origin: { file, doc: i }, value };
    rememberSource(raw, doc, lines);
    docs.push(raw);
  });
  return { docs, errors };
}

/** Validate a whole batch as one: every rule of DESIGN.md §2, every error reported. */
export function validateResources(docs: RawDocument[]): Validated {
  return validateBatch(docs);
}

/** Read, parse and validate files as one batch. */
export function loadFiles(paths: string[]): Validated {
  const docs: RawDocument[] = [];
  const errors: ConfigError[] = [];
  for (const file of paths) {
    let text: string;
    try {
      text = readFileSync(file, "utf8");
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      const reason =
        code === "ENOENT"
          ? "no such file"
          : code === "EISDIR"
            ? "is a directory"
            : (err as Error).message;
      errors.push({ file, doc: -1, docName: null, path: "", message: `cannot read: ${reason}` });
      continue;
    }
    const parsed = parseDocuments(text, file);
    docs.push(...parsed.docs);
    errors.push(...parsed.errors);
  }
  const validated = validateBatch(docs);
  if (errors.length === 0) return validated;
  // Read and syntax errors first (per file order), then whatever the readable documents had.
  return { ok: false, errors: validated.ok ? errors : [...errors, ...validated.errors] };
}

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

/** An Instance resource as the endpoint pickers read (defaults applied; tag from spec or metadata). */
export function toEndpoint(i: Instance): Endpoint {
  const metadata = { ...(i.spec.metadata ?? {}) };
  let tag: string | null = i.spec.tag ?? null;
  for (const key of TAG_METADATA_KEYS) {
    if (tag === null && metadata[key] !== undefined && metadata[key] !== "") tag = metadata[key];
  }
  return {
    service: i.spec.service,
    address: i.spec.address,
    port: i.spec.port,
    tag,
    weight: i.spec.weight ?? 100,
    healthy: i.spec.healthy ?? true,
    metadata,
  };
}
