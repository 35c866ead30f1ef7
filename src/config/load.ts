// YAML loading of resources (multi-document files) into documents; all errors, nothing partial. Validation rules live in validate.ts.
import { readFileSync } from "node:fs";
import { LineCounter, parseAllDocuments } from "yaml";
import type { ConfigError, RawDocument, Validated } from "./document.js";
import { TAG_METADATA_KEYS } from "./lane-tag.js";
import { rememberSource } from "./source.js";
import type { Endpoint, Instance } from "./types.js";
import { type ShapeMemo, validateBatch } from "./validate.js";

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

/**
 * Validate a whole batch as one: every rule of docs/resources.md, every error reported. `memo`:
 * see ShapeMemo (documents checked before are not checked again; the batch rules always run).
 */
export function validateResources(docs: RawDocument[], memo?: ShapeMemo): Validated {
  return validateBatch(docs, memo);
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
