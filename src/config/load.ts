// INTERFACE STUB (to be implemented): YAML loading and validation of resources; all errors, nothing partial.
import type { Endpoint, Instance, Origin, RuleSet } from "./types.js";

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
  _text: string,
  _file: string,
): { docs: RawDocument[]; errors: ConfigError[] } {
  throw new Error("not implemented");
}

/** Validate a whole batch as one: every rule of DESIGN.md §2, every error reported. */
export function validateResources(_docs: RawDocument[]): Validated {
  throw new Error("not implemented");
}

/** Read, parse and validate files as one batch. */
export function loadFiles(_paths: string[]): Validated {
  throw new Error("not implemented");
}

/** `file: document N (Kind/name): path: message` — the one format every command prints. */
export function formatError(_e: ConfigError): string {
  throw new Error("not implemented");
}

/** An Instance resource as the endpoint pickers read (defaults applied). */
export function toEndpoint(_i: Instance): Endpoint {
  throw new Error("not implemented");
}
